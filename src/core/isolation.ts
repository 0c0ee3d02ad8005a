// Host isolation: a host that hears no agent pings its isolation addresses and declares itself
// isolated only if none answers. The response (powerOff / shutdown) is applied only when another,
// healthy master can restart the VMs: DESIGN section 3, rule 9. The naive rule ("some master lease
// exists") powers every VM off on a total network loss with nobody left to restart them.
import { type AgentState, emit } from "./agent-state.ts";
import { enterElection } from "./election.ts";
import type { AgentEffect } from "./io.ts";
import { stopForIsolation } from "./local-vms.ts";

/** How long after declaring isolation a master's heartbeat must be written to prove it is not isolated too. */
export function isolationMarginMs(state: AgentState): number {
  const t = state.spec.timing;
  return t.isolationDetectMs + t.heartbeatIntervalMs + t.renewPeriodMs;
}

export function stepIsolation(state: AgentState, out: AgentEffect[]): void {
  const timing = state.spec.timing;
  if (state.spec.hosts.length < 2) return;
  const iso = state.isolation;
  if (iso.state === "none") {
    if (state.nowMs - state.lastHeardAnyMs < timing.isolationDetectMs) return;
    if (state.nowMs - iso.pingIssuedAtMs < timing.isolationDetectMs) return;
    iso.state = "pinging";
    iso.pingIssuedAtMs = state.nowMs;
    iso.pingsPending = state.isolationAddresses.length;
    iso.pingsFailed = 0;
    for (const target of state.isolationAddresses) out.push({ type: "ping", target });
    return;
  }
  if (iso.state === "pinging") return;
  if (iso.responseApplied || state.spec.isolationResponse === "leaveOn") return;
  if (state.nowMs - iso.declaredAtMs < timing.isolationResponseDelayMs) return;
  applyResponse(state, out);
}

export function onIsolationPing(state: AgentState, ok: boolean, out: AgentEffect[]): void {
  const iso = state.isolation;
  if (iso.state !== "pinging") return;
  iso.pingsPending -= 1;
  if (ok) {
    // An isolation address answers: this host is partitioned, not isolated. Keep electing.
    iso.state = "none";
    return;
  }
  iso.pingsFailed += 1;
  if (iso.pingsPending > 0) return;
  if (state.nowMs - state.lastHeardAnyMs < state.spec.timing.isolationDetectMs) {
    iso.state = "none";
    return;
  }
  iso.state = "isolated";
  iso.declaredAtMs = state.nowMs;
  iso.counterAfterMargin = new Map();
  iso.responseApplied = false;
  iso.waitingAlarmed = false;
  emit(out, {
    type: "isolationDeclared",
    host: state.self,
    reason: `no agent heard for ${Math.round(state.nowMs - state.lastHeardAnyMs)} ms and no isolation address answered`,
  });
  if (state.role === "master") enterElection(state, "isolated", out);
}

/** Called when any agent is heard again. */
export function endIsolation(state: AgentState, out: AgentEffect[]): void {
  if (state.isolation.state === "none") return;
  if (state.isolation.state === "isolated") emit(out, { type: "isolationEnded", host: state.self });
  state.isolation.state = "none";
}

/** Rule 9, per datastore: a different, non-isolated master wrote its lease after the margin. */
export function healthyMasterHolds(state: AgentState, datastore: string): boolean {
  const view = state.masterLeaseView.get(datastore);
  const before = state.isolation.counterAfterMargin.get(datastore);
  if (view === undefined || before === undefined) return false;
  return view.holder !== state.self && !view.isolated && view.counter > before;
}

/** Remembers master.lease counters read once the margin has passed; later counters prove a healthy master. */
export function noteMasterLeaseForIsolation(state: AgentState, datastore: string, issuedAtMs: number): void {
  const iso = state.isolation;
  if (iso.state !== "isolated" || iso.counterAfterMargin.has(datastore)) return;
  if (issuedAtMs < iso.declaredAtMs + isolationMarginMs(state)) return;
  const view = state.masterLeaseView.get(datastore);
  iso.counterAfterMargin.set(datastore, view === undefined ? -1 : view.counter);
}

function applyResponse(state: AgentState, out: AgentEffect[]): void {
  const mode = state.spec.isolationResponse === "shutdown" ? "shutdown" : "kill";
  let waiting = 0;
  for (const [name, vm] of [...state.local.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (vm.state === "down" || vm.stopReason !== null) continue;
    const spec = state.vmSpecs.get(name);
    if (spec === undefined || !spec.ha || spec.restartPriority === "disabled") continue;
    const lostDatastore = state.fencedDatastores.has(spec.datastore);
    if (!lostDatastore && !healthyMasterHolds(state, spec.datastore)) {
      waiting += 1;
      continue;
    }
    stopForIsolation(state, name, mode, out);
  }
  if (waiting === 0) state.isolation.responseApplied = true;
  else if (
    state.nowMs - state.isolation.declaredAtMs >= isolationMarginMs(state) * 2 &&
    !state.isolation.waitingAlarmed
  ) {
    // VMs stay on because nobody could restart them; say so once per isolation.
    state.isolation.waitingAlarmed = true;
    emit(out, {
      type: "isolationResponseWaiting",
      host: state.self,
      reason: `${waiting} VM(s) left on: no healthy master holds their datastore's master lease`,
    });
  }
}
