// The first real driver: a VM is a supervised command in its own process group (so kill takes every
// process of it), with a log file, optional cgroup v2 limits and polled heartbeats. Each VM's pid,
// start time and epoch are recorded in the state dir, so a new driver (an agent restart) adopts it.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  byName,
  type DriverCapabilities,
  type DriverListedVm,
  type DriverVmSpec,
  type HypervisorDriver,
  type MonotonicClock,
  notSupported,
} from "../driver.ts";
import { type CgroupSupport, detectCgroups, inCgroup, prepareVmCgroup, removeVmCgroup } from "./cgroup.ts";
import { HeartbeatProber } from "./heartbeat.ts";
import { bootId, groupMembers, isLive, processAgeMs, readStat, signalGroup, sleep, waitFor } from "./proc.ts";
import { adoptableRecords, logTail, specProblem, type VmRecord, writeRecord } from "./vm-record.ts";

export interface ProcessDriverOptions {
  /** Holds `<vm>.json` (pid, start time, epoch, spec) and `<vm>.log`. Created if missing. */
  stateDir: string;
  clock?: MonotonicClock;
  /** A VM that is still alive this long after spawn runs; one that exits sooner failed. Default 1000. */
  startGraceMs?: number;
  /** How long `stop(vm, "shutdown")` waits after SIGTERM. Default 30000. */
  shutdownWaitMs?: number;
  /** How long `stop(vm, "kill")` waits for the process group to vanish after SIGKILL. Default 5000. */
  killWaitMs?: number;
  /** Period of liveness checks and heartbeat probes. Default 1000. */
  pollIntervalMs?: number;
  /** cgroup v2 mount; null: never use cgroups. Default /sys/fs/cgroup. */
  cgroupRoot?: string | null;
}

export interface ProcessCapabilities extends DriverCapabilities {
  liveMigration: false;
  /** CPU and memory limits are enforced with cgroup v2. */
  cgroups: boolean;
  cgroupsReason: string;
}

interface Entry {
  record: VmRecord;
  state: DriverListedVm["state"];
  startedAtMs: number;
  /** Resolves when the VM runs, rejects when it did not start (also for callers that join it). */
  started: Promise<void>;
  gone: boolean;
  /** Resolves on the exit event of a child we spawned; null for an adopted VM (not our child). */
  exited: Promise<void> | null;
  exitDetail: string;
  guest: HeartbeatProber | null;
  app: HeartbeatProber | null;
}

export class ProcessDriver implements HypervisorDriver {
  private readonly vms = new Map<string, Entry>();
  private readonly clock: MonotonicClock;
  private readonly cgroups: CgroupSupport;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private readonly startGraceMs: number;
  private readonly shutdownWaitMs: number;
  private readonly killWaitMs: number;
  private readonly pollIntervalMs: number;

  constructor(readonly options: ProcessDriverOptions) {
    this.clock = options.clock ?? (() => performance.now());
    this.startGraceMs = options.startGraceMs ?? 1000;
    this.shutdownWaitMs = options.shutdownWaitMs ?? 30_000;
    this.killWaitMs = options.killWaitMs ?? 5000;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    mkdirSync(options.stateDir, { recursive: true, mode: 0o700 });
    this.cgroups = detectCgroups(options.cgroupRoot === undefined ? "/sys/fs/cgroup" : options.cgroupRoot);
    for (const record of adoptableRecords(options.stateDir)) {
      this.track(record, "running", this.clock() - processAgeMs(record.startTicks));
    }
    this.timer = setInterval(() => this.poll(), this.pollIntervalMs);
    this.timer.unref();
  }

  capabilities(): ProcessCapabilities {
    return { liveMigration: false, cgroups: this.cgroups.enabled, cgroupsReason: this.cgroups.reason };
  }

  /** The pid (and process group id) of a VM, or null. */
  pidOf(vm: string): number | null {
    return this.vms.get(vm)?.record.pid ?? null;
  }

