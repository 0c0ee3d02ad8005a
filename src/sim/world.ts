// The simulated environment: the same engines the agent runs, driven in simulated time over a
// simulated network, shared storage, clocks, hypervisors and BMCs. Everything random comes from one
// seeded Rng, so one seed reproduces a run exactly.
import { agentStep, initAgent } from "../core/agent.ts";
import type { AgentOptions, AgentState } from "../core/agent-state.ts";
import type { ClusterSpec, HostSpec, VmSpec } from "../core/cluster.ts";
import type { EngineEvent } from "../core/events.ts";
import type { AgentEffect, AgentInput, KeeperEffect, KeeperInput, ListedVm, VmRecords } from "../core/io.ts";
import { initKeeper, type KeeperState, keeperStep } from "../core/keeper.ts";
import type {
  HostHeartbeatRecord,
  LeaseRecord,
  MasterLeaseRecord,
  Message,
  PoweredOffRecord,
} from "../core/records.ts";
import { hostListing } from "./listing.ts";
import { EventQueue } from "./queue.ts";
import { Rng } from "./rng.ts";
import type { SimSettings } from "./scenario-types.ts";

export interface SimHost {
  spec: HostSpec;
  powered: boolean;
  /** Bumped by every power change, so a reboot after a watchdog reset does not undo a later one. */
  powerGeneration: number;
  agent: AgentState | null;
  keeper: KeeperState | null;
  /** Bumped when the agent or keeper process is replaced, so their old timers die. */
  agentGeneration: number;
  keeperGeneration: number;
  incarnation: number;
  clockRate: number;
  clockOffsetMs: number;
  pausedUntilMs: number;
  deferred: (() => void)[];
  isolated: boolean;
  group: number;
  storageLost: Set<string>;
  /** Extra storage latency until stallUntilMs (a stalled NFS server, a slow path). */
  stallUntilMs: number;
  bmcFailed: boolean;
  startFailures: number;
  watchdogDeadlineMs: number;
  /** The copies here sorted by VM name, as listings show them; null once the copies here change. */
  sortedCopies: SimVm[] | null;
  /** The last listing and the sorted copies it was made from. */
  listing: { copies: SimVm[]; listed: ListedVm[] } | null;
}

export interface SimVm {
  vm: string;
  spec: VmSpec;
  host: string;
  epoch: number;
  state: "starting" | "running" | "stopping";
  startedAtMs: number;
  guestHung: boolean;
  /** When the guest stopped sending heartbeats. */
  hungAtMs: number;
  /** Bumped on every state change so pending completions of an older state are ignored. */
  generation: number;
}

export interface SimDatastore {
  heartbeats: Map<string, HostHeartbeatRecord>;
  masterLease: MasterLeaseRecord | null;
  leases: Map<string, Map<number, LeaseRecord>>;
  /** poweredoff/<vm>.<epoch>: one record per epoch, so a late writer of an old epoch clobbers nothing. */
  poweredOff: Map<string, Map<number, PoweredOffRecord>>;
  /** Paths whose content is corrupt (tests of bad records). */
  corrupt: Set<string>;
  /** The last VM records read per VM, handed out again while the lease and poweredoff records are the same. */
  recordCache: Map<string, VmRecords>;
}

export interface TimelineEntry {
  atMs: number;
  host: string;
  /** An engine event, or a simulator action such as "crash". */
  type: string;
  event: EngineEvent | null;
  text: string;
}

export interface WorldObserver {
  onEvent?(entry: TimelineEntry): void;
  onLeaseCreated?(record: LeaseRecord, atMs: number): void;
  onVmCopyStarted?(vm: SimVm, atMs: number): void;
}

const killDelayMs = 100;
const pingTimeoutMs = 1000;
/** How long a host reset by its watchdog takes to boot again. */
const watchdogRebootMs = 20_000;

