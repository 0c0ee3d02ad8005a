// Applying the hypervisor's listing to this host's VMs: adopt what runs here unknown (kept through
// an agent restart, or migrated in), follow state and epoch, and judge the VMs that vanished
// (crashed, stopped by HA, or killed with a lost lease).
import { type AgentState, emit, type LocalVm, localChanged, sortedKeys } from "./agent-state.ts";
import type { AgentEffect, ListedVm } from "./io.ts";
import { leaseLostSince, newLocal, scheduleLocalRestart } from "./local-vms.ts";

export function onVmsListed(state: AgentState, listed: ListedVm[], out: AgentEffect[]): void {
  // Applying a listing twice changes nothing: the same (unchanged, shared) listing again, with no
  // change to the local VMs since, is skipped.
  if (listed === state.lastListing.vms && state.localVersion === state.lastListing.localVersion) return;
  // Every listed VM is in `local` after this loop (adopted if new), so when the listing names as
  // many distinct VMs as `local` holds, none vanished and the scan below can be skipped.
  let distinct = 0;
  let previous: string | null = null;
  let sorted = true;
  for (const item of listed) {
    if (previous === null || item.vm > previous) distinct += 1;
    else if (item.vm !== previous) sorted = false;
    previous = item.vm;
    const vm = state.local.get(item.vm);
    if (vm === undefined) {
      // Adopt what runs here: VMs kept running through an agent restart, or migrated in.
      const adopted = newLocal(
        state,
        state.vmSpecs.get(item.vm)?.datastore ?? "",
        item.epoch,
        item.state,
        item.startedAtMs,
        "migration",
      );
      adopted.lastGuestHeartbeatMs = item.lastGuestHeartbeatMs;
      state.local.set(item.vm, adopted);
      localChanged(state);
      continue;
    }
    if (vm.state === "down") continue;
    const { state: stateBefore, epoch: epochBefore, startedAtMs: startedBefore } = vm;
    const beatBefore = vm.lastGuestHeartbeatMs;
    if (vm.state !== "stopping") vm.state = item.state;
    vm.epoch = Math.max(vm.epoch, item.epoch);
    // A reset this host just issued may not show in the listing yet.
    vm.startedAtMs = Math.max(vm.startedAtMs, item.startedAtMs);
    // The driver reports the last heartbeat it saw; keep ours if it has none (a hung guest).
    if (item.lastGuestHeartbeatMs !== null) vm.lastGuestHeartbeatMs = item.lastGuestHeartbeatMs;
    if (
      vm.state !== stateBefore ||
      vm.epoch !== epochBefore ||
      vm.startedAtMs !== startedBefore ||
      vm.lastGuestHeartbeatMs !== beatBefore
    )
      localChanged(state);
  }
  if (!sorted || distinct !== state.local.size) {
    const seen = new Set(listed.map((item) => item.vm));
    for (const name of sortedKeys(state.local)) {
      if (seen.has(name)) continue;
      const vm = state.local.get(name)!;
      if (vm.state === "down" || vm.state === "starting") continue;
      vanished(state, name, vm, out);
    }
  }
  if (!state.listedOnce) {
    state.listedOnce = true;
    state.reconcilePending = new Set(state.hostSpecs.get(state.self)?.datastores ?? []);
  }
  state.lastListing = { vms: listed, localVersion: state.localVersion };
}

/** A VM this host ran is gone from the hypervisor's list. */
function vanished(state: AgentState, name: string, vm: LocalVm, out: AgentEffect[]): void {
  const spec = state.vmSpecs.get(name);
  if (vm.migration === "migrating") return; // migrateResult says how it ended
  localChanged(state);
  if (vm.stopReason !== null) {
    vm.state = "down";
    vm.reportDown = true;
    emit(out, {
      type: vm.stopReason === "isolation" ? "isolationResponseApplied" : "vmStopped",
      host: state.self,
      vm: name,
      epoch: vm.epoch,
      reason: vm.stopReason,
    });
    return;
  }
  if (
    spec === undefined ||
    state.fencedDatastores.has(spec.datastore) ||
    leaseLostSince(state, spec.datastore, vm)
  ) {
    // Rule 7: the lease is lost for good. Never restart it here; once the datastore answers again,
    // report it down so the master need not wait for an expiry that a renewing host never shows.
    vm.state = "down";
    vm.stopReason = "lostLease";
    vm.reportDown = true;
    emit(out, { type: "vmLeaseLost", host: state.self, vm: name, epoch: vm.epoch });
    return;
  }
  emit(out, { type: "vmCrashed", host: state.self, vm: name, epoch: vm.epoch });
  vm.state = "down";
  scheduleLocalRestart(state, vm);
}
