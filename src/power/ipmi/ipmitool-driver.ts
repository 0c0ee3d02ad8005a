// Why: most KVM hosts have an IPMI BMC and no npm IPMI client is worth depending on, so fencing runs
// the standard `ipmitool` over lanplus. The password goes only into the child's environment
// (IPMI_PASSWORD with `-E`), never into argv, where any user on the host could read it.
import { spawn } from "node:child_process";
import {
  type FenceOptions,
  type PowerChange,
  type PowerCommand,
  PowerError,
  type PowerErrorKind,
  type PowerState,
  ProtocolPowerDriver,
} from "../power.ts";

export interface IpmitoolOptions {
  /** BMC address or host name. */
  address: string;
  /** UDP port of the BMC. Default 623. */
  port?: number;
  user: string;
  /** Read it from a secret store; it is passed to ipmitool only through its environment. */
  password: string;
  /** ipmitool `-R`: retransmissions per request. At least 1 (ipmitool treats 0 as "its default"). Default 1. */
  retries?: number;
  /** ipmitool `-N`: seconds between retransmissions. Default 1. */
  timeoutSec?: number;
  /** Our own deadline per ipmitool run; the process is killed past it. Default derived from retries and timeoutSec. */
  callTimeoutMs?: number;
  /** ipmitool `-C`. Default 3: without it ipmitool asks for cipher suites first, which some BMCs (ipmi_sim) never answer. */
  cipherSuite?: number;
  /** Path of the ipmitool binary. Default `ipmitool` from PATH. */
  ipmitoolPath?: string;
  /** Defaults for `fence()`. */
  fence?: FenceOptions;
}

/** What ipmitool prints on stdout when each command succeeded. */
const expectedOutput: Record<Exclude<PowerCommand, "status">, RegExp> = {
  on: /Chassis Power Control: Up\/On/,
  off: /Chassis Power Control: Down\/Off/,
  cycle: /Chassis Power Control: Cycle/,
  reset: /Chassis Power Control: Reset/,
  soft: /Chassis Power Control: Soft/,
};

const outputLimitBytes = 64 * 1024;

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  spawnError: NodeJS.ErrnoException | null;
}

/** Classifies a failed ipmitool run from its (verbose) stderr. */
function classify(stderr: string): { kind: PowerErrorKind; what: string } {
  if (
    /RAKP 2 HMAC is invalid|RAKP \d message indicates an error|unauthorized name|Unable to read password/i.test(
      stderr,
    )
  ) {
    return {
      kind: "auth",
      what: "authentication failed (wrong user name or password, or the user lacks the privilege)",
    };
  }
  if (/Insufficient privilege|privilege level/i.test(stderr)) {
    return { kind: "auth", what: "the user lacks the privilege for this command" };
  }
  if (/Address lookup for .* failed/i.test(stderr)) {
    return { kind: "unreachable", what: "BMC address does not resolve" };
  }
  if (
    /Get Auth Capabilities error|Error issuing Get Channel Authentication Capabilities|No response|Unable to establish/i.test(
      stderr,
    )
  ) {
    return { kind: "unreachable", what: "BMC does not answer" };
  }
  if (/Unable to (set|get) Chassis Power|failed:/i.test(stderr)) {
    return { kind: "rejected", what: "BMC refused or failed the command" };
  }
  return { kind: "rejected", what: "ipmitool failed" };
}