export class World {
  readonly queue = new EventQueue();
  readonly rng: Rng;
  nowMs = 0;
  readonly hosts = new Map<string, SimHost>();
  readonly copies = new Map<string, SimVm[]>();
  private readonly byHost = new Map<string, Set<SimVm>>();
  readonly datastores = new Map<string, SimDatastore>();
  readonly timeline: TimelineEntry[] = [];
  readonly observers: WorldObserver[] = [];
  spec: ClusterSpec;
  /** When false, only safety-relevant timeline entries are kept (fuzzing, benchmarks). */
  recordTimeline = true;
  eventsSeen = 0;

  constructor(
    spec: ClusterSpec,
    readonly sim: SimSettings,
    seed: number,
    readonly agentOptions: AgentOptions = {},
  ) {
    this.spec = spec;
    this.rng = new Rng(seed);
    for (const ds of spec.datastores) {
      this.datastores.set(ds, {
        heartbeats: new Map(),
        masterLease: null,
        leases: new Map(),
        poweredOff: new Map(),
        corrupt: new Set(),
        recordCache: new Map(),
      });
    }
    for (const host of spec.hosts) this.addHost(host, false);
  }

  addHost(spec: HostSpec, announce: boolean): void {
    const drift = this.sim.clockDrift[spec.name] ?? 0;
    const host: SimHost = {
      spec,
      powered: false,
      powerGeneration: 0,
      agent: null,
      keeper: null,
      agentGeneration: 0,
      keeperGeneration: 0,
      incarnation: 0,
      clockRate: 1 + drift,
      clockOffsetMs: this.rng.int(0, 1_000_000),
      pausedUntilMs: 0,
      deferred: [],
      isolated: false,
      group: 0,
      storageLost: new Set(),
      stallUntilMs: 0,
      bmcFailed: false,
      startFailures: 0,
      watchdogDeadlineMs: Number.POSITIVE_INFINITY,
      sortedCopies: null,
      listing: null,
    };
    this.hosts.set(spec.name, host);
    if (announce) {
      this.spec = { ...this.spec, hosts: [...this.spec.hosts, spec] };
      for (const other of this.hosts.values()) {
        if (other.agent !== null && other !== host)
          this.toAgent(other, { type: "configChanged", cluster: this.spec });
      }
    }
  }

  localMs(host: SimHost): number {
    return host.clockOffsetMs + this.nowMs * host.clockRate;
  }

  /** Simulated time at which `host`'s clock reads `localMs`. */
  simTimeOf(host: SimHost, localMs: number): number {
    return (localMs - host.clockOffsetMs) / host.clockRate;
  }

  at(delayMs: number, run: () => void): void {
    this.queue.push(this.nowMs + Math.max(0, delayMs), run);
  }

  /** An engine event (agent or keeper) into the timeline. */
  recordEvent(event: EngineEvent): void {
    this.record(event.host, event.type, describe(event), event);
  }

  record(host: string, type: string, text: string, event: EngineEvent | null = null): void {
    const entry: TimelineEntry = { atMs: this.nowMs, host, type, event, text };
    if (this.recordTimeline || event === null || isSafetyEvent(event)) this.timeline.push(entry);
    for (const o of this.observers) o.onEvent?.(entry);
  }

  // ---- processes ---------------------------------------------------------------------------

  powerOnHost(name: string, steadyState = false): void {
    const host = this.hosts.get(name)!;
    if (host.powered) return;
    host.powerGeneration += 1;
    host.powered = true;
    host.incarnation += 1;
    this.startKeeper(host, steadyState);
    this.startAgent(host);
  }

  /** `steadyState`: the cluster was already running (time 0 of a scenario), so the last renewal was just now. */
  startKeeper(host: SimHost, steadyState = false): void {
    host.keeperGeneration += 1;
    const now = this.localMs(host);
    host.keeper = initKeeper(
      host.spec.name,
      host.incarnation * 1000 + host.keeperGeneration,
      host.spec.datastores,
      this.spec.timing,
      now,
      steadyState ? now : null,
    );
    const generation = host.keeperGeneration;
    const period = this.spec.timing.renewPeriodMs / host.clockRate;
    const tick = () => {
      if (host.keeperGeneration !== generation || host.keeper === null) return;
      this.toKeeper(host, { type: "tick", nowMs: this.localMs(host) });
      this.at(period, tick);
    };
    this.at(this.rng.int(0, Math.floor(period)), tick);
  }

