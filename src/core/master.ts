// The master's duties besides restarts: read every host's datastore heartbeat, hold the datastores'
// master leases, classify each host (connected / partitioned / isolated / unreachable / dead), and
// fence dead hosts through their BMC.
import {
  type AgentState,
  type DatastoreHeartbeatView,
  emit,
  type HostView,
  type MasterState,
  sortedKeys,
} from "./agent-state.ts";
import { stepEvacuations } from "./evacuation.ts";
import type { HostState } from "./host-states.ts";
import type { AgentEffect, AgentInput } from "./io.ts";
import { noteMasterLeaseForIsolation } from "./isolation.ts";
import { type HostHeartbeatRecord, recordFormatVersion, type VmEpoch } from "./records.ts";
import { stepRestarts } from "./restart.ts";
import { rebuildRunningOn } from "./running-on.ts";

const fenceAttemptsMax = 3;
/** The VM list of a host without a heartbeat record: shared, so an unchanged absence is an unchanged list. */
const noVms: VmEpoch[] = [];

export function readHeartbeats(state: AgentState, out: AgentEffect[]): void {
  for (const datastore of readableDatastores(state)) out.push({ type: "readHeartbeats", datastore });
}

export function readableDatastores(state: AgentState): string[] {
  const host = state.hostSpecs.get(state.self);
  if (host === undefined) return [];
  return host.datastores.filter((ds) => !state.fencedDatastores.has(ds));
}

export function becomeMaster(state: AgentState, out: AgentEffect[]): void {
  const master: MasterState = {
    sinceMs: state.nowMs,
    hosts: new Map(),
    restarts: new Map(),
    leases: new Map(),
    runningOn: new Map(),
    runningOnSignature: [],
    notRunning: { runningOn: null, vms: null, specs: [] },
    sortedHostNames: [],
    capacityGeneration: 1,
    lastPlannedGeneration: 0,
    haTagAlarmed: false,
    masterLeaseCounter: 0,
    heldDatastores: new Set(),
    pendingPowerOns: [],
    migrations: new Map(),
    neverStarted: new Map(),
  };
  state.master = master;
  ensureHostViews(state);
  state.role = "master";
  state.roleSinceMs = state.nowMs;
  state.masterId = state.self;
  state.nextHeartbeatAtMs = state.nowMs;
  emit(out, { type: "masterElected", host: state.self });
  stepMaster(state, out);
}

/** The next master.lease record of this master; `released` marks it given up (stepped down or isolated). */
function masterLeaseWrite(
  state: AgentState,
  master: MasterState,
  datastore: string,
  released: boolean,
): AgentEffect {
  master.masterLeaseCounter += 1;
  return {
    type: "writeMasterLease",
    datastore,
    record: {
      v: recordFormatVersion,
      holder: state.self,
      counter: master.masterLeaseCounter,
      isolated: released,
    },
  };
}

/** The names of `master.hosts`, sorted; views are only ever added, so the size tells when to sort again. */
export function sortedHostNames(master: MasterState): string[] {
  if (master.sortedHostNames.length !== master.hosts.size) master.sortedHostNames = sortedKeys(master.hosts);
  return master.sortedHostNames;
}

/** Every host of the configuration has a view; hosts added later start as unreachable. */
export function ensureHostViews(state: AgentState): void {
  const master = state.master;
  if (master === null) return;
  for (const host of state.spec.hosts) {
    if (host.name === state.self || master.hosts.has(host.name)) continue;
    master.hosts.set(host.name, {
      state: "unreachable",
      stateSinceMs: state.nowMs,
      lastHeartbeat: state.peers.get(host.name) ?? null,
      pingIssuedAtMs: Number.NEGATIVE_INFINITY,
      pingOk: null,
      fence: "none",
      fenceIssuedAtMs: 0,
      fenceAttempts: 0,
      fenceConfirmedAtMs: 0,
      fencedHeartbeat: "",
    });
  }
}

/** A master that steps down releases its master leases so the next master need not wait them out. */
export function dropMaster(state: AgentState, out: AgentEffect[]): void {
  const master = state.master;
  if (master === null) return;
  for (const datastore of [...master.heldDatastores].sort()) {
    out.push(masterLeaseWrite(state, master, datastore, true));
  }
  state.master = null;
}