  async start(spec: DriverVmSpec, epoch: number): Promise<void> {
    this.assertOpen();
    const problem = specProblem(spec, epoch);
    if (problem !== null) throw new Error(`cannot start ${spec.name}: ${problem}`);
    const existing = this.vms.get(spec.name);
    if (existing !== undefined && this.refresh(existing)) {
      if (existing.record.epoch === epoch && existing.state !== "stopping") return existing.started;
      throw new Error(`${spec.name} is already present (epoch ${existing.record.epoch}, ${existing.state})`);
    }
    const logFile = spec.logFile ?? join(this.options.stateDir, `${spec.name}.log`);
    const cgroup = this.cgroups.enabled
      ? prepareVmCgroup(this.cgroups, spec.name, spec.cpus, spec.memoryMiB)
      : null;
    const argv = cgroup === null ? spec.command : inCgroup(cgroup, spec.command);
    const startedAtWallMs = Date.now();
    writeFileSync(logFile, `--- vigil: start ${spec.name} epoch ${epoch} at ${new Date().toISOString()}\n`, {
      flag: "a",
    });
    const logOffset = statSync(logFile).size;
    const fd = openSync(logFile, "a");
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, argv.slice(1), {
        detached: true, // setsid: the VM is its own session and process group
        stdio: ["ignore", fd, fd],
        env: { ...process.env, ...spec.env },
      });
    } finally {
      closeSync(fd);
    }
    const pid = child.pid;
    if (pid === undefined) {
      const error = await new Promise<Error>((resolve) => child.once("error", resolve));
      if (cgroup !== null) removeVmCgroup(cgroup);
      throw new Error(`${spec.name} did not start: cannot run ${spec.command[0]}: ${error.message}`);
    }
    child.unref();
    const record: VmRecord = {
      version: 1,
      vm: spec.name,
      epoch,
      pid,
      startTicks: readStat(pid)?.startTicks ?? -1,
      bootId: bootId(),
      startedAtWallMs,
      cgroup,
      spec,
    };
    const entry = this.track(record, "starting", this.clock());
    try {
      writeRecord(this.recordPath(record.vm), record);
    } catch (error) {
      // A VM a restarted agent could not find again must not run.
      this.finish(entry);
      throw new Error(`${spec.name} did not start: cannot record it: ${(error as Error).message}`);
    }
    entry.exited = new Promise((resolve) =>
      child.on("exit", (code, signal) => {
        entry.exitDetail = signal !== null ? `killed by ${signal}` : `exit code ${code}`;
        if (!this.closed) this.finish(entry, true);
        resolve();
      }),
    );
    entry.started = this.awaitStart(entry, logFile, logOffset);
    return entry.started;
  }

  private async awaitStart(entry: Entry, logFile: string, logOffset: number): Promise<void> {
    await waitFor(() => entry.gone || !this.leaderAlive(entry), this.startGraceMs, 10);
    if (entry.gone || !this.leaderAlive(entry)) {
      // A zombie not yet reaped: its exit status arrives with the exit event.
      if (entry.exited !== null) await Promise.race([entry.exited, sleep(500)]);
      const why =
        entry.state === "stopping" ? "stopped while starting" : `exited at once (${entry.exitDetail})`;
      const tail = logTail(logFile, logOffset);
      this.finish(entry);
      throw new Error(`${entry.record.vm} did not start: ${why}${tail === "" ? "" : `: ${tail}`}`);
    }
    if (entry.state === "starting") entry.state = "running";
  }

  async stop(vm: string, mode: "kill" | "shutdown"): Promise<void> {
    this.assertOpen();
    const entry = this.vms.get(vm);
    if (entry === undefined || !this.refresh(entry)) return;
    entry.state = "stopping";
    const pgid = entry.record.pid;
    if (mode === "kill") {
      signalGroup(pgid, "SIGKILL");
      const gone = await waitFor(async () => (await groupMembers(pgid)).length === 0, this.killWaitMs);
      if (!gone)
        throw new Error(`${vm}: processes of group ${pgid} survived SIGKILL for ${this.killWaitMs} ms`);
      this.finish(entry);
      return;
    }
    signalGroup(pgid, "SIGTERM");
    const down = await waitFor(() => entry.gone || !this.leaderAlive(entry), this.shutdownWaitMs, 25);
    if (!down) throw new Error(`${vm} did not shut down within ${this.shutdownWaitMs} ms`);
    this.finish(entry);
  }

  async reset(vm: string): Promise<void> {
    this.assertOpen();
    const entry = this.vms.get(vm);
    if (entry === undefined || !this.refresh(entry)) throw new Error(`cannot reset ${vm}: not present`);
    const { spec, epoch } = entry.record;
    await this.stop(vm, "kill");
    await this.start(spec, epoch);
  }

  async list(): Promise<DriverListedVm[]> {
    this.assertOpen();
    const listed: DriverListedVm[] = [];
    for (const entry of [...this.vms.values()]) {
      if (!this.refresh(entry)) continue;
      listed.push({
        vm: entry.record.vm,
        epoch: entry.record.epoch,
        state: entry.state,
        lastGuestHeartbeatMs: entry.guest?.lastMs ?? null,
        lastAppHeartbeatMs: entry.app?.lastMs ?? null,
        startedAtMs: entry.startedAtMs,
      });
    }
    return listed.sort(byName);
  }

  async migrate(_vm: string, _target: string, _epoch: number): Promise<void> {
    throw notSupported("process", "live migration");
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
  }

  // ---- internals ---------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new Error("the process driver is closed");
  }

  private track(record: VmRecord, state: Entry["state"], startedAtMs: number): Entry {
    const spec = record.spec;
    const env = { ...process.env, ...spec.env };
    const prober = (probe: DriverVmSpec["guestHeartbeatProbe"]) =>
      probe === undefined
        ? null
        : new HeartbeatProber(probe, this.clock, {
            // Kernel file times run on a coarse clock, a few ms behind Date.now().
            sinceWallMs: record.startedAtWallMs - 20,
            timeoutMs: Math.max(500, this.pollIntervalMs),
            maxFileAgeMs: 2 * this.pollIntervalMs,
            env,
          });
    const entry: Entry = {
      record,
      state,
      startedAtMs,
      started: Promise.resolve(),
      gone: false,
      exited: null,
      exitDetail: "gone",
      guest: prober(spec.guestHeartbeatProbe),
      app: prober(spec.appHeartbeatProbe),
    };
    this.vms.set(record.vm, entry);
    return entry;
  }

  /** The VM's main process still runs and is the one we started (not a reused pid). */
  private leaderAlive(entry: Entry): boolean {
    const stat = readStat(entry.record.pid);
    return stat !== null && stat.startTicks === entry.record.startTicks && isLive(stat);
  }

  /** False (and forgets the VM) when it is gone. */
  private refresh(entry: Entry): boolean {
    if (!entry.gone && !this.leaderAlive(entry)) this.finish(entry);
    return !entry.gone;
  }

  /**
   * The VM is gone: kill what is left of its group, drop its record and cgroup. Idempotent.
   * `reaped`: called on our child's exit event, so the group id is still ours if the group exists.
   */
  private finish(entry: Entry, reaped = false): void {
    if (entry.gone) return;
    entry.gone = true;
    const { pid, startTicks } = entry.record;
    const stat = readStat(pid);
    // Only while the leader's pid is ours (alive, a zombie, or just reaped by us) does it name our group.
    if (reaped || (stat !== null && stat.startTicks === startTicks)) signalGroup(pid, "SIGKILL");
    if (this.vms.get(entry.record.vm) !== entry) return;
    this.vms.delete(entry.record.vm);
    try {
      unlinkSync(this.recordPath(entry.record.vm));
    } catch {
      // already gone
    }
    if (entry.record.cgroup !== null) removeVmCgroup(entry.record.cgroup);
  }

  private poll(): void {
    for (const entry of [...this.vms.values()]) {
      if (!this.refresh(entry)) continue;
      entry.guest?.poll();
      entry.app?.poll();
    }
  }

  private recordPath(vm: string): string {
    return join(this.options.stateDir, `${vm}.json`);
  }
}