  startAgent(host: SimHost): void {
    host.agentGeneration += 1;
    host.agent = initAgent(host.spec.name, this.spec, this.localMs(host), this.agentOptions);
    const generation = host.agentGeneration;
    const period = this.spec.timing.heartbeatIntervalMs / host.clockRate;
    const tick = () => {
      if (host.agentGeneration !== generation || host.agent === null) return;
      this.toAgent(host, { type: "tick", nowMs: this.localMs(host) });
      this.at(period, tick);
    };
    this.at(this.rng.int(0, Math.floor(period)), tick);
  }

  killAgent(host: SimHost): void {
    host.agent = null;
    host.agentGeneration += 1;
  }

  powerOffHost(host: SimHost, why: string): void {
    host.powerGeneration += 1;
    if (!host.powered) return;
    host.powered = false;
    this.killAgent(host);
    host.keeper = null;
    host.keeperGeneration += 1;
    host.watchdogDeadlineMs = Number.POSITIVE_INFINITY;
    host.deferred = [];
    host.pausedUntilMs = 0;
    for (const vm of this.copiesOn(host.spec.name)) this.removeCopy(vm, why);
  }

  toAgent(host: SimHost, input: AgentInput): void {
    if (host.agent === null || !host.powered) return;
    if (this.nowMs < host.pausedUntilMs) {
      const generation = host.agentGeneration;
      // A deferred tick reads the clock when it finally runs: the process slept through the pause.
      host.deferred.push(
        () => host.agentGeneration === generation && this.toAgent(host, this.retick(host, input)),
      );
      return;
    }
    if (input.type !== "tick") {
      // Results carry the local clock forward too: an input is handled at its arrival time.
      host.agent.nowMs = Math.max(host.agent.nowMs, this.localMs(host));
    }
    this.eventsSeen += 1;
    const effects = agentStep(host.agent, input);
    for (const effect of effects) this.execAgent(host, effect);
  }

  toKeeper(host: SimHost, input: KeeperInput): void {
    if (host.keeper === null || !host.powered) return;
    if (this.nowMs < host.pausedUntilMs) {
      const generation = host.keeperGeneration;
      host.deferred.push(
        () => host.keeperGeneration === generation && this.toKeeper(host, this.retick(host, input)),
      );
      return;
    }
    host.keeper.nowMs = Math.max(host.keeper.nowMs, this.localMs(host));
    this.eventsSeen += 1;
    const effects = keeperStep(host.keeper, input);
    for (const effect of effects) this.execKeeper(host, effect);
  }

  private retick<T extends { type: string }>(host: SimHost, input: T): T {
    return input.type === "tick" ? { ...input, nowMs: this.localMs(host) } : input;
  }

  endPause(host: SimHost): void {
    const deferred = host.deferred;
    host.deferred = [];
    for (const run of deferred) run();
  }

  // ---- network -----------------------------------------------------------------------------

  reachable(from: SimHost, to: SimHost): boolean {
    return from.powered && to.powered && !from.isolated && !to.isolated && from.group === to.group;
  }

  private send(from: SimHost, to: string, msg: Message): void {
    const target = this.hosts.get(to);
    // As the real transport: a host has no address for itself, so a message to self is dropped.
    if (target === undefined || target === from || !this.reachable(from, target)) return;
    if (this.sim.networkLossPercent > 0 && this.rng.chance(this.sim.networkLossPercent / 100)) return;
    const generation = target.agentGeneration;
    this.at(this.networkDelay(), () => {
      if (target.agentGeneration === generation && this.reachable(from, target)) {
        this.toAgent(target, { type: "message", msg });
      }
    });
  }

  private networkDelay(): number {
    const base = this.sim.networkLatencyMs;
    return base + this.rng.next() * base;
  }

