import {
  type AgentState,
  emit,
  type MasterState,
  type RestartTrack,
  type RunningVm,
  sortedKeys,
} from "./agent-state.ts";
import { type Rule, restartPriorityOrder, type VmSpec } from "./cluster.ts";
import type { AgentEffect, AgentInput, VmRecords } from "./io.ts";
import { onConfirmDown, onStartRequest } from "./local-vms.ts";
import { fenceProofValid, readableDatastores, unchangedForMs } from "./master.ts";
import { type PlacementHost, planPlacement } from "./placement.ts";
import { type RestartProof, recordFormatVersion, type StartVmMsg, type VmStartFailedMsg } from "./records.ts";

/** At most this many VM record reads per datastore per tick: a stated bound on one tick's I/O. */
const recordReadsPerTickMax = 512;
/** Hosts where a VM's start failed are avoided for its next attempts; at most this many are remembered. */
const failedHostsRememberedMax = 3;
/** Unplaced VMs are planned again when capacity changes, and at least this often. */
const unplacedReplanMs = 10_000;
/** How often a VM seen with no lease (never powered on under HA) is read again. */
const neverStartedRecheckMs = 10_000;

export function isProtected(spec: VmSpec): boolean {
  return spec.ha && spec.restartPriority !== "disabled";
}

/** The VM counts as started for priority order and dependencies (cluster.startCondition). */
function startConditionReached(state: AgentState, spec: VmSpec, running: RunningVm): boolean {
  switch (state.spec.startCondition) {
    case "allocated":
      return true;
    case "poweredOn":
      return !running.starting;
    case "guestHeartbeat":
      return !running.starting && (!spec.guestHeartbeat || running.guestOk);
    default: {
      const never: never = state.spec.startCondition;
      throw new Error(`unhandled start condition ${String(never)}`);
    }
  }
}

export function newTrack(state: AgentState, forcedHost: string | null): RestartTrack {
  return {
    phase: "proving",
    proof: null,
    attempts: 0,
    nextAttemptAtMs: state.nowMs,
    pendingSinceMs: state.nowMs,
    firstIssuedAtMs: -1,
    target: null,
    epoch: 0,
    issuedAtMs: 0,
    lastReason: "",
    gaveUp: false,
    unplacedGeneration: -1,
    waitingAlarmed: false,
    forcedHost,
    confirmAskedAtMs: Number.NEGATIVE_INFINITY,
    lastPlannedAtMs: Number.NEGATIVE_INFINITY,
    turnSinceMs: null,
    lastSentAtMs: Number.NEGATIVE_INFINITY,
    failedHosts: [],
  };
}

export function stepRestarts(state: AgentState, out: AgentEffect[]): void {
  const master = state.master!;
  const held = master.heldDatastores;
  // A track ends once its VM runs and reached the start condition. Deletions commute, so the order
  // of this pass does not matter.
  for (const name of master.restarts.keys()) {
    const spec = state.vmSpecs.get(name);
    const running = master.runningOn.get(name);
    if (spec !== undefined && running !== undefined && startConditionReached(state, spec, running)) {
      master.restarts.delete(name);
    }
  }
  // A VM autostarted after this master found it without a lease has one now: a crash must not wait
  // for the recheck.
  for (const name of master.neverStarted.keys()) {
    if (master.runningOn.has(name)) master.neverStarted.delete(name);
  }
  // New tracks, in configuration order, for protected VMs that run nowhere.
  for (const spec of notRunning(state, master)) {
    const name = spec.name;
    if (master.restarts.has(name)) continue;
    if (!isProtected(spec) || !held.has(spec.datastore)) continue;
    const never = master.neverStarted.get(name);
    if (never !== undefined && state.nowMs - never < neverStartedRecheckMs) continue;
    // Heartbeats from a fresh master's slaves may not have arrived yet: give them time.
    if (state.nowMs - master.sinceMs < state.spec.timing.slaveUnreachableAfterMs) continue;
    master.restarts.set(name, newTrack(state, null));
  }
  requestRecordReads(state, master, out);
  for (const name of sortedKeys(master.restarts)) advanceTrack(state, master, name, out);
  placeReady(state, master, out);
}

