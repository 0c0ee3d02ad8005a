// The host agent's engine: step(state, input) -> effects. One per host; the production agent and
// the simulator both drive it. Time arrives only as tick.nowMs (a local monotonic clock).
import { type AgentOptions, type AgentState, emit, indexSpec } from "./agent-state.ts";
import type { ClusterSpec } from "./cluster.ts";
import { onHeartbeat, sendHeartbeats, stepElection } from "./election.ts";
import type { AgentEffect, AgentInput } from "./io.ts";
import { endIsolation, onIsolationPing, stepIsolation } from "./isolation.ts";
import { assertNever } from "./keeper.ts";
import { onKeeperReport } from "./keeper-report.ts";
import {
  onConfirmDown,
  onLocalLeaseCreated,
  onMigrateRequest,
  onMigrateResult,
  onStartRequest,
  onVmStartResult,
  reconcile,
  refusePendingStarts,
  stepLocalVms,
} from "./local-vms.ts";
import { ensureHostViews, onFenceResult, onHeartbeatsRead, readHeartbeats, stepMaster } from "./master.ts";
import { onMigrateRequested } from "./migrate.ts";
import { onPowerOnRequested } from "./power-on.ts";
import { onMasterLeaseCreated, onVmRecordsRead, onVmStartFailed } from "./restart.ts";
import { onVmsListed } from "./vm-listing.ts";
import { newVmListCache } from "./vm-lists.ts";

/** Effects are never mutated, so this one, sent on every tick, is shared. */
const listVmsEffect: AgentEffect = { type: "listVms" };

export function initAgent(
  self: string,
  spec: ClusterSpec,
  nowMs: number,
  options: AgentOptions = {},
): AgentState {
  const state: AgentState = {
    self,
    spec,
    hostSpecs: new Map(),
    vmSpecs: new Map(),
    vmNamesByDatastore: new Map(),
    monitoring: null,
    isolationAddresses: options.isolationAddresses ?? ["gateway"],
    liveMigration: options.liveMigration ?? true,
    nowMs,
    startedAtMs: nowMs,
    role: "election",
    roleSinceMs: nowMs,
    masterId: null,
    lastHeardMs: new Map(),
    lastHeardAnyMs: nowMs,
    peers: new Map(),
    maintenance: false,
    maintenanceAnnounced: false,
    standby: false,
    fencingHosts: new Set(),
    fencedDatastores: new Set(),
    leaseRenewedAtMs: new Map(),
    fenceCounts: new Map(),
    isolation: {
      state: "none",
      pingIssuedAtMs: 0,
      pingsPending: 0,
      pingsFailed: 0,
      declaredAtMs: 0,
      counterAfterMargin: new Map(),
      responseApplied: false,
      waitingAlarmed: false,
    },
    local: new Map(),
    localVersion: 0,
    quietLocalVersion: -1,
    vmLists: newVmListCache(),
    lastListing: { vms: null, localVersion: -1 },
    pendingStarts: new Map(),
    endedEpochs: new Map(),
    listedOnce: false,
    reconcilePending: null,
    reconcileRequested: new Set(),
    nextHeartbeatAtMs: nowMs,
    dsView: new Map(),
    masterLeaseView: new Map(),
    master: null,
    unsafeRestartWithoutProof: options.unsafeRestartWithoutProof ?? false,
    autostart: new Set(options.autostart ?? []),
    autostartClaims: new Set(),
  };
  indexSpec(state, spec);
  return state;
}

export function agentStep(state: AgentState, input: AgentInput): AgentEffect[] {
  const out: AgentEffect[] = [];
  switch (input.type) {
    case "tick":
      state.nowMs = Math.max(state.nowMs, input.nowMs);
      stepElection(state, out);
      stepIsolation(state, out);
      if (state.master !== null) stepMaster(state, out);
      else if (state.role === "election" || state.isolation.state === "isolated") readHeartbeats(state, out);
      stepLocalVms(state, out);
      sendHeartbeats(state, out);
      // Last, so the listing reflects this tick's starts, stops and resets.
      out.push(listVmsEffect);
      break;
    case "message":
      switch (input.msg.type) {
        case "heartbeat":
          onHeartbeat(state, input.msg, out);
          endIsolation(state, out);
          break;
        case "startVm":
          onStartRequest(state, input.msg, out);
          break;
        case "vmStartFailed":
          onVmStartFailed(state, input.msg, out);
          break;
        case "migrateVm":
          onMigrateRequest(state, input.msg, out);
          break;
        case "confirmDown":
          onConfirmDown(state, input.msg, out);
          break;
        default:
          assertNever(input.msg);
      }
      break;
    case "pingResult":
      if (state.master?.hosts.has(input.target)) {
        const view = state.master.hosts.get(input.target)!;
        view.pingOk = input.ok;
      } else onIsolationPing(state, input.ok, out);
      break;
    case "heartbeatsRead":
      onHeartbeatsRead(state, input, out);
      break;
    case "vmRecordsRead":
      for (const path of input.corrupt) emit(out, { type: "corruptRecord", host: state.self, reason: path });
      if (input.ok) {
        reconcile(state, input.datastore, input.records, out);
        onVmRecordsRead(state, input.records);
      } else {
        state.reconcileRequested.delete(input.datastore);
        refusePendingStarts(state, input.datastore, out);
      }
      break;
    case "leaseCreated":
      if (!onLocalLeaseCreated(state, input, out)) onMasterLeaseCreated(state, input, out);
      break;
    case "fenceResult":
      onFenceResult(state, input, out);
      break;
    case "vmStartResult":
      onVmStartResult(state, input, out);
      break;
    case "migrateResult":
      onMigrateResult(state, input, out);
      break;
    case "vmsListed":
      onVmsListed(state, input.vms, out);
      break;
    case "keeperReport":
      onKeeperReport(state, input);
      break;
    case "maintenanceRequested":
      state.maintenance = input.enable;
      state.maintenanceAnnounced = false;
      if (!input.enable) emit(out, { type: "maintenanceExited", host: state.self });
      break;
    case "powerOnRequested":
      onPowerOnRequested(state, input.vm, input.host, out);
      break;
    case "migrateRequested":
      onMigrateRequested(state, input.vm, input.target, out);
      break;
    case "configChanged":
      indexSpec(state, input.cluster);
      ensureHostViews(state);
      if (state.master !== null) state.master.capacityGeneration += 1;
      break;
    default:
      assertNever(input);
  }
  return out;
}
