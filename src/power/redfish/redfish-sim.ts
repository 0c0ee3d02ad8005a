// Why: tests and the lab need a Redfish BMC running as a separate process, like ipmi_sim: this writes
// its state directory (config, password file, a self-signed certificate made with openssl, power
// hooks), starts redfish-bmc-main.ts, waits until it answers, and hands out drivers for it.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { PowerState } from "../power.ts";
import { knownResetTypes, type RedfishBmcConfig, type ResetType } from "./redfish-bmc.ts";
import { RedfishDriver, type RedfishOptions } from "./redfish-driver.ts";

const execFileP = promisify(execFile);
const mainPath = fileURLToPath(new URL("./redfish-bmc-main.ts", import.meta.url));

export interface RedfishSimOptions {
  /** Address to bind. Default 127.0.0.1. */
  address?: string;
  /** TCP port. Default 0: any free port (see `port` after `start()`). */
  port?: number;
  /** Default "admin". */
  user?: string;
  /** Default: random. */
  password?: string;
  /** Default "1". */
  systemId?: string;
  /** Power state at start. Default "on". */
  power?: PowerState;
  /** ResetTypes the BMC allows (and lists in AllowableValues). Default all it knows. */
  resetTypes?: ResetType[];
  /** Off time of PowerCycle. Default 1000 ms. */
  cycleOffMs?: number;
  /** Shell command run to completion on every power off (before status says Off) and reset. */
  onPowerOff?: string;
  /** Shell command run detached on every off->on transition and after a reset. */
  onPowerOn?: string;
  /** State directory; default a new temp dir, deleted by `stop()`. A given directory is kept. */
  dir?: string;
  /** How long `start()` waits for the BMC to answer. Default 10000 ms. */
  startTimeoutMs?: number;
  /** Keep the BMC running after this Node process exits (the lab); stop it by killing the group `pid`. */
  keepAfterExit?: boolean;
}

/** A TCP port nothing listens on right now (connecting to it is refused), e.g. for a BMC that is down. */
export async function freeTcpPort(address = "127.0.0.1"): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, address, resolve);
  });
  const bound = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof bound !== "object" || bound === null) throw new Error(`no free TCP port on ${address}`);
  return bound.port;
}

/** True when `openssl` is on PATH (the BMC's certificate is made with it). */
export async function opensslInstalled(): Promise<boolean> {
  return execFileP("openssl", ["version"]).then(
    () => true,
    () => false,
  );
}

/** Makes a self-signed certificate for `address` in `dir` (key.pem, cert.pem) unless one is there. */
export async function ensureCertificate(dir: string, address: string): Promise<void> {
  if (existsSync(join(dir, "cert.pem")) && existsSync(join(dir, "key.pem"))) return;
  const san = /^[\d.]+$|:/.test(address) ? `IP:${address}` : `DNS:${address}`;
  await execFileP("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    join(dir, "key.pem"),
    "-out",
    join(dir, "cert.pem"),
    "-days",
    "3650",
    "-subj",
    "/CN=vigil-lab-bmc",
    "-addext",
    `subjectAltName=${san}`,
  ]);
}

/** A Redfish BMC in its own process. Usage: `const bmc = new RedfishSim(opts); await bmc.start()`. */
export class RedfishSim {
  readonly address: string;
  readonly user: string;
  readonly password: string;
  readonly systemId: string;
  readonly #options: RedfishSimOptions;
  #dir: string | undefined;
  readonly #ownsDir: boolean;
  #port: number | undefined;
  #child: ChildProcess | undefined;

  constructor(options: RedfishSimOptions = {}) {
    this.#options = options;
    this.address = options.address ?? "127.0.0.1";
    this.user = options.user ?? "admin";
    this.password = options.password ?? randomBytes(9).toString("base64url");
    this.systemId = options.systemId ?? "1";
    this.#dir = options.dir;
    this.#ownsDir = options.dir === undefined;
    if (options.password !== undefined && /[\n\r]/.test(options.password))
      throw new Error("RedfishSim: password must not contain line breaks");
  }