/** The configured VMs missing from `runningOn`, recomputed only when `runningOn` or the configuration changed. */
function notRunning(state: AgentState, master: MasterState): VmSpec[] {
  const cache = master.notRunning;
  if (cache.runningOn === master.runningOn && cache.vms === state.spec.vms) return cache.specs;
  const specs = state.spec.vms.filter((spec) => !master.runningOn.has(spec.name));
  master.notRunning = { runningOn: master.runningOn, vms: state.spec.vms, specs };
  return specs;
}

function requestRecordReads(state: AgentState, master: MasterState, out: AgentEffect[]): void {
  const byDatastore = new Map<string, string[]>();
  for (const name of sortedKeys(master.restarts)) {
    const track = master.restarts.get(name)!;
    if (track.phase !== "proving") continue;
    const spec = state.vmSpecs.get(name);
    if (spec === undefined) continue;
    const list = byDatastore.get(spec.datastore) ?? [];
    if (list.length < recordReadsPerTickMax) list.push(name);
    byDatastore.set(spec.datastore, list);
  }
  const readable = new Set(readableDatastores(state));
  for (const [datastore, vms] of [...byDatastore.entries()].sort()) {
    if (readable.has(datastore)) out.push({ type: "readVmRecords", datastore, vms });
  }
}

export function onVmRecordsRead(state: AgentState, records: VmRecords[]): void {
  const master = state.master;
  if (master === null) return;
  for (const record of records) {
    master.leases.set(record.vm, {
      epoch: record.lease?.epoch ?? 0,
      holder: record.lease?.holder ?? "",
      poweredOffEpoch: record.poweredOff?.epoch ?? -1,
      readAtMs: state.nowMs,
    });
  }
}

/** Which proof allows a new epoch now, or null. */
function findProof(state: AgentState, track: RestartTrack, vm: string): RestartProof | null {
  const info = state.master!.leases.get(vm);
  if (info === undefined || info.readAtMs < track.pendingSinceMs) return null;
  if (info.epoch === 0) return track.forcedHost !== null ? "initialPowerOn" : null;
  if (info.poweredOffEpoch === info.epoch) return "reportedDown";
  if (state.unsafeRestartWithoutProof) return "unsafeNoProof";
  if (info.holder === state.self) return null;
  if (fenceProofValid(state, info.holder)) return "fenced";
  const datastore = state.vmSpecs.get(vm)!.datastore;
  const age = unchangedForMs(state.dsView.get(datastore)?.get(info.holder));
  if (age >= state.spec.timing.leaseTtlMs) return "leaseExpired";
  return null;
}

function advanceTrack(state: AgentState, master: MasterState, name: string, out: AgentEffect[]): void {
  const track = master.restarts.get(name)!;
  const timing = state.spec.timing;
  if (track.gaveUp && track.unplacedGeneration !== master.capacityGeneration) {
    track.gaveUp = false;
    track.attempts = 0;
    track.failedHosts = [];
    track.firstIssuedAtMs = -1;
    track.nextAttemptAtMs = state.nowMs;
  }
  const lost = track.phase === "starting" ? lostWithTarget(state, master, track) : null;
  if (track.phase === "proving") {
    const info = master.leases.get(name);
    if (
      info !== undefined &&
      info.epoch === 0 &&
      track.forcedHost === null &&
      info.readAtMs >= track.pendingSinceMs
    ) {
      master.neverStarted.set(name, state.nowMs);
      master.restarts.delete(name);
      return;
    }
    const proof = findProof(state, track, name);
    if (proof !== null) {
      track.phase = "ready";
      track.proof = proof;
      track.epoch = info!.epoch;
    } else {
      askHolderToConfirm(state, master, track, name, out);
    }
    if (
      track.phase === "proving" &&
      !track.waitingAlarmed &&
      state.nowMs - track.pendingSinceMs >= timing.leaseTtlMs * 2
    ) {
      track.waitingAlarmed = true;
      emit(out, {
        type: "vmWaiting",
        host: state.self,
        vm: name,
        reason: waitingReason(state, name),
      });
    }
  } else if (lost !== null) {
    // The start died with its host: waiting out vmStartTimeoutMs would only delay the VM. The next
    // epoch needs a proof again (the lease of the lost start is the target's). The VM did not fail,
    // its host did: no backoff.
    const failure = {
      reason: lost,
      epoch: track.epoch + 1,
      silent: true,
      atOnce: true,
    };
    failAttempt(state, master, name, track, failure, out);
  } else if (
    track.phase === "starting" &&
    state.nowMs - track.issuedAtMs < timing.vmStartTimeoutMs &&
    state.nowMs - track.lastSentAtMs >= timing.slaveUnreachableAfterMs &&
    !master.runningOn.has(name)
  ) {
    // The target does not report the VM even as starting: the request may have been lost. Resending
    // is safe: the target starts an epoch only once.
    sendStart(state, name, track, out);
  } else if (track.phase === "starting" && state.nowMs - track.issuedAtMs >= timing.vmStartTimeoutMs) {
    const target = track.target!;
    if (hostConnected(state, master, target)) {
      track.issuedAtMs = state.nowMs;
      sendStart(state, name, track, out);
    } else {
      const failure = { reason: `start on ${target} did not finish`, epoch: track.epoch + 1, silent: true };
      failAttempt(state, master, name, track, failure, out);
    }
  }
}

