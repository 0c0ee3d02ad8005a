// Why: newer BMCs (iDRAC, iLO, XCC, OpenBMC) speak Redfish, often with IPMI over LAN turned off. This
// driver finds the BMC's ComputerSystem, reads its PowerState and posts ComputerSystem.Reset, choosing
// among the ResetTypes the BMC says it allows. The password lives only in a private field and in the
// Authorization header; it is never in argv, a message or a log.
import { setTimeout as sleep } from "node:timers/promises";
import {
  type FenceOptions,
  type PowerChange,
  type PowerCommand,
  PowerError,
  type PowerState,
  ProtocolPowerDriver,
} from "../power.ts";
import {
  HttpFailure,
  type RedfishEndpoint,
  type RedfishReply,
  redfishMessage,
  redfishRequest,
} from "./redfish-http.ts";

export interface RedfishOptions {
  /** BMC address or host name. */
  address: string;
  /** TCP port. Default 443 (https) or 80 (http). */
  port?: number;
  /** Default "https"; "http" only for tests and BMCs behind a TLS-terminating proxy. */
  scheme?: "https" | "http";
  user: string;
  /** Read it from a secret store; it is sent only in the Authorization header. */
  password: string;
  /** The ComputerSystem's Id (`/redfish/v1/Systems/<id>`). Default: the only member of /redfish/v1/Systems. */
  systemId?: string;
  /** Accept any certificate (self-signed lab BMCs). Default false. */
  insecureTls?: boolean;
  /** PEM certificate(s) to trust for this BMC, e.g. its self-signed certificate. */
  ca?: string;
  /** Deadline of one driver call, all HTTP requests and retries included. Default 5000 ms. */
  callTimeoutMs?: number;
  /** Extra attempts of a request that never reached the BMC (connection refused, unreachable). Default 1. */
  retries?: number;
  /** Pause before such a retry. Default 200 ms. */
  retryDelayMs?: number;
  /** For `cycle` without PowerCycle: pause between ForceOff and On. Default 1000 ms. */
  cycleOffMs?: number;
  /** Defaults for `fence()`. */
  fence?: FenceOptions;
}

/** Per command, the ResetTypes that do it, best first; `cycle` falls back to ForceOff then On. */
const resetTypesFor: Record<PowerChange, readonly string[]> = {
  on: ["On", "ForceOn"],
  off: ["ForceOff"],
  cycle: ["PowerCycle"],
  reset: ["ForceRestart"],
  soft: ["GracefulShutdown"],
};

interface ResetAction {
  target: string;
  /** Undefined: the BMC did not say, so every ResetType is tried as if allowed. */
  allowed: readonly string[] | undefined;
}

