// What the process driver needs from Linux's /proc: a process's state, group and start time (so a
// recorded pid is known to still be ours after an agent restart), and whether a process group is gone.
import { readdirSync, readFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";

export interface ProcStat {
  pid: number;
  /** R, S, D, Z (zombie), X (dead), T, ... */
  state: string;
  ppid: number;
  pgrp: number;
  /** Start time in clock ticks after boot (field 22): with the boot id, a process's identity. */
  startTicks: number;
}

/** USER_HZ: the unit of /proc start times. 100 on every Linux ABI Node runs on. */
export const userHz = 100;

export function parseStat(text: string): ProcStat | null {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return null;
  // Fields after the command name (which may hold spaces and parentheses) start at field 3.
  const rest = text.slice(close + 2).split(" ");
  const pid = Number(text.slice(0, open).trim());
  const state = rest[0];
  const ppid = Number(rest[1]);
  const pgrp = Number(rest[2]);
  const startTicks = Number(rest[19]);
  if (state === undefined || ![pid, ppid, pgrp, startTicks].every(Number.isFinite)) return null;
  return { pid, state, ppid, pgrp, startTicks };
}

/** The process's stat, or null when there is no such process. */
export function readStat(pid: number): ProcStat | null {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return null;
  }
}

/** A zombie or dead process no longer runs anything; it only waits to be reaped. */
export function isLive(stat: ProcStat): boolean {
  return stat.state !== "Z" && stat.state !== "X" && stat.state !== "x";
}

let cachedBootId: string | null = null;

/** Changes on every boot: a pid recorded before a reboot names nobody. */
export function bootId(): string {
  cachedBootId ??= readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  return cachedBootId;
}

/** Milliseconds since boot, the clock /proc start times count on. */
export function uptimeMs(): number {
  const first = readFileSync("/proc/uptime", "utf8").split(" ")[0];
  return Number(first) * 1000;
}

/** How long ago a process started (10 ms resolution). */
export function processAgeMs(startTicks: number): number {
  return Math.max(0, uptimeMs() - (startTicks * 1000) / userHz);
}

/** Live (non-zombie) members of process group `pgid`. */
export async function groupMembers(pgid: number): Promise<number[]> {
  // Cheap first: no member at all, not even a zombie.
  if (!signalGroup(pgid, 0)) return [];
  const members: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat: ProcStat | null = null;
    try {
      stat = parseStat(await readFile(`/proc/${name}/stat`, "utf8"));
    } catch {
      continue; // exited while we looked
    }
    if (stat !== null && stat.pgrp === pgid && isLive(stat)) members.push(stat.pid);
  }
  return members;
}

/** The same, synchronously (tests and the adoption scan). */
export function groupMembersSync(pgid: number): number[] {
  if (!signalGroup(pgid, 0)) return [];
  const members: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat !== null && stat.pgrp === pgid && isLive(stat)) members.push(stat.pid);
  }
  return members;
}

/** Sends `signal` to every process of group `pgid`; false when the group does not exist. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  // Never -1 (every process we may signal), init, or the group of the driver itself.
  if (!Number.isInteger(pgid) || pgid <= 1 || pgid === process.pid) return false;
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw error;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `done` every `stepMs` until it holds (true) or `timeoutMs` passed (false). */
export async function waitFor(
  done: () => boolean | Promise<boolean>,
  timeoutMs: number,
  stepMs = 20,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await done()) return true;
    if (performance.now() >= deadline) return false;
    await sleep(stepMs);
  }
}