/** The master itself, or a slave it hears as connected. */
function hostConnected(state: AgentState, master: MasterState, host: string): boolean {
  return host === state.self || master.hosts.get(host)?.state === "connected";
}

/**
 * Why the start in flight can never complete, or null:
 * - the BMC confirmed the target off after the last start request went to it (checked before any
 *   resend: a request sent after the fence could reach the host booting again);
 * - the target was declared dead (silent, datastore heartbeat stale, no ping answer). Without a BMC
 *   the proof left is lease expiry, which means the target's keeper stopped renewing: its watchdog
 *   resets the host, start in flight included (rule 3; the simulator models the reset).
 */
function lostWithTarget(state: AgentState, master: MasterState, track: RestartTrack): string | null {
  const target = track.target;
  if (target === null || target === state.self) return null;
  const view = master.hosts.get(target);
  if (view === undefined) return null;
  if (view.fenceConfirmedAtMs >= track.lastSentAtMs && fenceProofValid(state, target))
    return `${target} was fenced during the start`;
  if (view.state === "dead" || view.state === "fencing") return `${target} died during the start`;
  return null;
}

/** A live holder that does not run the VM (its start never arrived) is asked to end that epoch. */
function askHolderToConfirm(
  state: AgentState,
  master: MasterState,
  track: RestartTrack,
  vm: string,
  out: AgentEffect[],
): void {
  const info = master.leases.get(vm);
  const timing = state.spec.timing;
  if (info === undefined || info.epoch === 0 || info.poweredOffEpoch === info.epoch) return;
  if (state.nowMs - track.pendingSinceMs < timing.slaveUnreachableAfterMs) return;
  if (state.nowMs - track.confirmAskedAtMs < timing.slaveUnreachableAfterMs) return;
  const msg = { type: "confirmDown" as const, from: state.self, vm, epoch: info.epoch };
  if (info.holder === state.self) {
    track.confirmAskedAtMs = state.nowMs;
    onConfirmDown(state, msg, out);
  } else if (master.hosts.get(info.holder)?.state === "connected") {
    track.confirmAskedAtMs = state.nowMs;
    out.push({ type: "send", to: info.holder, msg });
  }
}

function waitingReason(state: AgentState, vm: string): string {
  const info = state.master!.leases.get(vm);
  if (info === undefined) return "its lease record could not be read";
  return `no proof yet that the copy on ${info.holder} (epoch ${info.epoch}) is dead: not fenced, lease renewed, not reported down`;
}

