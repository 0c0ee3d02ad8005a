// Master election (vSphere FDM style): one master per connected partition. The candidate that sees
// the most datastores wins, then the higher election priority, then the lower host name. Hosts in
// maintenance or standby, isolated hosts and hosts being fenced do not stand.
import { type AgentState, betterCandidate, emit, sortedKeys } from "./agent-state.ts";
import type { AgentEffect } from "./io.ts";
import { becomeMaster, dropMaster, sortedHostNames } from "./master.ts";
import type { HeartbeatMsg } from "./records.ts";
import { heartbeatVmList } from "./vm-lists.ts";

/** A slave's heartbeat fences nobody; messages are never mutated, so one empty list serves all. */
const notFencing: string[] = [];

export function datastoresSeen(state: AgentState): number {
  const host = state.hostSpecs.get(state.self);
  if (host === undefined) return 0;
  let seen = 0;
  for (const ds of host.datastores) if (!state.fencedDatastores.has(ds)) seen += 1;
  return seen;
}

export function selfEligible(state: AgentState): boolean {
  return (
    !state.maintenance &&
    !state.standby &&
    state.isolation.state !== "isolated" &&
    !state.fencingHosts.has(state.self) &&
    state.hostSpecs.has(state.self)
  );
}

function selfCandidate(state: AgentState) {
  return {
    name: state.self,
    datastoresSeen: datastoresSeen(state),
    electionPriority: state.hostSpecs.get(state.self)?.electionPriority ?? 0,
  };
}

function heardRecently(state: AgentState, host: string, windowMs: number): boolean {
  const last = state.lastHeardMs.get(host);
  return last !== undefined && state.nowMs - last <= windowMs;
}

export function enterElection(state: AgentState, reason: string, out: AgentEffect[]): void {
  if (state.role === "master") emit(out, { type: "masterSteppedDown", host: state.self, reason });
  else if (state.role === "slave") emit(out, { type: "electionStarted", host: state.self, reason });
  dropMaster(state, out);
  state.role = "election";
  state.roleSinceMs = state.nowMs;
  state.masterId = null;
  state.nextHeartbeatAtMs = state.nowMs;
}

function follow(state: AgentState, master: string, out: AgentEffect[]): void {
  if (state.role === "master") {
    emit(out, { type: "masterSteppedDown", host: state.self, reason: `${master} is a better master` });
  }
  dropMaster(state, out);
  state.role = "slave";
  state.roleSinceMs = state.nowMs;
  state.masterId = master;
}

export function stepElection(state: AgentState, out: AgentEffect[]): void {
  const timing = state.spec.timing;
  if (state.role === "master") {
    if (!selfEligible(state)) enterElection(state, "no longer eligible to be master", out);
    return;
  }
  if (state.role === "slave") {
    const master = state.masterId === null ? undefined : state.peers.get(state.masterId);
    const lost =
      state.masterId === null || !heardRecently(state, state.masterId, timing.slaveUnreachableAfterMs);
    if (lost || master === undefined || master.role !== "master") {
      enterElection(state, `master ${state.masterId ?? "none"} lost`, out);
    }
    return;
  }
  // Election: follow a live master if one is heard, else decide once the window has passed.
  let bestMaster: HeartbeatMsg | null = null;
  for (const name of sortedKeys(state.peers)) {
    const peer = state.peers.get(name)!;
    if (peer.role !== "master" || !heardRecently(state, name, timing.slaveUnreachableAfterMs)) continue;
    if (bestMaster === null || betterCandidate(rank(peer), rank(bestMaster))) bestMaster = peer;
  }
  if (bestMaster !== null) {
    follow(state, bestMaster.from, out);
    return;
  }
  if (state.nowMs - state.roleSinceMs < timing.electionTimeoutMs) return;
  if (!selfEligible(state)) return;
  const me = selfCandidate(state);
  for (const name of sortedKeys(state.peers)) {
    const peer = state.peers.get(name)!;
    if (!peer.eligible || !heardRecently(state, name, timing.electionTimeoutMs)) continue;
    if (betterCandidate(rank(peer), me)) return; // a better candidate will claim; wait for its heartbeat
  }
  becomeMaster(state, out);
}

function rank(msg: HeartbeatMsg) {
  return { name: msg.from, datastoresSeen: msg.datastoresSeen, electionPriority: msg.electionPriority };
}

export function onHeartbeat(state: AgentState, msg: HeartbeatMsg, out: AgentEffect[]): void {
  if (msg.from === state.self || !state.hostSpecs.has(msg.from)) return;
  state.peers.set(msg.from, msg);
  state.lastHeardMs.set(msg.from, state.nowMs);
  state.lastHeardAnyMs = state.nowMs;
  if (msg.role === "master") {
    // Every master heartbeat carries the list, nearly always unchanged: keep the set then.
    if (
      msg.fencing.length !== state.fencingHosts.size ||
      !msg.fencing.every((h) => state.fencingHosts.has(h))
    )
      state.fencingHosts = new Set(msg.fencing);
    if (state.role === "master" && betterCandidate(rank(msg), selfCandidate(state)))
      follow(state, msg.from, out);
    else if (state.role === "slave" && state.masterId !== msg.from) {
      const current = state.masterId === null ? undefined : state.peers.get(state.masterId);
      if (current === undefined || current.role !== "master" || betterCandidate(rank(msg), rank(current))) {
        state.masterId = msg.from;
      }
    }
  }
}

export function ownHeartbeat(state: AgentState): HeartbeatMsg {
  const vms = heartbeatVmList(state);
  return {
    type: "heartbeat",
    from: state.self,
    role: state.role,
    master: state.role === "master" ? state.self : state.masterId,
    datastoresSeen: datastoresSeen(state),
    electionPriority: state.hostSpecs.get(state.self)?.electionPriority ?? 0,
    eligible: selfEligible(state),
    isolated: state.isolation.state === "isolated",
    maintenance: state.maintenance,
    standby: state.standby,
    fencing: state.master === null ? notFencing : fencingList(state),
    vms,
  };
}

function fencingList(state: AgentState): string[] {
  const list: string[] = [];
  for (const name of sortedHostNames(state.master!)) {
    const view = state.master!.hosts.get(name)!;
    if (view.fence === "fencing" || view.state === "dead") list.push(name);
  }
  return list;
}

/** Masters and candidates talk to every host; slaves only to their master. */
export function sendHeartbeats(state: AgentState, out: AgentEffect[]): void {
  if (state.nowMs < state.nextHeartbeatAtMs) return;
  state.nextHeartbeatAtMs = state.nowMs + state.spec.timing.heartbeatIntervalMs;
  const msg = ownHeartbeat(state);
  if (state.role === "slave" && state.masterId !== null) {
    out.push({ type: "send", to: state.masterId, msg });
    return;
  }
  for (const host of state.spec.hosts) {
    if (host.name !== state.self) out.push({ type: "send", to: host.name, msg });
  }
}