export function onHeartbeatsRead(
  state: AgentState,
  input: Extract<AgentInput, { type: "heartbeatsRead" }>,
  out: AgentEffect[],
): void {
  for (const path of input.corrupt) emit(out, { type: "corruptRecord", host: state.self, reason: path });
  if (!input.ok) return;
  let views = state.dsView.get(input.datastore);
  if (views === undefined) {
    views = new Map();
    state.dsView.set(input.datastore, views);
  }
  const records = new Map<string, HostHeartbeatRecord>();
  for (const record of input.hosts) records.set(record.host, record);
  for (const host of state.spec.hosts) {
    if (host.name === state.self) continue;
    const record = records.get(host.name);
    const incarnation = record?.incarnation ?? -1;
    const counter = record?.counter ?? -1;
    const view = views.get(host.name);
    if (view !== undefined && view.incarnation === incarnation && view.counter === counter) {
      view.lastReadIssuedMs = Math.max(view.lastReadIssuedMs, input.issuedAtMs);
      continue;
    }
    // A host that starts writing (a new host, a reboot) may change what placement can use.
    if (state.master !== null && (view === undefined || view.incarnation !== incarnation)) {
      state.master.capacityGeneration += 1;
    }
    // Nobody keeps a view across steps, so it is updated in place (one read per datastore per tick
    // sees every host's heartbeat changed).
    const seen: DatastoreHeartbeatView = view ?? {
      incarnation,
      counter,
      firstSeenMs: 0,
      lastReadIssuedMs: 0,
      isolated: false,
      vms: noVms,
    };
    seen.incarnation = incarnation;
    seen.counter = counter;
    seen.firstSeenMs = state.nowMs;
    seen.lastReadIssuedMs = input.issuedAtMs;
    seen.isolated = record?.isolated ?? false;
    seen.vms = record?.vms ?? noVms;
    if (view === undefined) views.set(host.name, seen);
  }
  const lease = input.masterLease;
  const previous = state.masterLeaseView.get(input.datastore);
  if (lease === null) state.masterLeaseView.delete(input.datastore);
  else if (previous !== undefined && previous.holder === lease.holder && previous.counter === lease.counter) {
    previous.lastReadIssuedMs = Math.max(previous.lastReadIssuedMs, input.issuedAtMs);
  } else {
    state.masterLeaseView.set(input.datastore, {
      holder: lease.holder,
      counter: lease.counter,
      isolated: lease.isolated,
      firstSeenMs: state.nowMs,
      lastReadIssuedMs: input.issuedAtMs,
    });
  }
  noteMasterLeaseForIsolation(state, input.datastore, input.issuedAtMs);
  const master = state.master;
  if (master !== null) {
    const held = lease !== null && lease.holder === state.self && !lease.isolated;
    if (held) master.heldDatastores.add(input.datastore);
    else master.heldDatastores.delete(input.datastore);
  }
}

/** How long a heartbeat has been seen unchanged, by reads on this host's clock; -1 when never read. */
export function unchangedForMs(view: DatastoreHeartbeatView | undefined): number {
  // A read issued before the one that first saw the value can complete after it: never negative.
  return view === undefined ? -1 : Math.max(0, view.lastReadIssuedMs - view.firstSeenMs);
}

/**
 * The keeper incarnations seen for a host. Writes issued before a power-off may still land after it,
 * so counters can move; only a new incarnation proves the host booted again.
 */
export function heartbeatKey(state: AgentState, host: string): string {
  let highest = -1;
  for (const views of state.dsView.values()) highest = Math.max(highest, views.get(host)?.incarnation ?? -1);
  return String(highest);
}

/** Proof 1: the BMC confirmed power off and the host has not been seen alive since. */
export function fenceProofValid(state: AgentState, host: string): boolean {
  const view = state.master?.hosts.get(host);
  return view !== undefined && view.fence === "fenced" && heartbeatKey(state, host) === view.fencedHeartbeat;
}

export function stepMaster(state: AgentState, out: AgentEffect[]): void {
  const master = state.master!;
  readHeartbeats(state, out);
  writeMasterLeases(state, master, out);
  for (const name of sortedHostNames(master)) classify(state, master, name, out);
  rebuildRunningOn(state, master);
  stepEvacuations(state, out);
  stepRestarts(state, out);
}

function writeMasterLeases(state: AgentState, master: MasterState, out: AgentEffect[]): void {
  for (const datastore of readableDatastores(state)) {
    const view = state.masterLeaseView.get(datastore);
    const holder = view?.holder;
    const mayHold =
      view === undefined ||
      holder === state.self ||
      view.isolated ||
      view.lastReadIssuedMs - view.firstSeenMs >= state.spec.timing.leaseTtlMs ||
      (holder !== undefined && (fenceProofValid(state, holder) || followsMe(state, holder)));
    if (!mayHold) continue;
    out.push(masterLeaseWrite(state, master, datastore, false));
  }
}

function followsMe(state: AgentState, host: string): boolean {
  const view = state.master?.hosts.get(host);
  return view !== undefined && view.state === "connected" && view.lastHeartbeat?.master === state.self;
}

