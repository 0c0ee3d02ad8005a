// Polls one heartbeat probe of a process VM (a file the guest touches, a command, a loopback URL)
// and remembers, on the driver's monotonic clock, when it last succeeded.
import { spawn } from "node:child_process";
import { stat } from "node:fs/promises";
import { request } from "node:http";
import { type HeartbeatProbe, isLoopbackUrl, type MonotonicClock } from "../driver.ts";

export class HeartbeatProber {
  /** Monotonic time of the last success, or null when none was seen. */
  lastMs: number | null = null;
  private inFlight = false;
  private lastMtimeMs = Number.NEGATIVE_INFINITY;

  constructor(
    readonly probe: HeartbeatProbe,
    private readonly clock: MonotonicClock,
    private readonly options: {
      /** The VM's start on the wall clock: an older heartbeat file belongs to an earlier run. */
      sinceWallMs: number;
      /** Limit of a probe command or HTTP request. */
      timeoutMs: number;
      /** A file touch is dated by its age, at most this old (a wall-clock step must not age it more). */
      maxFileAgeMs: number;
      env: NodeJS.ProcessEnv;
    },
  ) {}

  /** Starts one check unless one is still running. Never throws. */
  poll(): void {
    if (this.inFlight) return;
    this.inFlight = true;
    this.check()
      .then((atMs) => {
        if (atMs !== null) this.lastMs = Math.max(this.lastMs ?? Number.NEGATIVE_INFINITY, atMs);
      })
      .catch(() => {})
      .finally(() => {
        this.inFlight = false;
      });
  }

  /** The monotonic time of a new heartbeat, or null. */
  private async check(): Promise<number | null> {
    const probe = this.probe;
    if ("file" in probe) {
      const mtimeMs = (await stat(probe.file)).mtimeMs;
      if (mtimeMs < this.options.sinceWallMs || mtimeMs <= this.lastMtimeMs) return null;
      this.lastMtimeMs = mtimeMs;
      // The touch happened a little before we saw it: date it by the file's age.
      const ageMs = Math.min(Math.max(0, Date.now() - mtimeMs), this.options.maxFileAgeMs);
      return this.clock() - ageMs;
    }
    const { timeoutMs, env } = this.options;
    if ("command" in probe) return (await runProbe(probe.command, timeoutMs, env)) ? this.clock() : null;
    return (await httpOk(probe.url, timeoutMs)) ? this.clock() : null;
  }
}

function runProbe(argv: string[], timeoutMs: number, env: NodeJS.ProcessEnv): Promise<boolean> {
  const [program, ...args] = argv;
  if (program === undefined) return Promise.resolve(false);
  return new Promise((resolve) => {
    const child = spawn(program, args, { stdio: "ignore", env, timeout: timeoutMs, killSignal: "SIGKILL" });
    child.once("error", () => resolve(false));
    child.once("exit", (code) => resolve(code === 0));
  });
}

function httpOk(url: string, timeoutMs: number): Promise<boolean> {
  if (!isLoopbackUrl(url)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const req = request(url, { method: "GET", agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once("timeout", () => req.destroy(new Error("timeout")));
    req.once("error", () => resolve(false));
    req.end();
  });
}

/** Why a probe cannot be used, or null. */
export function probeProblem(probe: HeartbeatProbe): string | null {
  if ("file" in probe) return probe.file === "" ? "an empty heartbeat file name" : null;
  if ("command" in probe) return probe.command.length === 0 ? "an empty heartbeat command" : null;
  return isLoopbackUrl(probe.url) ? null : `heartbeat URL ${probe.url} is not http on a loopback address`;
}
