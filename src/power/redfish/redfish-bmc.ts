// Why: the Redfish driver must be tested against a real HTTPS Redfish service, and the lab needs BMCs
// whose power off kills a host. No Debian package ships a Redfish BMC simulator, so this is a small one:
// the service root, the Systems collection, one ComputerSystem with PowerState, and its Reset action
// with AllowableValues, behind Basic auth, running power hooks like ipmi_sim's chassis_control.
// It runs in its own process (redfish-bmc-main.ts), so it can be frozen with SIGSTOP like ipmi_sim.
import { spawn } from "node:child_process";
import { timingSafeEqual } from "node:crypto";
import { existsSync } from "node:fs";
import { appendFile, readFile, writeFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import { join } from "node:path";

/** Every ResetType this BMC knows. */
export const knownResetTypes = [
  "On",
  "ForceOn",
  "ForceOff",
  "GracefulShutdown",
  "GracefulRestart",
  "ForceRestart",
  "PowerCycle",
  "PushPowerButton",
] as const;
export type ResetType = (typeof knownResetTypes)[number];

/** What the BMC process reads from `<dir>/bmc.json`; the password is in `<dir>/password` (mode 0600). */
export interface RedfishBmcConfig {
  address: string;
  /** 0: any free port; the one bound is written to `<dir>/port`. */
  port: number;
  user: string;
  systemId: string;
  /** ResetTypes offered in `ResetType@Redfish.AllowableValues`; others are refused with 400. */
  resetTypes: ResetType[];
  /** Off time of a PowerCycle. */
  cycleOffMs: number;
}

export const systemsPath = "/redfish/v1/Systems";

function isResetType(value: unknown): value is ResetType {
  return (knownResetTypes as readonly unknown[]).includes(value);
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function send(
  res: ServerResponse,
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
): void {
  const text = body === undefined ? "" : JSON.stringify(body);
  res.writeHead(status, {
    ...(body === undefined ? {} : { "Content-Type": "application/json; charset=utf-8" }),
    "OData-Version": "4.0",
    ...headers,
  });
  res.end(text);
}

/** A Redfish error body (DSP0266 "error" object with one extended message). */
function sendError(res: ServerResponse, status: number, messageId: string, message: string): void {
  send(res, status, {
    error: {
      code: `Base.1.8.${messageId}`,
      message,
      "@Message.ExtendedInfo": [
        { MessageId: `Base.1.8.${messageId}`, Message: message, Severity: "Warning" },
      ],
    },
  });
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      if (text.length < 64 * 1024) text += chunk;
    });
    req.on("end", () => {
      try {
        resolve(JSON.parse(text) as unknown);
      } catch {
        resolve(undefined);
      }
    });
    req.on("error", () => resolve(undefined));
  });
}

/** The BMC's power: `<dir>/power` (1/0), hooks `<dir>/on-power-off.sh` / `on-power-on.sh`, log `<dir>/hook.log`. */
class Power {
  readonly #dir: string;
  #on: boolean;
  #queue: Promise<unknown> = Promise.resolve();
  /** A running on hook; the next command waits for it, so a quick off cannot overtake a slow on. */
  #onHook: Promise<void> = Promise.resolve();
  #cycleTimer: NodeJS.Timeout | undefined;

  constructor(dir: string, on: boolean) {
    this.#dir = dir;
    this.#on = on;
  }

  get on(): boolean {
    return this.#on;
  }

