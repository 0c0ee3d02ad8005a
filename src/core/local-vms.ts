// The VMs this host runs: starts the master asked for (after checking the lease), local restarts of
// crashed VMs, guest-heartbeat resets, evacuation for maintenance, and the poweredoff records that
// let the master restart a VM elsewhere (DESIGN section 3, proof 3 and rule 6).
import { type AgentState, emit, type LocalVm, localChanged } from "./agent-state.ts";
import type { AgentEffect, AgentInput, VmRecords } from "./io.ts";
import { readableDatastores } from "./master.ts";
import {
  type ConfirmDownMsg,
  type MigrateVmMsg,
  type PoweredOffRecord,
  type RestartProof,
  recordFormatVersion,
  type StartVmMsg,
} from "./records.ts";
import { onVmStartFailed } from "./restart.ts";
import { keeperVmList } from "./vm-lists.ts";

export function newLocal(
  agent: AgentState,
  datastore: string,
  epoch: number,
  state: LocalVm["state"],
  nowMs: number,
  proof: RestartProof,
): LocalVm {
  return {
    fenceCount: agent.fenceCounts.get(datastore) ?? 0,
    epoch,
    state,
    startedAtMs: nowMs,
    lastGuestHeartbeatMs: null,
    startProof: proof,
    requestedBy: null,
    localRestarts: 0,
    nextLocalRestartAtMs: 0,
    resetTimesMs: [],
    resetLimitAlarmed: false,
    stopReason: null,
    stopMode: "kill",
    stopIssuedAtMs: 0,
    reportDown: false,
    migration: "none",
    migratingTo: null,
    migrationEpoch: 0,
  };
}

/** Rule 5: start only once the lease record shows this host holds exactly that epoch. */
export function onStartRequest(state: AgentState, msg: StartVmMsg, out: AgentEffect[]): void {
  const spec = state.vmSpecs.get(msg.vm);
  const current = state.local.get(msg.vm);
  if (current !== undefined && current.state !== "down" && current.epoch >= msg.epoch) return;
  if (spec === undefined) {
    refuseStart(state, msg, "unknown VM", out);
    return;
  }
  state.pendingStarts.set(msg.vm, { epoch: msg.epoch, proof: msg.proof, from: msg.from });
  out.push({ type: "readVmRecords", datastore: spec.datastore, vms: [msg.vm] });
}

function refuseStart(
  state: AgentState,
  msg: { vm: string; epoch: number; from: string },
  reason: string,
  out: AgentEffect[],
): void {
  const failed = { type: "vmStartFailed" as const, from: state.self, vm: msg.vm, epoch: msg.epoch, reason };
  if (msg.from === state.self) onVmStartFailed(state, failed, out);
  else out.push({ type: "send", to: msg.from, msg: failed });
}

/**
 * The master sees this host holding a lease for a VM it does not run (a start that never arrived).
 * If nothing here runs or is starting it, end that epoch: report it down and never start it.
 */
export function onConfirmDown(state: AgentState, msg: ConfirmDownMsg, out: AgentEffect[]): void {
  const local = state.local.get(msg.vm);
  if (local !== undefined || state.pendingStarts.has(msg.vm)) return;
  // Also when this epoch already ended here: its poweredoff record may never have reached the
  // datastore (lost with it), and writing it again is true either way, as this host never runs
  // an ended epoch again.
  writePoweredOff(state, msg.vm, msg.epoch, "stopped", out);
}

/** The records could not be read: starts waiting on them are refused, so the master tries elsewhere. */
export function refusePendingStarts(state: AgentState, datastore: string, out: AgentEffect[]): void {
  for (const [vm, pending] of [...state.pendingStarts]) {
    if (state.vmSpecs.get(vm)?.datastore !== datastore) continue;
    state.pendingStarts.delete(vm);
    refuseStart(state, { vm, epoch: pending.epoch, from: pending.from }, `cannot read ${datastore}`, out);
  }
}