/** `epoch` is the epoch whose start failed; `silent` says the target never reported it, so the master does. */
function failAttempt(
  state: AgentState,
  master: MasterState,
  name: string,
  track: RestartTrack,
  failure: { reason: string; epoch: number; silent: boolean; atOnce?: boolean },
  out: AgentEffect[],
): void {
  const reason = failure.reason;
  // A start lost with its host (atOnce) says nothing about the VM: it does not use up an attempt,
  // or a VM that keeps landing on hosts that then fail would give up while others could run it.
  if (failure.atOnce !== true) track.attempts += 1;
  if (track.target !== null && !track.failedHosts.includes(track.target)) {
    track.failedHosts = [...track.failedHosts, track.target].slice(-failedHostsRememberedMax);
  }
  track.phase = "proving";
  track.pendingSinceMs = state.nowMs;
  track.lastReason = reason;
  if (failure.silent)
    emit(out, { type: "vmStartFailed", host: state.self, vm: name, reason, epoch: failure.epoch });
  if (track.attempts >= state.spec.timing.restartAttemptsMax) {
    track.gaveUp = true;
    track.unplacedGeneration = master.capacityGeneration;
    emit(out, {
      type: "vmRestartGaveUp",
      host: state.self,
      vm: name,
      reason: `${track.attempts} attempts failed, last: ${reason}`,
    });
    return;
  }
  // vSphere's schedule: attempts at T0, +2, +6, +14, +30 units after the first.
  const delay = state.spec.timing.restartBackoffMs * (2 ** track.attempts - 1);
  track.nextAttemptAtMs = failure.atOnce === true ? state.nowMs : track.firstIssuedAtMs + delay;
  emit(out, {
    type: "vmRestartScheduled",
    host: state.self,
    vm: name,
    reason: `attempt ${track.attempts + 1} in ${Math.round(Math.max(0, track.nextAttemptAtMs - state.nowMs))} ms`,
  });
}

function priorityIndex(spec: VmSpec): number {
  const index = restartPriorityOrder.indexOf(spec.restartPriority);
  return index < 0 ? restartPriorityOrder.length : index;
}

/** A track still holds back lower priorities and dependants until its start condition or the timeout. */
function holdsBack(state: AgentState, track: RestartTrack): boolean {
  if (track.gaveUp) return false;
  const timeout = state.spec.timing.startOrderTimeoutMs;
  // Still waiting for a proof: it may never come, so it holds back only for the timeout.
  if (track.phase === "proving") return state.nowMs - track.pendingSinceMs < timeout;
  // Its group's turn has not come: it holds back until it has had its own timeout.
  if (track.turnSinceMs === null) return true;
  if (state.nowMs - track.turnSinceMs >= timeout) return false;
  if (state.spec.startCondition === "allocated") return track.phase !== "starting";
  return true;
}

/**
 * A VM that others start after inherits their higher priority; otherwise a high-priority VM that
 * depends on a low-priority one would wait for it while the low one waits for its turn.
 */
function effectivePriorities(state: AgentState, dependencies: Map<string, string[]>): Map<string, number> {
  const effective = new Map<string, number>();
  for (const spec of state.spec.vms) effective.set(spec.name, priorityIndex(spec));
  // Dependency chains are acyclic (checked at configuration); one pass per link length suffices.
  for (let round = 0; round < dependencies.size; round++) {
    let changed = false;
    for (const [vm, after] of dependencies) {
      const own = effective.get(vm) ?? restartPriorityOrder.length;
      for (const dependency of after) {
        if ((effective.get(dependency) ?? own) > own) {
          effective.set(dependency, own);
          changed = true;
        }
      }
    }
    if (!changed) break;
  }
  return effective;
}