function classify(state: AgentState, master: MasterState, name: string, out: AgentEffect[]): void {
  const view = master.hosts.get(name)!;
  const timing = state.spec.timing;
  const last = state.lastHeardMs.get(name);
  // Heartbeats sent before a confirmed fence say nothing about the host now.
  const heard =
    last !== undefined &&
    state.nowMs - last <= timing.slaveUnreachableAfterMs &&
    (view.fence !== "fenced" || last > view.fenceConfirmedAtMs);
  const peer = state.peers.get(name);
  view.lastHeartbeat = peer ?? null;
  let next: HostState;
  if (view.fence === "fencing") {
    next = "fencing";
    if (state.nowMs - view.fenceIssuedAtMs >= timing.fenceTimeoutMs) {
      view.fence = "failed";
      emit(out, {
        type: "fenceFailed",
        host: state.self,
        subject: name,
        reason: "no answer from the BMC in time",
      });
    }
  } else if (heard && peer !== undefined) {
    if (view.fence !== "none") view.fence = "none";
    view.fenceAttempts = 0;
    view.pingOk = null;
    next = peer.maintenance ? "maintenance" : peer.standby ? "standby" : "connected";
  } else if (view.fence === "fenced" && fenceProofValid(state, name)) {
    next = "fenced";
  } else {
    next = judgeSilentHost(state, view, name, out);
  }
  if (next === "dead") {
    if (view.state !== "dead" && view.state !== "fencing" && view.state !== "fenced") {
      emit(out, { type: "hostDeclaredDead", host: state.self, subject: name });
    }
    maybeFence(state, view, name, out);
  }
  if (view.fence === "fencing") next = "fencing";
  setHostState(state, master, view, name, next, out);
}

function judgeSilentHost(state: AgentState, view: HostView, name: string, out: AgentEffect[]): HostState {
  const timing = state.spec.timing;
  if (state.nowMs - view.pingIssuedAtMs >= timing.slaveUnreachableAfterMs) {
    view.pingIssuedAtMs = state.nowMs;
    out.push({ type: "ping", target: name });
  }
  const host = state.hostSpecs.get(name)!;
  const readable = new Set(readableDatastores(state));
  // Only a heartbeat that changed after the host fell silent proves it is alive; one still
  // settling from before could be a host that just died.
  const silentSinceMs =
    (state.lastHeardMs.get(name) ?? Number.NEGATIVE_INFINITY) +
    timing.heartbeatIntervalMs +
    timing.renewPeriodMs;
  let fresh = false;
  let isolated = false;
  let unknown = false;
  for (const ds of host.datastores) {
    if (!readable.has(ds)) continue;
    const heartbeat = state.dsView.get(ds)?.get(name);
    const age = unchangedForMs(heartbeat);
    if (age < 0) unknown = true;
    else if (age < timing.datastoreHeartbeatStaleMs) {
      if (heartbeat!.firstSeenMs <= silentSinceMs) unknown = true;
      else {
        fresh = true;
        if (heartbeat!.isolated) isolated = true;
      }
    }
  }
  if (fresh) return isolated ? "isolated" : "partitioned";
  // Without a datastore heartbeat this master can read, staleness is unproven: never declare dead.
  const judgeable = host.datastores.some((ds) => readable.has(ds));
  if (unknown || !judgeable || view.pingOk === null) return "unreachable";
  // Answers ping but writes no heartbeat anywhere: the agent and keeper are down, the host is not.
  return view.pingOk ? "unreachable" : "dead";
}

function maybeFence(state: AgentState, view: HostView, name: string, out: AgentEffect[]): void {
  const host = state.hostSpecs.get(name)!;
  if (!host.bmc || view.fence === "fenced" || view.fence === "fencing") return;
  if (view.fenceAttempts >= fenceAttemptsMax) return;
  if (view.fence === "failed" && state.nowMs - view.fenceIssuedAtMs < state.spec.timing.fenceTimeoutMs)
    return;
  view.fence = "fencing";
  view.fenceIssuedAtMs = state.nowMs;
  view.fenceAttempts += 1;
  out.push({ type: "fenceHost", host: name });
  emit(out, { type: "fenceStarted", host: state.self, subject: name });
}

export function onFenceResult(
  state: AgentState,
  input: Extract<AgentInput, { type: "fenceResult" }>,
  out: AgentEffect[],
): void {
  const master = state.master;
  const view = master?.hosts.get(input.host);
  if (master === null || view === undefined || view.fence !== "fencing") return;
  if (input.poweredOff) {
    view.fence = "fenced";
    view.fenceConfirmedAtMs = state.nowMs;
    view.fencedHeartbeat = heartbeatKey(state, input.host);
    emit(out, { type: "fenceSucceeded", host: state.self, subject: input.host, reason: input.detail });
    setHostState(state, master, view, input.host, "fenced", out);
  } else {
    view.fence = "failed";
    emit(out, { type: "fenceFailed", host: state.self, subject: input.host, reason: input.detail });
  }
}

function setHostState(
  state: AgentState,
  master: MasterState,
  view: HostView,
  name: string,
  next: HostState,
  out: AgentEffect[],
): void {
  if (view.state === next) return;
  view.state = next;
  view.stateSinceMs = state.nowMs;
  master.capacityGeneration += 1;
  emit(out, { type: "hostStateChanged", host: state.self, subject: name, state: next });
}