  private ping(from: SimHost, target: string): void {
    const generation = from.agentGeneration;
    const other = this.hosts.get(target);
    const ok = target === "gateway" ? !from.isolated : other !== undefined && this.reachable(from, other);
    this.at(ok ? this.networkDelay() * 2 : pingTimeoutMs, () => {
      if (from.agentGeneration === generation) this.toAgent(from, { type: "pingResult", target, ok });
    });
  }

  // ---- storage -----------------------------------------------------------------------------

  /** Runs `apply` when the I/O completes; a lost datastore fails after ioTimeoutMs. */
  private storageOp(host: SimHost, datastore: string, apply: (ok: boolean) => void): void {
    const lost = host.storageLost.has(datastore) || !this.datastores.has(datastore);
    const stall = Math.max(0, host.stallUntilMs - this.nowMs);
    const delay = lost
      ? this.spec.timing.ioTimeoutMs * 2
      : this.sim.storageLatencyMs * (1 + this.rng.next()) + stall;
    this.at(delay, () => apply(!lost && !host.storageLost.has(datastore) && host.powered));
  }

  private execAgent(host: SimHost, effect: AgentEffect): void {
    const generation = host.agentGeneration;
    switch (effect.type) {
      case "send":
        this.send(host, effect.to, effect.msg);
        break;
      case "ping":
        this.ping(host, effect.target);
        break;
      case "readHeartbeats":
      case "writeMasterLease":
      case "readVmRecords":
      case "createLease":
      case "writePoweredOff":
        this.execAgentStorage(host, effect);
        break;
      case "fenceHost":
        this.fence(host, effect.host, generation);
        break;
      case "startVm":
        this.startVm(host, effect.spec, effect.epoch, generation);
        break;
      case "stopVm":
        this.stopVm(host, effect.vm, effect.mode);
        break;
      case "resetVm":
        for (const copy of this.copiesOn(host.spec.name)) {
          if (copy.vm !== effect.vm) continue;
          copy.guestHung = false;
          copy.startedAtMs = this.nowMs;
          copy.generation += 1;
        }
        break;
      case "migrateVm":
        this.migrateVm(host, effect.vm, effect.target, effect.epoch, generation);
        break;
      case "listVms":
        this.reply(host, generation, {
          type: "vmsListed",
          vms: hostListing(host, () => this.copiesOn(host.spec.name), this.nowMs, this.sim.vmStartMs),
        });
        break;
      case "keeperStatus": {
        // Sent on every tick; the same (shared) list and flag again would change nothing.
        const keeper = host.keeper;
        const unchanged = keeper !== null && keeper.vms === effect.vms && keeper.isolated === effect.isolated;
        if (!unchanged || this.nowMs < host.pausedUntilMs)
          this.toKeeper(host, { type: "agentStatus", isolated: effect.isolated, vms: effect.vms });
        break;
      }
      case "emitEvent":
        this.recordEvent(effect.event);
        break;
      default: {
        const never: never = effect;
        throw new Error(`unhandled effect ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * The agent's datastore I/O. Apart from execAgent so that its completion closures do not make
   * every effect (most are sends and listings) allocate a closure context.
   */
  private execAgentStorage(
    host: SimHost,
    effect: Extract<
      AgentEffect,
      { type: "readHeartbeats" | "writeMasterLease" | "readVmRecords" | "createLease" | "writePoweredOff" }
    >,
  ): void {
    const generation = host.agentGeneration;
    switch (effect.type) {
      case "readHeartbeats": {
        const issuedAtMs = this.localMs(host);
        this.storageOp(host, effect.datastore, (ok) => {
          const ds = this.datastores.get(effect.datastore);
          const corrupt =
            ds === undefined || ds.corrupt.size === 0
              ? []
              : [...ds.corrupt].filter((p) => p.startsWith("hosts/"));
          const records = ok && ds !== undefined ? [...ds.heartbeats.values()] : [];
          const hosts =
            corrupt.length === 0 ? records : records.filter((r) => !corrupt.includes(`hosts/${r.host}.hb`));
          this.reply(host, generation, {
            type: "heartbeatsRead",
            datastore: effect.datastore,
            issuedAtMs,
            ok,
            hosts,
            masterLease: ok ? (ds?.masterLease ?? null) : null,
            corrupt: ok ? corrupt : [],
          });
        });
        break;
      }
      case "writeMasterLease":
        this.storageOp(host, effect.datastore, (ok) => {
          if (ok) this.datastores.get(effect.datastore)!.masterLease = effect.record;
        });
        break;
      case "readVmRecords":
        this.storageOp(host, effect.datastore, (ok) => {
          const ds = this.datastores.get(effect.datastore);
          const records: VmRecords[] = [];
          const corrupt: string[] = [];
          if (ok && ds !== undefined) {
            const anyCorrupt = ds.corrupt.size > 0;
            for (const vm of effect.vms) {
              if (anyCorrupt && ds.corrupt.has(`vms/${vm}`)) {
                corrupt.push(`vms/${vm}`);
                continue;
              }
              const lease = highestLease(ds, vm);
              const poweredOff = lease === null ? null : (ds.poweredOff.get(vm)?.get(lease.epoch) ?? null);
              // Records are never mutated: readers of unchanged records (every host reconciling
              // at start-up) share one object.
              const shared = ds.recordCache.get(vm);
              if (shared !== undefined && shared.lease === lease && shared.poweredOff === poweredOff) {
                records.push(shared);
                continue;
              }
              const record: VmRecords = { vm, lease, poweredOff };
              ds.recordCache.set(vm, record);
              records.push(record);
            }
          }
          this.reply(host, generation, {
            type: "vmRecordsRead",
            datastore: effect.datastore,
            ok,
            records,
            corrupt,
          });
        });
        break;
      case "createLease":
        this.storageOp(host, effect.datastore, (ok) => {
          const ds = this.datastores.get(effect.datastore)!;
          let created = false;
          if (ok) {
            const leases = ds.leases.get(effect.record.vm) ?? new Map<number, LeaseRecord>();
            ds.leases.set(effect.record.vm, leases);
            if (!leases.has(effect.record.epoch)) {
              leases.set(effect.record.epoch, effect.record);
              created = true;
              for (const o of this.observers) o.onLeaseCreated?.(effect.record, this.nowMs);
            }
          }
          this.reply(host, generation, {
            type: "leaseCreated",
            datastore: effect.datastore,
            vm: effect.record.vm,
            epoch: effect.record.epoch,
            ok: created,
          });
        });
        break;
      case "writePoweredOff":
        this.storageOp(host, effect.datastore, (ok) => {
          if (!ok) return;
          const all = this.datastores.get(effect.datastore)!.poweredOff;
          const records = all.get(effect.record.vm) ?? new Map<number, PoweredOffRecord>();
          records.set(effect.record.epoch, effect.record);
          all.set(effect.record.vm, records);
        });
        break;
      default: {
        const never: never = effect;
        throw new Error(`unhandled effect ${JSON.stringify(never)}`);
      }
    }
  }

  /** Feeds a result back to the agent that asked, unless that agent process is gone. */
  private reply(host: SimHost, generation: number, input: AgentInput): void {
    if (host.agentGeneration === generation) this.toAgent(host, input);
  }

  private execKeeper(host: SimHost, effect: KeeperEffect): void {
    switch (effect.type) {
      case "writeHeartbeat":
        this.writeHeartbeat(host, effect.datastore, effect.issuedAtMs, effect.record);
        break;
      case "killVmsOnDatastore":
        this.killVmsOnDatastore(host, effect.datastore);
        break;
      case "armWatchdog":
        this.armWatchdog(host, effect.deadlineMs);
        break;
      case "disarmWatchdog":
        host.watchdogDeadlineMs = Number.POSITIVE_INFINITY;
        break;
      case "reportToAgent":
        this.toAgent(host, {
          type: "keeperReport",
          fencedDatastores: effect.fencedDatastores,
          renewedAtMs: effect.renewedAtMs,
          fenceCounts: effect.fenceCounts,
        });
        break;
      case "emitEvent":
        this.recordEvent(effect.event);
        break;
      default: {
        const never: never = effect;
        throw new Error(`unhandled effect ${JSON.stringify(never)}`);
      }
    }
  }

  // The keeper's effects that complete later, apart from execKeeper so that its other effects do
  // not allocate a closure context.
  private writeHeartbeat(
    host: SimHost,
    datastore: string,
    issuedAtMs: number,
    record: HostHeartbeatRecord,
  ): void {
    const generation = host.keeperGeneration;
    this.storageOp(host, datastore, (ok) => {
      if (ok) this.datastores.get(datastore)!.heartbeats.set(host.spec.name, record);
      if (host.keeperGeneration === generation) {
        this.toKeeper(host, { type: "heartbeatWritten", datastore, issuedAtMs, ok });
      }
    });
  }

  private killVmsOnDatastore(host: SimHost, datastore: string): void {
    for (const copy of this.copiesOn(host.spec.name)) {
      if (copy.spec.datastore === datastore) this.at(killDelayMs, () => this.removeCopy(copy, "self-fence"));
    }
  }

  private armWatchdog(host: SimHost, deadlineLocalMs: number): void {
    const deadline = this.simTimeOf(host, deadlineLocalMs);
    host.watchdogDeadlineMs = deadline;
    this.queue.push(Math.max(this.nowMs, deadline), () => {
      if (host.watchdogDeadlineMs !== deadline || !host.powered) return;
      // A hardware watchdog resets the whole host: VMs, and starts its frozen agent had issued but
      // not carried out yet (they die with it), then the host boots again.
      const victims = this.copiesOn(host.spec.name).length;
      this.record(host.spec.name, "watchdog", `watchdog fired: host reset, ${victims} VM(s) killed`);
      this.powerOffHost(host, "watchdog");
      const generation = host.powerGeneration;
      this.at(watchdogRebootMs, () => {
        if (host.powerGeneration === generation) this.powerOnHost(host.spec.name);
      });
    });
  }

  // ---- BMC ---------------------------------------------------------------------------------

  private fence(from: SimHost, target: string, generation: number): void {
    const host = this.hosts.get(target);
    if (host === undefined || host.bmcFailed || !host.spec.bmc) {
      this.at(this.sim.bmcActionMs * 2, () =>
        this.reply(from, generation, {
          type: "fenceResult",
          host: target,
          poweredOff: false,
          detail: "BMC did not answer",
        }),
      );
      return;
    }
    this.at(this.sim.bmcActionMs, () => {
      if (host.bmcFailed) {
        this.reply(from, generation, {
          type: "fenceResult",
          host: target,
          poweredOff: false,
          detail: "BMC did not answer",
        });
        return;
      }
      this.powerOffHost(host, `fenced by ${from.spec.name}`);
      this.record(target, "powerOff", `BMC powered ${target} off (fence by ${from.spec.name})`);
      this.reply(from, generation, {
        type: "fenceResult",
        host: target,
        poweredOff: true,
        detail: "chassis power status: off",
      });
    });
  }

  // ---- hypervisor --------------------------------------------------------------------------

  /** The copies on a host, oldest first (a copy of the index: callers may remove while iterating). */
  copiesOn(host: string): SimVm[] {
    const set = this.byHost.get(host);
    return set === undefined ? [] : [...set];
  }

  private indexCopy(copy: SimVm, host: string | null): void {
    const simHost = this.hosts.get(host ?? copy.host);
    if (simHost !== undefined) simHost.sortedCopies = null;
    if (host === null) {
      this.byHost.get(copy.host)?.delete(copy);
      return;
    }
    let set = this.byHost.get(host);
    if (set === undefined) {
      set = new Set();
      this.byHost.set(host, set);
    }
    set.add(copy);
  }

  addCopy(host: string, spec: VmSpec, epoch: number, state: SimVm["state"]): SimVm {
    const copy: SimVm = {
      vm: spec.name,
      spec,
      host,
      epoch,
      state,
      startedAtMs: this.nowMs,
      guestHung: false,
      hungAtMs: 0,
      generation: 0,
    };
    const list = this.copies.get(spec.name) ?? [];
    list.push(copy);
    this.copies.set(spec.name, list);
    this.indexCopy(copy, host);
    for (const o of this.observers) o.onVmCopyStarted?.(copy, this.nowMs);
    return copy;
  }

  removeCopy(copy: SimVm, why: string): void {
    const list = this.copies.get(copy.vm);
    if (list === undefined) return;
    const index = list.indexOf(copy);
    if (index < 0) return;
    list.splice(index, 1);
    if (list.length === 0) this.copies.delete(copy.vm);
    this.indexCopy(copy, null);
    copy.generation += 1;
    if (this.recordTimeline)
      this.record(copy.host, "vmGone", `${copy.vm} (epoch ${copy.epoch}) stopped: ${why}`);
  }

  private startVm(host: SimHost, spec: VmSpec, epoch: number, generation: number): void {
    if (host.startFailures > 0) {
      host.startFailures -= 1;
      this.at(this.sim.vmStartMs / 2, () =>
        this.reply(host, generation, {
          type: "vmStartResult",
          vm: spec.name,
          epoch,
          ok: false,
          reason: "the hypervisor failed to start it",
        }),
      );
      return;
    }
    const copy = this.addCopy(host.spec.name, spec, epoch, "starting");
    const copyGeneration = copy.generation;
    this.at(this.sim.vmStartMs, () => {
      const alive = copy.generation === copyGeneration && this.copies.get(spec.name)?.includes(copy) === true;
      if (alive) copy.state = "running";
      this.reply(host, generation, {
        type: "vmStartResult",
        vm: spec.name,
        epoch,
        ok: alive,
        reason: alive ? "" : "killed while starting",
      });
    });
  }

  private stopVm(host: SimHost, vm: string, mode: "kill" | "shutdown"): void {
    for (const copy of this.copiesOn(host.spec.name)) {
      if (copy.vm !== vm) continue;
      copy.state = "stopping";
      if (mode === "kill") this.at(killDelayMs, () => this.removeCopy(copy, "killed"));
      else if (!copy.guestHung) this.at(this.sim.vmStopMs, () => this.removeCopy(copy, "shut down"));
    }
  }

  private migrateVm(host: SimHost, vm: string, target: string, epoch: number, generation: number): void {
    const copy = this.copiesOn(host.spec.name).find((c) => c.vm === vm);
    const to = this.hosts.get(target);
    this.at(this.sim.migrateMs, () => {
      const ok =
        copy !== undefined &&
        to !== undefined &&
        this.reachable(host, to) &&
        this.copies.get(vm)?.includes(copy) === true;
      if (ok) {
        // Switch-over: the running copy moves; it is never two.
        this.indexCopy(copy, null);
        copy.host = target;
        this.indexCopy(copy, target);
        copy.epoch = epoch;
        copy.generation += 1;
      }
      this.reply(host, generation, {
        type: "migrateResult",
        vm,
        target,
        ok,
        reason: ok ? "" : "migration failed",
      });
    });
  }
}

function highestLease(ds: SimDatastore, vm: string): LeaseRecord | null {
  const leases = ds.leases.get(vm);
  if (leases === undefined) return null;
  let best: LeaseRecord | null = null;
  for (const lease of leases.values()) if (best === null || lease.epoch > best.epoch) best = lease;
  return best;
}

function isSafetyEvent(event: EngineEvent): boolean {
  return event.type === "vmStarted" || event.type === "powerOnAccepted";
}

export function describe(event: EngineEvent): string {
  const parts: string[] = [];
  if (event.vm !== undefined) parts.push(event.vm);
  if (event.subject !== undefined) parts.push(event.subject);
  if (event.state !== undefined) parts.push(`-> ${event.state}`);
  if (event.target !== undefined) parts.push(`-> ${event.target}`);
  if (event.epoch !== undefined) parts.push(`epoch ${event.epoch}`);
  if (event.proof !== undefined) parts.push(`proof ${event.proof}`);
  if (event.reason !== undefined) parts.push(`(${event.reason})`);
  return parts.join(" ");
}