function placeReady(state: AgentState, master: MasterState, out: AgentEffect[]): void {
  if (master.restarts.size === 0) return;
  const dependencies = startAfterMap(state);
  const effective = effectivePriorities(state, dependencies);
  let firstUnfinished = restartPriorityOrder.length;
  for (const [name, track] of master.restarts) {
    if (holdsBack(state, track))
      firstUnfinished = Math.min(firstUnfinished, effective.get(name) ?? firstUnfinished);
  }
  const ready: VmSpec[] = [];
  const forced: string[] = [];
  let anyNew = false;
  for (const name of sortedKeys(master.restarts)) {
    const track = master.restarts.get(name)!;
    if (track.phase !== "ready" || track.gaveUp || track.nextAttemptAtMs > state.nowMs) continue;
    const spec = state.vmSpecs.get(name)!;
    if ((effective.get(name) ?? priorityIndex(spec)) > firstUnfinished) continue;
    if (waitsForDependency(state, master, track, dependencies.get(name))) continue;
    track.turnSinceMs ??= state.nowMs;
    if (track.forcedHost !== null) {
      if (hostConnected(state, master, track.forcedHost)) {
        forced.push(name);
        continue;
      }
      // The host the user asked for cannot run it now (dead, fenced, in maintenance): placement
      // chooses, as for any restart, rather than retrying a host that will not answer.
      track.forcedHost = null;
    }
    ready.push(spec);
    const replanDue = state.nowMs - track.lastPlannedAtMs >= unplacedReplanMs;
    if (track.unplacedGeneration !== master.capacityGeneration || replanDue) anyNew = true;
  }
  for (const name of forced) claim(state, master, name, master.restarts.get(name)!.forcedHost!, out);
  if (ready.length === 0 || !anyNew) return;
  const hosts = placementHosts(state, master, null);
  if (state.spec.haTag !== "" && !hosts.some((h) => h.eligible && h.tags.includes(state.spec.haTag))) {
    if (!master.haTagAlarmed) {
      master.haTagAlarmed = true;
      emit(out, {
        type: "haTagMissing",
        host: state.self,
        reason: `no eligible host carries ha.tag ${state.spec.haTag}: HA VMs are not restarted`,
      });
    }
  } else master.haTagAlarmed = false;
  const toPlacementVm = (v: VmSpec) => ({
    name: v.name,
    cpus: v.cpus,
    memoryMiB: v.memoryMiB,
    datastore: v.datastore,
    restartPriority: v.restartPriority,
  });
  const plan = planPlacement({
    hosts,
    vms: ready.filter((v) => master.restarts.get(v.name)!.failedHosts.length === 0).map(toPlacementVm),
    rules:
      master.migrations.size === 0 ? state.spec.rules : [...state.spec.rules, ...movesAsPreferences(master)],
    haTag: state.spec.haTag,
    admissionControl: state.spec.admissionControl,
  });
  // VMs whose start failed somewhere try other hosts first (one plan each: they are few), on
  // capacity left after the main plan.
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const take = (vm: string, host: string) => {
    const h = byName.get(host);
    const spec = state.vmSpecs.get(vm);
    if (h === undefined || spec === undefined) return;
    h.usedCpus += spec.cpus;
    h.usedMemoryMiB += spec.memoryMiB;
    h.vms.push(vm);
  };
  for (const placement of plan.placements) take(placement.vm, placement.host);
  for (const v of ready) {
    const failed = master.restarts.get(v.name)!.failedHosts;
    if (failed.length === 0) continue;
    const input = {
      rules: state.spec.rules,
      haTag: state.spec.haTag,
      admissionControl: state.spec.admissionControl,
    };
    const avoiding = planPlacement({
      ...input,
      hosts: hosts.map((h) => (failed.includes(h.name) ? { ...h, eligible: false } : h)),
      vms: [toPlacementVm(v)],
    });
    const single =
      avoiding.placements.length > 0 ? avoiding : planPlacement({ ...input, hosts, vms: [toPlacementVm(v)] });
    for (const placement of single.placements) take(placement.vm, placement.host);
    plan.placements.push(...single.placements);
    plan.unplaced.push(...single.unplaced);
  }
  for (const placement of plan.placements) claim(state, master, placement.vm, placement.host, out);
  for (const unplaced of plan.unplaced) {
    const track = master.restarts.get(unplaced.vm)!;
    track.unplacedGeneration = master.capacityGeneration;
    track.lastPlannedAtMs = state.nowMs;
    if (track.lastReason !== unplaced.reason) {
      track.lastReason = unplaced.reason;
      emit(out, { type: "vmUnplaced", host: state.self, vm: unplaced.vm, reason: unplaced.reason });
    }
  }
}

function startAfterMap(state: AgentState): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const rule of state.spec.rules) {
    if (rule.type === "startAfter") map.set(rule.vm, [...(map.get(rule.vm) ?? []), ...rule.after]);
  }
  return map;
}

function waitsForDependency(
  state: AgentState,
  master: MasterState,
  track: RestartTrack,
  dependencies: string[] | undefined,
): boolean {
  if (dependencies === undefined) return false;
  if (state.nowMs - track.pendingSinceMs >= state.spec.timing.startOrderTimeoutMs) return false;
  for (const dependency of dependencies) {
    const other = master.restarts.get(dependency);
    if (other !== undefined && holdsBack(state, other)) return true;
  }
  return false;
}

function claim(state: AgentState, master: MasterState, vm: string, host: string, out: AgentEffect[]): void {
  const track = master.restarts.get(vm)!;
  const spec = state.vmSpecs.get(vm)!;
  track.phase = "claiming";
  track.target = host;
  if (track.firstIssuedAtMs < 0) track.firstIssuedAtMs = state.nowMs;
  track.lastReason = "";
  out.push({
    type: "createLease",
    datastore: spec.datastore,
    record: { v: recordFormatVersion, vm, epoch: track.epoch + 1, holder: host, proof: track.proof! },
  });
}