/** Checks pending starts against the records just read, and reconciles after an agent (re)start. */
export function reconcile(
  state: AgentState,
  datastore: string,
  records: VmRecords[],
  out: AgentEffect[],
): void {
  // Reconcile reads list every VM of the datastore; most have no start waiting.
  for (const record of state.pendingStarts.size === 0 ? [] : records) {
    const pending = state.pendingStarts.get(record.vm);
    if (pending === undefined) continue;
    state.pendingStarts.delete(record.vm);
    const lease = record.lease;
    const ended = state.endedEpochs.get(record.vm) ?? 0;
    const problem =
      lease === null || lease.epoch !== pending.epoch
        ? `lease epoch is ${lease?.epoch ?? 0}, not ${pending.epoch}`
        : lease.holder !== state.self
          ? `lease ${pending.epoch} is held by ${lease.holder}`
          : record.poweredOff?.epoch === pending.epoch || ended >= pending.epoch
            ? `epoch ${pending.epoch} was already reported down`
            : !leaseValid(state, datastore)
              ? `this host cannot renew its lease on ${datastore}`
              : null;
    if (problem !== null) {
      // An epoch this host holds but will not run ends here, so nobody waits for it to expire.
      if (lease?.holder === state.self && lease.epoch === pending.epoch && !state.local.has(record.vm)) {
        writePoweredOff(state, record.vm, pending.epoch, "startFailed", out);
      }
      refuseStart(state, { vm: record.vm, epoch: pending.epoch, from: pending.from }, problem, out);
      continue;
    }
    const spec = state.vmSpecs.get(record.vm)!;
    const vm = newLocal(state, datastore, pending.epoch, "starting", state.nowMs, pending.proof);
    vm.requestedBy = pending.from;
    state.local.set(record.vm, vm);
    localChanged(state);
    out.push({ type: "startVm", spec, epoch: pending.epoch });
  }
  const pendingReconcile = state.reconcilePending;
  if (pendingReconcile === null || !state.reconcileRequested.delete(datastore)) return;
  if (!pendingReconcile.delete(datastore)) return;
  // After a (re)start: VMs to power on here that never ran under HA get their first lease.
  for (const record of records) {
    if (record.lease !== null || !state.autostart.has(record.vm) || state.local.has(record.vm)) continue;
    state.autostartClaims.add(record.vm);
    out.push({
      type: "createLease",
      datastore,
      record: {
        v: recordFormatVersion,
        vm: record.vm,
        epoch: 1,
        holder: state.self,
        proof: "initialPowerOn",
      },
    });
  }
  // After a (re)start: leases this host holds for VMs that do not run here are reported down.
  for (const record of records) {
    const lease = record.lease;
    if (lease === null || lease.holder !== state.self || record.poweredOff?.epoch === lease.epoch) continue;
    if (state.local.has(record.vm) || state.pendingStarts.has(record.vm)) continue;
    writePoweredOff(state, record.vm, lease.epoch, "stopped", out);
  }
}

function writePoweredOff(
  state: AgentState,
  vm: string,
  epoch: number,
  reason: PoweredOffRecord["reason"],
  out: AgentEffect[],
): void {
  const spec = state.vmSpecs.get(vm);
  if (spec === undefined) return;
  state.endedEpochs.set(vm, Math.max(epoch, state.endedEpochs.get(vm) ?? 0));
  out.push({
    type: "writePoweredOff",
    datastore: spec.datastore,
    record: { v: recordFormatVersion, vm, epoch, host: state.self, reason },
  });
}

/** Reads each datastore's VM records once it is readable (a booting keeper has renewed nothing yet). */
function requestReconcileReads(state: AgentState, out: AgentEffect[]): void {
  const pending = state.reconcilePending;
  if (pending === null || pending.size === 0) return;
  // Only once the keeper holds a valid lease there: autostarts and reports need it.
  for (const datastore of readableDatastores(state)) {
    if (!pending.has(datastore) || state.reconcileRequested.has(datastore) || !leaseValid(state, datastore))
      continue;
    state.reconcileRequested.add(datastore);
    const vms = [...(state.vmNamesByDatastore.get(datastore) ?? [])];
    out.push({ type: "readVmRecords", datastore, vms });
  }
}

export function scheduleLocalRestart(state: AgentState, vm: LocalVm): void {
  const timing = state.spec.timing;
  if (vm.localRestarts >= timing.localRestartAttemptsMax) {
    vm.reportDown = true;
    return;
  }
  vm.nextLocalRestartAtMs = state.nowMs + timing.restartBackoffMs * (2 ** vm.localRestarts - 1);
}

export function onVmStartResult(
  state: AgentState,
  input: Extract<AgentInput, { type: "vmStartResult" }>,
  out: AgentEffect[],
): void {
  const vm = state.local.get(input.vm);
  if (vm === undefined || vm.state !== "starting" || vm.epoch !== input.epoch) return;
  localChanged(state);
  if (input.ok) {
    vm.state = "running";
    vm.startedAtMs = state.nowMs;
    emit(out, {
      type: "vmStarted",
      host: state.self,
      vm: input.vm,
      epoch: input.epoch,
      proof: vm.startProof,
    });
    return;
  }
  emit(out, {
    type: "vmStartFailed",
    host: state.self,
    vm: input.vm,
    epoch: input.epoch,
    reason: input.reason,
  });
  vm.state = "down";
  if (vm.requestedBy !== null) {
    const from = vm.requestedBy;
    state.local.delete(input.vm);
    writePoweredOff(state, input.vm, input.epoch, "startFailed", out);
    refuseStart(state, { vm: input.vm, epoch: input.epoch, from }, input.reason, out);
    return;
  }
  scheduleLocalRestart(state, vm);
}