  /** Applies one ResetType, after any earlier one finished. */
  apply(type: ResetType, cycleOffMs: number): Promise<void> {
    const run = this.#queue.then(() => this.#apply(type, cycleOffMs));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #apply(type: ResetType, cycleOffMs: number): Promise<void> {
    await this.#onHook;
    await this.#log(`reset ${type}`);
    clearTimeout(this.#cycleTimer); // any later command overrides a pending cycle's power on
    switch (type) {
      case "On":
      case "ForceOn":
        return this.#powerOn();
      case "ForceOff":
      case "GracefulShutdown":
        return this.#powerOff();
      case "PushPowerButton":
        return this.#on ? this.#powerOff() : this.#powerOn();
      case "GracefulRestart":
      case "ForceRestart":
        if (this.#on) {
          await this.#runHook("off");
          this.#onHook = this.#runHook("on");
        }
        return;
      case "PowerCycle":
        await this.#powerOff();
        this.#cycleTimer = setTimeout(() => void this.apply("On", cycleOffMs), cycleOffMs);
        return;
    }
  }

  async #powerOff(): Promise<void> {
    // The hook runs before the state flips: once status says Off, the host is really off.
    await this.#runHook("off");
    this.#on = false;
    await writeFile(join(this.#dir, "power"), "0\n");
  }

  async #powerOn(): Promise<void> {
    if (this.#on) return;
    this.#on = true;
    await writeFile(join(this.#dir, "power"), "1\n");
    this.#onHook = this.#runHook("on");
  }

  /**
   * Runs a hook in its own session (whatever it starts must not die with the BMC) and resolves when it
   * exits. Callers await off hooks before answering; on hooks only before the next command.
   */
  #runHook(which: "off" | "on"): Promise<void> {
    const script = join(this.#dir, which === "off" ? "on-power-off.sh" : "on-power-on.sh");
    const log = join(this.#dir, "hook-commands.log");
    return new Promise((resolve) => {
      if (!existsSync(script)) return resolve();
      const child = spawn("sh", ["-c", 'sh "$0" </dev/null >>"$1" 2>&1', script, log], {
        detached: true,
        stdio: "ignore",
      });
      child.on("error", () => resolve());
      child.on("exit", () => resolve());
      child.unref();
    });
  }

  #log(line: string): Promise<void> {
    return appendFile(join(this.#dir, "hook.log"), `${(Date.now() / 1000).toFixed(3)} ${line}\n`);
  }
}

/** Starts the HTTPS Redfish service of `dir` (config, password, certificate and power state in it). */
export async function startRedfishBmcServer(dir: string): Promise<{ server: Server; port: number }> {
  const config = JSON.parse(await readFile(join(dir, "bmc.json"), "utf8")) as RedfishBmcConfig;
  const password = (await readFile(join(dir, "password"), "utf8")).replace(/\n$/, "");
  const power = new Power(dir, (await readFile(join(dir, "power"), "utf8").catch(() => "1")).trim() !== "0");
  const expectedAuth = `Basic ${Buffer.from(`${config.user}:${password}`).toString("base64")}`;
  const systemPath = `${systemsPath}/${config.systemId}`;
  const resetPath = `${systemPath}/Actions/ComputerSystem.Reset`;

  const resources: Record<string, () => unknown> = {
    "/redfish": () => ({ v1: "/redfish/v1/" }),
    "/redfish/v1": () => ({
      "@odata.id": "/redfish/v1/",
      "@odata.type": "#ServiceRoot.v1_5_0.ServiceRoot",
      Id: "RootService",
      Name: "Vigil lab Redfish BMC",
      RedfishVersion: "1.6.0",
      UUID: "00000000-0000-4000-8000-000000000001",
      Systems: { "@odata.id": systemsPath },
      Links: { Sessions: { "@odata.id": "/redfish/v1/SessionService/Sessions" } },
    }),
    [systemsPath]: () => ({
      "@odata.id": systemsPath,
      "@odata.type": "#ComputerSystemCollection.ComputerSystemCollection",
      Name: "Computer System Collection",
      "Members@odata.count": 1,
      Members: [{ "@odata.id": systemPath }],
    }),
    [systemPath]: () => ({
      "@odata.id": systemPath,
      "@odata.type": "#ComputerSystem.v1_10_0.ComputerSystem",
      Id: config.systemId,
      Name: `Vigil lab host ${config.systemId}`,
      SystemType: "Physical",
      PowerState: power.on ? "On" : "Off",
      Status: { State: "Enabled", Health: "OK" },
      Actions: {
        "#ComputerSystem.Reset": {
          target: resetPath,
          "ResetType@Redfish.AllowableValues": config.resetTypes,
        },
      },
    }),
  };
  // The version document and the service root are readable without credentials (DSP0266 13.3.1).
  const open = new Set(["/redfish", "/redfish/v1"]);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "https://bmc");
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, "") : url.pathname;
    if (!open.has(path) && !sameText(req.headers.authorization ?? "", expectedAuth)) {
      res.setHeader("WWW-Authenticate", 'Basic realm="Vigil lab BMC"');
      return sendError(res, 401, "NoValidSession", "authentication required: wrong user name or password");
    }
    if (path === resetPath) {
      if (req.method !== "POST") return sendError(res, 405, "OperationNotAllowed", "use POST");
      const body = await readJson(req);
      const type =
        typeof body === "object" && body !== null ? (body as { ResetType?: unknown }).ResetType : undefined;
      if (type === undefined)
        return sendError(res, 400, "ActionParameterMissing", "ResetType is missing from the request body");
      if (!isResetType(type) || !config.resetTypes.includes(type))
        return sendError(
          res,
          400,
          "ActionParameterNotSupported",
          `ResetType ${JSON.stringify(type)} is not supported; allowed: ${config.resetTypes.join(", ")}`,
        );
      await power.apply(type, config.cycleOffMs);
      return send(res, 204);
    }
    const resource = resources[path];
    if (resource === undefined) return sendError(res, 404, "ResourceMissingAtURI", `no resource at ${path}`);
    if (req.method !== "GET" && req.method !== "HEAD")
      return sendError(res, 405, "OperationNotAllowed", `${req.method} is not allowed on ${path}`);
    return send(res, 200, resource());
  };

  const server = createServer(
    { key: await readFile(join(dir, "key.pem")), cert: await readFile(join(dir, "cert.pem")) },
    (req, res) => {
      handle(req, res).catch((err: unknown) => sendError(res, 500, "InternalError", String(err)));
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.address, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : config.port;
  await writeFile(join(dir, "port"), `${port}\n`);
  return { server, port };
}