interface SystemInfo {
  path: string;
  powerState: unknown;
  reset: ResetAction;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function stringList(v: unknown): string[] | undefined {
  return Array.isArray(v) && v.every((s) => typeof s === "string") ? v : undefined;
}

/**
 * Redfish PowerState to ours. Only "Off" is off: a host powering on or off may still run its VMs, and
 * fencing must not count it as off before the BMC does.
 */
function powerStateOf(value: unknown): PowerState | undefined {
  switch (value) {
    case "Off":
      return "off";
    case "On":
    case "PoweringOn":
    case "PoweringOff":
    case "Paused":
      return "on";
    default:
      return undefined;
  }
}

/** A PowerDriver for a Redfish BMC's ComputerSystem, one call at a time per BMC. */
export class RedfishDriver extends ProtocolPowerDriver {
  readonly target: string;
  readonly callTimeoutMs: number;
  readonly #password: string;
  readonly #endpoint: RedfishEndpoint;
  readonly #systemId: string | undefined;
  readonly #retries: number;
  readonly #retryDelayMs: number;
  readonly #cycleOffMs: number;
  #systemPath: string | undefined;
  #reset: ResetAction | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: RedfishOptions) {
    super(options.fence);
    const scheme = options.scheme ?? "https";
    const port = options.port ?? (scheme === "https" ? 443 : 80);
    const retries = options.retries ?? 1;
    const callTimeoutMs = options.callTimeoutMs ?? 5000;
    if (scheme !== "https" && scheme !== "http")
      throw new PowerError("config", `redfish driver: scheme must be https or http, got ${String(scheme)}`);
    if (options.password.length === 0)
      throw new PowerError("config", "redfish driver: the password is empty");
    if (options.user.includes(":"))
      throw new PowerError("config", "redfish driver: user must not contain ':' (Basic auth)");
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new PowerError("config", `redfish driver: port must be 1-65535, got ${port}`);
    if (!Number.isInteger(retries) || retries < 0)
      throw new PowerError("config", `redfish driver: retries must be an integer >= 0, got ${retries}`);
    if (!(callTimeoutMs > 0))
      throw new PowerError("config", `redfish driver: callTimeoutMs must be > 0, got ${callTimeoutMs}`);
    if (options.systemId !== undefined && !/^[A-Za-z0-9._~-]+$/.test(options.systemId))
      throw new PowerError(
        "config",
        `redfish driver: systemId ${JSON.stringify(options.systemId)} is not a plain id`,
      );
    const host = options.address.includes(":") ? `[${options.address}]` : options.address;
    this.target = `redfish ${options.user}@${host}:${port}${options.systemId === undefined ? "" : ` system ${options.systemId}`}`;
    this.callTimeoutMs = callTimeoutMs;
    this.#password = options.password;
    this.#endpoint = {
      scheme,
      address: options.address,
      port,
      insecureTls: options.insecureTls === true,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      authorization: `Basic ${Buffer.from(`${options.user}:${options.password}`).toString("base64")}`,
    };
    this.#systemId = options.systemId;
    this.#retries = retries;
    this.#retryDelayMs = options.retryDelayMs ?? 200;
    this.#cycleOffMs = options.cycleOffMs ?? 1000;
  }

  status(): Promise<PowerState> {
    return this.#serial(async (deadline) => {
      const system = await this.#system("status", deadline);
      const state = powerStateOf(system.powerState);
      if (state === undefined)
        throw this.#error("protocol", "status", `unexpected PowerState ${JSON.stringify(system.powerState)}`);
      return state;
    });
  }

  protected change(command: PowerChange): Promise<void> {
    return this.#serial(async (deadline) => {
      const reset = this.#reset ?? (await this.#system(command, deadline)).reset;
      const wanted = resetTypesFor[command];
      const resetType = wanted.find((t) => reset.allowed === undefined || reset.allowed.includes(t));
      if (resetType !== undefined) return this.#post(command, reset.target, resetType, deadline);
      const canOff = reset.allowed?.includes("ForceOff") === true;
      const onType = resetTypesFor.on.find((t) => reset.allowed?.includes(t));
      if (command === "cycle" && canOff && onType !== undefined) {
        await this.#post(command, reset.target, "ForceOff", deadline);
        await sleep(Math.min(this.#cycleOffMs, Math.max(0, deadline - performance.now() - 500)));
        return this.#post(command, reset.target, onType, deadline);
      }
      throw this.#error(
        "rejected",
        command,
        `the BMC allows no ResetType for it (wanted ${wanted.join(" or ")}; allowed: ${reset.allowed?.join(", ") || "none"})`,
      );
    });
  }

  async #post(command: PowerChange, target: string, resetType: string, deadline: number): Promise<void> {
    const reply = await this.#request(command, "POST", target, { ResetType: resetType }, deadline);
    this.#check(command, reply, `POST ${target} ResetType ${resetType}`);
  }

  /** The ComputerSystem resource (found once, then remembered), with its power state and reset action. */
  async #system(command: PowerCommand, deadline: number): Promise<SystemInfo> {
    if (this.#systemPath === undefined) {
      if (this.#systemId !== undefined) {
        this.#systemPath = `/redfish/v1/Systems/${this.#systemId}`;
      } else {
        const reply = await this.#request(command, "GET", "/redfish/v1/Systems", undefined, deadline);
        this.#check(command, reply, "GET /redfish/v1/Systems");
        this.#systemPath = this.#onlyMember(command, reply.body);
      }
    }
    const path = this.#systemPath;
    const reply = await this.#request(command, "GET", path, undefined, deadline);
    if (reply.statusCode === 404 && this.#systemId === undefined) this.#systemPath = undefined; // renumbered
    this.#check(command, reply, `GET ${path}`);
    if (!isObject(reply.body)) throw this.#error("protocol", command, `GET ${path}: not a JSON object`);
    const actions = reply.body.Actions;
    const action = isObject(actions) ? actions["#ComputerSystem.Reset"] : undefined;
    let reset: ResetAction = { target: `${path}/Actions/ComputerSystem.Reset`, allowed: undefined };
    if (isObject(action)) {
      const target = typeof action.target === "string" ? action.target : reset.target;
      let allowed = stringList(action["ResetType@Redfish.AllowableValues"]);
      if (allowed === undefined && typeof action["@Redfish.ActionInfo"] === "string")
        allowed = await this.#actionInfo(command, action["@Redfish.ActionInfo"], deadline);
      reset = { target, allowed };
    }
    this.#reset = reset;
    return { path, powerState: reply.body.PowerState, reset };
  }

  /** AllowableValues of ResetType from an ActionInfo resource; undefined when it does not say. */
  async #actionInfo(command: PowerCommand, path: string, deadline: number): Promise<string[] | undefined> {
    const reply = await this.#request(command, "GET", path, undefined, deadline);
    if (reply.statusCode >= 300 || !isObject(reply.body) || !Array.isArray(reply.body.Parameters))
      return undefined;
    const param = (reply.body.Parameters as unknown[]).find((p) => isObject(p) && p.Name === "ResetType");
    return isObject(param) ? stringList(param.AllowableValues) : undefined;
  }

  #onlyMember(command: PowerCommand, body: unknown): string {
    const members = isObject(body) && Array.isArray(body.Members) ? body.Members : undefined;
    if (members === undefined)
      throw this.#error("protocol", command, "GET /redfish/v1/Systems: no Members array");
    const paths = members.map((m) =>
      isObject(m) && typeof m["@odata.id"] === "string" ? m["@odata.id"] : "",
    );
    if (paths.length === 0 || paths.some((p) => p === ""))
      throw this.#error("protocol", command, "GET /redfish/v1/Systems: no usable member links");
    if (paths.length > 1)
      throw this.#error(
        "config",
        command,
        `the BMC has ${paths.length} systems (${paths.join(", ")}); set systemId to choose one`,
      );
    return paths[0]!;
  }

  /** Maps an HTTP status to a PowerError; 2xx passes. */
  #check(command: PowerCommand, reply: RedfishReply, what: string): void {
    const code = reply.statusCode;
    if (code >= 200 && code < 300) return;
    const said = redfishMessage(reply.body);
    const suffix = said === undefined ? "" : `: ${said}`;
    if (code === 401 || code === 403)
      throw this.#error(
        "auth",
        command,
        `authentication failed (HTTP ${code}: wrong user name or password, or the user lacks the privilege)${suffix}`,
      );
    if (code >= 300 && code < 400)
      throw this.#error("protocol", command, `${what}: unexpected redirect (HTTP ${code})`);
    throw this.#error("rejected", command, `${what}: HTTP ${code}${suffix}`);
  }

  /** One request, retried while it certainly never reached the BMC, within the call's deadline. */
  async #request(
    command: PowerCommand,
    method: "GET" | "POST",
    path: string,
    json: unknown,
    deadline: number,
  ): Promise<RedfishReply> {
    for (let attempt = 0; ; attempt++) {
      const leftMs = Math.round(deadline - performance.now());
      if (leftMs <= 0) throw this.#error("timeout", command, `no result within ${this.callTimeoutMs} ms`);
      try {
        return await redfishRequest(this.#endpoint, method, path, json, leftMs);
      } catch (err) {
        if (!(err instanceof HttpFailure)) throw err;
        const retry = err.notDelivered && err.kind === "unreachable" && attempt < this.#retries;
        if (!retry || deadline - performance.now() < this.#retryDelayMs) {
          const what =
            err.kind === "timeout"
              ? `no result within ${this.callTimeoutMs} ms (${method} ${path})`
              : err.message;
          throw this.#error(err.kind, command, what);
        }
        await sleep(this.#retryDelayMs);
      }
    }
  }

  /** Runs one call after the previous one finished (BMCs limit concurrent sessions). */
  #serial<T>(call: (deadline: number) => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => call(performance.now() + this.callTimeoutMs));
    this.#queue = run.catch(() => {});
    return run;
  }

  #error(kind: PowerError["kind"], command: PowerCommand, what: string): PowerError {
    return new PowerError(kind, `${this.target} power ${command}: ${this.#redact(what)}`);
  }

  #redact(text: string): string {
    return text.split(this.#password).join("***");
  }
}
