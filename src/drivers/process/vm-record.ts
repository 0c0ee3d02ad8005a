// The process driver's files: the per-VM record in the state dir that lets a restarted agent adopt
// its VMs, the checks of a spec before it runs, and the tail of a VM's log that explains a failed start.
import {
  closeSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import type { DriverVmSpec } from "../driver.ts";
import { vmNamePattern } from "../driver.ts";
import { removeVmCgroup } from "./cgroup.ts";
import { probeProblem } from "./heartbeat.ts";
import { bootId, isLive, readStat } from "./proc.ts";

/** `<stateDir>/<vm>.json`. */
export interface VmRecord {
  version: 1;
  vm: string;
  epoch: number;
  pid: number;
  /** /proc start time of pid: with bootId, proves a later process with the same pid is not ours. */
  startTicks: number;
  bootId: string;
  startedAtWallMs: number;
  cgroup: string | null;
  spec: DriverVmSpec;
}

export function writeRecord(path: string, record: VmRecord): void {
  // The spec may carry secrets in env: readable by the agent only.
  writeFileSync(`${path}.tmp`, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

export function readRecord(path: string): VmRecord | null {
  try {
    const record = JSON.parse(readFileSync(path, "utf8")) as VmRecord;
    const valid =
      record.version === 1 &&
      typeof record.vm === "string" &&
      Number.isInteger(record.pid) &&
      Number.isInteger(record.epoch) &&
      Array.isArray(record.spec?.command);
    return valid ? record : null;
  } catch {
    return null;
  }
}

/**
 * The records in `stateDir` of VMs that still run: same boot, same pid with the same start time,
 * still leading its process group. Deletes the others (and their empty cgroups).
 */
export function adoptableRecords(stateDir: string): VmRecord[] {
  const records: VmRecord[] = [];
  for (const name of readdirSync(stateDir)) {
    if (!name.endsWith(".json")) continue;
    const path = join(stateDir, name);
    const record = readRecord(path);
    const stat = record === null ? null : readStat(record.pid);
    const ours =
      record !== null &&
      `${record.vm}.json` === name &&
      record.bootId === bootId() &&
      stat !== null &&
      stat.startTicks === record.startTicks &&
      stat.pgrp === record.pid &&
      isLive(stat);
    if (ours) {
      records.push(record);
      continue;
    }
    if (record?.cgroup) removeVmCgroup(record.cgroup);
    unlinkSync(path);
  }
  return records;
}

export function specProblem(spec: DriverVmSpec, epoch: number): string | null {
  if (!vmNamePattern.test(spec.name)) return `the name must match ${vmNamePattern}`;
  if (!Number.isInteger(epoch) || epoch < 0) return `epoch ${epoch} is not a non-negative integer`;
  if (spec.command.length === 0 || spec.command[0] === "") return "an empty command";
  for (const probe of [spec.guestHeartbeatProbe, spec.appHeartbeatProbe]) {
    const problem = probe === undefined ? null : probeProblem(probe);
    if (problem !== null) return problem;
  }
  return null;
}

/** The last lines the VM wrote after `offset` (why it exited), at most 300 characters. */
export function logTail(logFile: string, offset: number): string {
  try {
    const fd = openSync(logFile, "r");
    try {
      const buffer = Buffer.alloc(4096);
      const size = statSync(logFile).size;
      const from = Math.max(offset, size - buffer.length);
      const read = readSync(fd, buffer, 0, buffer.length, from);
      return buffer.subarray(0, read).toString("utf8").trim().split("\n").slice(-3).join(" | ").slice(-300);
    } finally {
      closeSync(fd);
    }
  } catch {
    return "";
  }
}