export function onMigrateRequest(state: AgentState, msg: MigrateVmMsg, out: AgentEffect[]): void {
  const vm = state.local.get(msg.vm);
  const spec = state.vmSpecs.get(msg.vm);
  if (vm === undefined || spec === undefined || vm.state !== "running" || vm.migration !== "none") return;
  localChanged(state);
  if (!state.liveMigration) {
    stopForHa(state, msg.vm, vm, "maintenance", "shutdown", out);
    return;
  }
  vm.migration = "claiming";
  vm.migratingTo = msg.target;
  vm.migrationEpoch = vm.epoch + 1;
  out.push({
    type: "createLease",
    datastore: spec.datastore,
    record: {
      v: recordFormatVersion,
      vm: msg.vm,
      epoch: vm.migrationEpoch,
      holder: msg.target,
      proof: "migration",
    },
  });
}

/** Returns false when the lease was not one of this host's migrations. */
export function onLocalLeaseCreated(
  state: AgentState,
  input: Extract<AgentInput, { type: "leaseCreated" }>,
  out: AgentEffect[],
): boolean {
  if (input.epoch === 1 && state.autostartClaims.delete(input.vm)) {
    if (input.ok) {
      onStartRequest(
        state,
        { type: "startVm", from: state.self, vm: input.vm, epoch: 1, proof: "initialPowerOn" },
        out,
      );
    }
    return true;
  }
  const vm = state.local.get(input.vm);
  if (vm === undefined || vm.migration !== "claiming" || vm.migrationEpoch !== input.epoch) return false;
  localChanged(state);
  if (!input.ok) {
    // Another epoch exists: this copy's lease is gone (rule 7).
    vm.migration = "none";
    vm.epoch = input.epoch;
    stopForHa(state, input.vm, vm, "lostLease", "kill", out);
    return true;
  }
  vm.migration = "migrating";
  out.push({ type: "migrateVm", vm: input.vm, target: vm.migratingTo!, epoch: input.epoch });
  return true;
}

export function onMigrateResult(
  state: AgentState,
  input: Extract<AgentInput, { type: "migrateResult" }>,
  out: AgentEffect[],
): void {
  const vm = state.local.get(input.vm);
  if (vm === undefined || vm.migration !== "migrating") return;
  localChanged(state);
  if (input.ok) {
    state.local.delete(input.vm);
    emit(out, {
      type: "vmMigrated",
      host: state.self,
      vm: input.vm,
      target: input.target,
      epoch: vm.migrationEpoch,
    });
    return;
  }
  // The new epoch belongs to the target now: this copy must die and be reported down under it.
  vm.migration = "none";
  vm.epoch = vm.migrationEpoch;
  stopForHa(state, input.vm, vm, "maintenance", "kill", out);
}

function stopForHa(
  state: AgentState,
  name: string,
  vm: LocalVm,
  reason: NonNullable<LocalVm["stopReason"]>,
  mode: LocalVm["stopMode"],
  out: AgentEffect[],
): void {
  localChanged(state);
  vm.stopReason = reason;
  vm.stopMode = mode;
  vm.stopIssuedAtMs = state.nowMs;
  vm.state = "stopping";
  out.push({ type: "stopVm", vm: name, mode });
}

export function stopForIsolation(
  state: AgentState,
  name: string,
  mode: LocalVm["stopMode"],
  out: AgentEffect[],
): void {
  const vm = state.local.get(name);
  if (vm !== undefined) stopForHa(state, name, vm, "isolation", mode, out);
}