export function onMasterLeaseCreated(
  state: AgentState,
  input: Extract<AgentInput, { type: "leaseCreated" }>,
  out: AgentEffect[],
): void {
  const master = state.master;
  const track = master?.restarts.get(input.vm);
  if (master === null || track === undefined || track.phase !== "claiming" || track.epoch + 1 !== input.epoch)
    return;
  if (!input.ok) {
    // Someone else created this epoch (another master): read again, never skip to a later epoch.
    track.phase = "proving";
    track.pendingSinceMs = state.nowMs;
    return;
  }
  track.phase = "starting";
  track.issuedAtMs = state.nowMs;
  master.leases.set(input.vm, {
    epoch: input.epoch,
    holder: track.target!,
    poweredOffEpoch: -1,
    readAtMs: state.nowMs,
  });
  sendStart(state, input.vm, track, out);
}

function sendStart(state: AgentState, vm: string, track: RestartTrack, out: AgentEffect[]): void {
  track.lastSentAtMs = state.nowMs;
  const msg: StartVmMsg = {
    type: "startVm",
    from: state.self,
    vm,
    epoch: track.epoch + 1,
    proof: track.proof!,
  };
  if (track.target === state.self) onStartRequest(state, msg, out);
  else out.push({ type: "send", to: track.target!, msg });
}

export function onVmStartFailed(state: AgentState, msg: VmStartFailedMsg, out: AgentEffect[]): void {
  const master = state.master;
  const track = master?.restarts.get(msg.vm);
  if (master === null || track === undefined || track.phase !== "starting" || track.epoch + 1 !== msg.epoch)
    return;
  track.epoch = msg.epoch;
  failAttempt(
    state,
    master,
    msg.vm,
    track,
    { reason: `${msg.from}: ${msg.reason}`, epoch: msg.epoch, silent: false },
    out,
  );
}

/** Placement's view of the hosts, with capacity taken by running VMs and by starts in flight. */
/** Moves in flight as preferred (never strict) VM-host rules: a cold move restarts at its target if it can. */
export function movesAsPreferences(master: MasterState): Rule[] {
  return [...master.migrations].map(([vm, m]) => ({
    type: "vmHostAffinity",
    vms: [vm],
    hosts: [m.target],
    strict: false,
  }));
}

export function placementHosts(
  state: AgentState,
  master: MasterState,
  exclude: string | null,
): PlacementHost[] {
  const stale = state.spec.timing.datastoreHeartbeatStaleMs;
  const hosts = new Map<string, PlacementHost>();
  for (const spec of state.spec.hosts) {
    const self = spec.name === state.self;
    const eligible =
      spec.name !== exclude &&
      (self
        ? !state.maintenance && !state.standby && state.isolation.state !== "isolated"
        : master.hosts.get(spec.name)?.state === "connected");
    const datastores = self
      ? readableDatastores(state)
      : spec.datastores.filter((ds) => {
          const age = unchangedForMs(state.dsView.get(ds)?.get(spec.name));
          return age >= 0 && age < stale;
        });
    hosts.set(spec.name, {
      name: spec.name,
      cpus: spec.cpus,
      memoryMiB: spec.memoryMiB,
      usedCpus: 0,
      usedMemoryMiB: 0,
      datastores,
      faultDomain: spec.faultDomain,
      tags: spec.tags,
      vms: [],
      eligible,
    });
  }
  const use = (vm: string, hostName: string) => {
    const host = hosts.get(hostName);
    const spec = state.vmSpecs.get(vm);
    if (host === undefined || spec === undefined) return;
    host.usedCpus += spec.cpus;
    host.usedMemoryMiB += spec.memoryMiB;
    host.vms.push(vm);
  };
  for (const [vm, where] of master.runningOn) {
    const migration = master.migrations.get(vm);
    use(vm, migration?.target ?? where.host);
  }
  for (const [vm, track] of master.restarts) {
    if ((track.phase === "claiming" || track.phase === "starting") && track.target !== null)
      use(vm, track.target);
  }
  return [...hosts.values()];
}