/** A PowerDriver that runs `ipmitool -I lanplus chassis power <cmd>`, one call at a time per BMC. */
export class IpmitoolDriver extends ProtocolPowerDriver {
  readonly target: string;
  readonly callTimeoutMs: number;
  // An ES private field, so util.inspect and console.log never print it.
  readonly #password: string;
  readonly #args: readonly string[];
  readonly #binary: string;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: IpmitoolOptions) {
    super(options.fence);
    const port = options.port ?? 623;
    const retries = options.retries ?? 1;
    const timeoutSec = options.timeoutSec ?? 1;
    if (options.password.length === 0)
      throw new PowerError("config", "ipmitool driver: the password is empty");
    if (!Number.isInteger(retries) || retries < 1) {
      throw new PowerError("config", `ipmitool driver: retries must be an integer >= 1, got ${retries}`);
    }
    if (!Number.isInteger(timeoutSec) || timeoutSec < 1) {
      throw new PowerError(
        "config",
        `ipmitool driver: timeoutSec must be an integer >= 1, got ${timeoutSec}`,
      );
    }
    this.target = `ipmi ${options.user}@${options.address}:${port}`;
    // Measured on ipmitool 1.8.19 against a silent BMC: it gives up after about
    // timeoutSec * retries * (retries + 1) seconds; allow that plus a margin before killing it.
    this.callTimeoutMs = options.callTimeoutMs ?? timeoutSec * 1000 * retries * (retries + 1) + 1500;
    this.#password = options.password;
    this.#binary = options.ipmitoolPath ?? "ipmitool";
    this.#args = [
      "-I",
      "lanplus",
      "-C",
      String(options.cipherSuite ?? 3),
      "-H",
      options.address,
      "-p",
      String(port),
      "-U",
      options.user,
      "-E",
      "-R",
      String(retries),
      "-N",
      String(timeoutSec),
      "-v",
    ];
  }

  /** The argv given to ipmitool for a command (without the binary); it never holds the password. */
  argsFor(command: PowerCommand): string[] {
    return [...this.#args, "chassis", "power", command];
  }

  async status(): Promise<PowerState> {
    const stdout = await this.#call("status");
    const match = /Chassis Power is (on|off)/.exec(stdout);
    if (match === null) {
      throw new PowerError(
        "protocol",
        `${this.target} power status: unexpected reply ${JSON.stringify(this.#redact(stdout.trim()))}`,
      );
    }
    return match[1] === "on" ? "on" : "off";
  }

  protected async change(command: PowerChange): Promise<void> {
    const stdout = await this.#call(command);
    if (!expectedOutput[command].test(stdout)) {
      throw new PowerError(
        "protocol",
        `${this.target} power ${command}: unexpected reply ${JSON.stringify(this.#redact(stdout.trim()))}`,
      );
    }
  }

  /** Runs one ipmitool command after the previous one finished (BMCs limit concurrent sessions). */
  #call(command: PowerCommand): Promise<string> {
    const run = this.#queue.then(() => this.#runChecked(command));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #runChecked(command: PowerCommand): Promise<string> {
    const result = await this.#run(this.argsFor(command));
    const where = `${this.target} power ${command}`;
    if (result.spawnError !== null) {
      const why =
        result.spawnError.code === "ENOENT" ? "not found (install ipmitool)" : result.spawnError.message;
      throw new PowerError("config", `${where}: cannot run ${this.#binary}: ${this.#redact(why)}`);
    }
    if (result.timedOut) {
      throw new PowerError("timeout", `${where}: no result within ${this.callTimeoutMs} ms, ipmitool killed`);
    }
    if (result.code !== 0) {
      const { kind, what } = classify(result.stderr);
      throw new PowerError(kind, `${where}: ${what}${this.#lastLines(result.stderr)}`);
    }
    return result.stdout;
  }

  /** The last meaningful stderr lines, redacted, as a message suffix. */
  #lastLines(stderr: string): string {
    const lines = stderr
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.length > 0 && !/^Loading IANA PEN Registry/.test(l) && !/^Password:/.test(l));
    if (lines.length === 0) return "";
    return ` (ipmitool: ${this.#redact(lines.slice(-2).join("; "))})`;
  }

  #redact(text: string): string {
    return text.split(this.#password).join("***");
  }

  #run(args: string[]): Promise<RunResult> {
    return new Promise((resolve) => {
      const child = spawn(this.#binary, args, {
        // A new session: ipmitool has no terminal to prompt for a password on, and the whole group can be killed.
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, IPMI_PASSWORD: this.#password },
      });
      let stdout = "";
      let stderr = "";
      let timedOut = false;
      let spawnError: NodeJS.ErrnoException | null = null;
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        if (stdout.length < outputLimitBytes) stdout += chunk;
      });
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
        if (stderr.length < outputLimitBytes) stderr += chunk;
      });
      const timer = setTimeout(() => {
        timedOut = true;
        if (child.pid !== undefined) {
          try {
            process.kill(-child.pid, "SIGKILL");
          } catch {
            child.kill("SIGKILL");
          }
        }
      }, this.callTimeoutMs);
      let settled = false;
      const finish = (code: number | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ code, stdout, stderr, timedOut, spawnError });
      };
      child.on("error", (err: NodeJS.ErrnoException) => {
        spawnError = err;
        if (child.pid === undefined) finish(null); // it never started, so "close" may not follow
      });
      child.on("close", (code) => finish(code));
    });
  }
}