  get dir(): string {
    if (this.#dir === undefined) throw new Error("RedfishSim: not started");
    return this.#dir;
  }

  get port(): number {
    if (this.#port === undefined) throw new Error("RedfishSim: not started");
    return this.#port;
  }

  /** The BMC process's pid (also its process group: it runs in its own session). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The BMC's self-signed certificate (PEM), for a driver that verifies it. */
  certificate(): Promise<string> {
    return readFile(join(this.dir, "cert.pem"), "utf8");
  }

  /** A driver for this BMC; by default it trusts the BMC's own certificate only. */
  driver(overrides: Partial<RedfishOptions> = {}): RedfishDriver {
    return new RedfishDriver({
      address: this.address,
      port: this.port,
      user: this.user,
      password: this.password,
      insecureTls: true,
      callTimeoutMs: 3000,
      ...overrides,
    });
  }

  /** The power state the BMC records. */
  async powerState(): Promise<PowerState> {
    return (await readFile(join(this.dir, "power"), "utf8")).trim() === "0" ? "off" : "on";
  }

  /** The ResetTypes the BMC applied, oldest first (`<seconds> reset <type>` lines). */
  async hookLog(): Promise<string[]> {
    const text = await readFile(join(this.dir, "hook.log"), "utf8").catch(() => "");
    return text.split("\n").filter((l) => l.length > 0);
  }

  async start(): Promise<void> {
    if (this.#child !== undefined) throw new Error("RedfishSim: already started");
    if (this.#dir === undefined) this.#dir = await mkdtemp(join(tmpdir(), "vigil-redfish-"));
    const dir = this.#dir;
    const o = this.#options;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const config: RedfishBmcConfig = {
      address: this.address,
      port: o.port ?? 0,
      user: this.user,
      systemId: this.systemId,
      resetTypes: o.resetTypes ?? [...knownResetTypes],
      cycleOffMs: o.cycleOffMs ?? 1000,
    };
    await writeFile(join(dir, "bmc.json"), `${JSON.stringify(config, null, 2)}\n`);
    await writeFile(join(dir, "password"), `${this.password}\n`, { mode: 0o600 });
    await writeFile(join(dir, "power"), o.power === "off" ? "0\n" : "1\n");
    if (o.onPowerOff !== undefined) await writeFile(join(dir, "on-power-off.sh"), `${o.onPowerOff}\n`);
    if (o.onPowerOn !== undefined) await writeFile(join(dir, "on-power-on.sh"), `${o.onPowerOn}\n`);
    await ensureCertificate(dir, this.address);
    await rm(join(dir, "port"), { force: true });
    await this.#launch(performance.now() + (o.startTimeoutMs ?? 10_000));
  }

  async #launch(deadline: number): Promise<void> {
    const dir = this.dir;
    const keep = this.#options.keepAfterExit === true;
    const log = openSync(join(dir, "bmc.log"), "a");
    const tsx = import.meta.resolve("tsx/esm");
    const child = spawn(
      process.execPath,
      ["--import", tsx, mainPath, dir, ...(keep ? [] : ["--die-with-stdin"])],
      { cwd: dir, detached: true, stdio: [keep ? "ignore" : "pipe", log, log] },
    );
    closeSync(log);
    child.stdin?.on("error", () => {});
    (child.stdin as Socket | null)?.unref();
    child.on("error", () => {});
    child.unref();
    this.#child = child;
    if (keep && child.pid !== undefined) await writeFile(join(dir, "bmc.pid"), `${child.pid}\n`);
    const exited = () => child.exitCode !== null || child.signalCode !== null;
    let lastError = "did not write its port";
    while (!exited() && performance.now() < deadline) {
      const port = Number((await readFile(join(dir, "port"), "utf8").catch(() => "")).trim());
      if (port > 0) {
        this.#port = port;
        try {
          await this.driver({ callTimeoutMs: 1000, retries: 0 }).status();
          return;
        } catch (err) {
          lastError = err instanceof Error ? err.message : String(err);
        }
      }
      await sleep(50);
    }
    const output = await readFile(join(dir, "bmc.log"), "utf8").catch(() => "");
    await this.stop();
    throw new Error(
      `RedfishSim: the BMC on ${this.address} ${exited() ? "exited at start" : `did not answer in time (${lastError})`}; ` +
        `its output: ${output.trim() || "(none)"}`,
    );
  }

  /** Kills the BMC process and deletes the state dir it created. Safe to call twice. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child?.pid !== undefined) {
      const gone = () => child.exitCode !== null || child.signalCode !== null;
      child.stdin?.destroy();
      for (const signal of ["SIGCONT", "SIGKILL"] as const) {
        try {
          process.kill(-child.pid, signal);
        } catch {
          // already gone
        }
      }
      for (let i = 0; i < 200 && !gone(); i++) await sleep(10);
    }
    if (this.#ownsDir && this.#dir !== undefined) {
      await rm(this.#dir, { recursive: true, force: true });
      this.#dir = undefined;
    }
  }
}