export function stepLocalVms(state: AgentState, out: AgentEffect[]): void {
  const timing = state.spec.timing;
  requestReconcileReads(state, out);
  // The VMs not down before this pass: a VM restarted below is reported from the next tick on.
  const vms = keeperVmList(state);
  // Each VM's decision is independent of the others, so map order (deterministic) will do. The
  // pass only deletes the entry it visits, which Map iteration allows.
  for (const [name, vm] of localVmsNeedingAttention(state)) {
    if (vm.state === "down") {
      const spec = state.vmSpecs.get(name);
      if (vm.reportDown) {
        if (spec !== undefined && state.fencedDatastores.has(spec.datastore)) continue;
        state.local.delete(name);
        localChanged(state);
        writePoweredOff(state, name, vm.epoch, vm.stopReason ?? "stopped", out);
      } else if (spec !== undefined && leaseLostSince(state, spec.datastore, vm)) {
        vm.stopReason = "lostLease";
        vm.reportDown = true;
        emit(out, { type: "vmLeaseLost", host: state.self, vm: name, epoch: vm.epoch });
      } else if (
        spec !== undefined &&
        vm.nextLocalRestartAtMs <= state.nowMs &&
        canRunHere(state, spec.datastore)
      ) {
        vm.localRestarts += 1;
        localChanged(state);
        vm.state = "starting";
        vm.startProof = "localRestart";
        vm.startedAtMs = state.nowMs;
        out.push({ type: "startVm", spec, epoch: vm.epoch });
      }
      continue;
    }
    if (
      vm.state === "stopping" &&
      vm.stopMode === "shutdown" &&
      state.nowMs - vm.stopIssuedAtMs >= timing.shutdownTimeoutMs
    ) {
      vm.stopMode = "kill";
      vm.stopIssuedAtMs = state.nowMs;
      out.push({ type: "stopVm", vm: name, mode: "kill" });
    }
    if (vm.state === "running") {
      if (state.nowMs - vm.startedAtMs >= timing.vmStartTimeoutMs) vm.localRestarts = 0;
      monitorGuest(state, name, vm, out);
      if (state.maintenance && !state.liveMigration && vm.migration === "none") {
        stopForHa(state, name, vm, "maintenance", "shutdown", out);
      }
    }
  }
  if (state.maintenance && state.local.size === 0 && !state.maintenanceAnnounced) {
    state.maintenanceAnnounced = true;
    emit(out, { type: "maintenanceEntered", host: state.self });
  }
  out.push({ type: "keeperStatus", isolated: state.isolation.state === "isolated", vms });
}

const noLocalVms = new Map<string, LocalVm>();

/**
 * VMs that all run, with no local restart to forget and no monitoring or maintenance to apply,
 * need nothing on a tick: then the pass is skipped. Whether they are so changes only with
 * `localVersion` (a local restart changes the state too), so it is judged once per version.
 */
function localVmsNeedingAttention(state: AgentState): Map<string, LocalVm> {
  if (state.monitoring !== null || state.maintenance) return state.local;
  if (state.quietLocalVersion === state.localVersion) return noLocalVms;
  for (const vm of state.local.values()) {
    if (vm.state !== "running" || vm.localRestarts !== 0) return state.local;
  }
  state.quietLocalVersion = state.localVersion;
  return noLocalVms;
}

/** The keeper fenced the VM's datastore after this host got the VM: its lease is lost for good (rule 7). */
export function leaseLostSince(state: AgentState, datastore: string, vm: LocalVm): boolean {
  return (state.fenceCounts.get(datastore) ?? 0) !== vm.fenceCount;
}

function canRunHere(state: AgentState, datastore: string): boolean {
  return leaseValid(state, datastore) && !state.maintenance && state.isolation.state !== "isolated";
}

/**
 * A VM may start only while this host's lease on its datastore is provably valid: the last
 * acknowledged renewal was issued less than selfFenceAfterMs ago. After a process pause the
 * keeper's report is old, which only makes this stricter.
 */
export function leaseValid(state: AgentState, datastore: string): boolean {
  if (state.fencedDatastores.has(datastore)) return false;
  const renewed = state.leaseRenewedAtMs.get(datastore) ?? Number.NEGATIVE_INFINITY;
  return state.nowMs - renewed < state.spec.timing.selfFenceAfterMs;
}

/** VM and application monitoring: reset a VM whose guest stopped sending heartbeats (vSphere's VMCP-less VM monitoring). */
function monitorGuest(state: AgentState, name: string, vm: LocalVm, out: AgentEffect[]): void {
  const settings = state.monitoring;
  if (settings === null) return;
  const spec = state.vmSpecs.get(name);
  if (spec === undefined || !spec.guestHeartbeat) return;
  if (state.nowMs - vm.startedAtMs < settings.minUptimeMs) return;
  const last = vm.lastGuestHeartbeatMs ?? vm.startedAtMs;
  if (state.nowMs - last < settings.failureIntervalMs) return;
  if (settings.resetWindowMs > 0) {
    vm.resetTimesMs = vm.resetTimesMs.filter((t) => state.nowMs - t < settings.resetWindowMs);
  }
  if (vm.resetTimesMs.length >= settings.maxResets) {
    if (!vm.resetLimitAlarmed) {
      vm.resetLimitAlarmed = true;
      emit(out, {
        type: "vmResetLimitReached",
        host: state.self,
        vm: name,
        reason: `${vm.resetTimesMs.length} resets already; no more resets in this window`,
      });
    }
    return;
  }
  vm.resetTimesMs.push(state.nowMs);
  localChanged(state);
  vm.startedAtMs = state.nowMs;
  vm.lastGuestHeartbeatMs = null;
  out.push({ type: "resetVm", vm: name });
  emit(out, {
    type: "vmReset",
    host: state.self,
    vm: name,
    reason: `no guest heartbeat for ${Math.round(state.nowMs - last)} ms`,
  });
}
