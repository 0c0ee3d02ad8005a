// Shared pieces of the end-to-end tests: a cluster of real agents on this machine, an independent
// observer that asserts no VM ever runs twice, and waiting with a deadline.
import { readdir, readFile } from "node:fs/promises";

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function waitFor<T>(
  what: string,
  check: () => Promise<T | null | undefined | false>,
  timeoutMs: number,
  pollMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const value = await check();
      if (value !== null && value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last === null ? "" : `: ${String(last)}`}`,
      );
    await sleep(pollMs);
  }
}

/** VM name -> pids, from every process whose environment carries VIGIL_VM and the test's marker. */
export async function runningVms(marker: { key: string; value: string }): Promise<Map<string, number[]>> {
  const vms = new Map<string, number[]>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const environ = await readFile(`/proc/${entry}/environ`, "utf8").catch(() => "");
    if (!environ.includes(`${marker.key}=${marker.value}`)) continue;
    const vm = environ
      .split("\0")
      .find((e) => e.startsWith("VIGIL_VM="))
      ?.slice("VIGIL_VM=".length);
    if (vm === undefined) continue;
    vms.set(vm, [...(vms.get(vm) ?? []), Number(entry)]);
  }
  return vms;
}

/**
 * Polls every 100 ms, independently of Vigil, and records any moment a VM name runs in two places.
 * `where(pid)` tells which host a process belongs to (a namespace, a state directory).
 */
export class DoubleRunObserver {
  readonly violations: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(private readonly poll: () => Promise<Map<string, string[]>>) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      void this.poll()
        .then((placement) => {
          for (const [vm, hosts] of placement) {
            if (new Set(hosts).size > 1)
              this.violations.push(`${new Date().toISOString()} ${vm} runs on ${hosts.join(" and ")}`);
          }
        })
        .finally(() => {
          this.busy = false;
        });
    }, 100);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
  }
}

/**
 * Holds the machine's lab lock (the lab's bridge and addresses are fixed, so one lab at a time; the
 * benchmark and people's shells take the same lock with `flock /tmp/vigil-lab.lock ...`). Resolves
 * once held; call the returned function to release it.
 */
export async function takeLabLock(path = "/tmp/vigil-lab.lock"): Promise<() => void> {
  const { spawn } = await import("node:child_process");
  // One process holds the lock on its own descriptor and lives exactly as long as its stdin: if this
  // test process dies, cat sees end of file, exits, and the lock is free again.
  const holder = spawn("sh", ["-c", `exec 9>>"$0"; flock 9; echo held; exec cat`, path], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    holder.once("error", reject);
    holder.once("exit", (code) => reject(new Error(`flock ${path} exited with ${code}`)));
    holder.stdout.once("data", () => resolve());
  });
  holder.removeAllListeners("exit");
  return () => {
    holder.stdin.end();
    holder.stdout.destroy();
    holder.kill("SIGKILL");
    holder.unref();
  };
}
