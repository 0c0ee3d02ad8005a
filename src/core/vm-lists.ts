// The lists of this host's VMs that go out on every tick: in the network heartbeat and in the
// keeper's datastore heartbeat. They rarely change, so each tick reuses the previous list when its
// contents would be equal: no garbage per tick, and receivers can tell "unchanged" by identity.
// While `localVersion` has not moved they are reused without even comparing.
// The lists are shared by reference and must never be mutated.
import type { AgentState, LocalVm } from "./agent-state.ts";
import type { VmEpoch } from "./records.ts";

/** Cached lists, owned by one agent. */
export interface VmListCache {
  /** For the network heartbeat: every VM not down, with its starting and guest flags. */
  heartbeat: VmEpoch[];
  /** The agent's `localVersion` the heartbeat list was last checked against. */
  heartbeatVersion: number;
  /** For the keeper's datastore heartbeat: every VM not down, name and epoch only. */
  keeper: VmEpoch[];
  keeperVersion: number;
}

export function newVmListCache(): VmListCache {
  return { heartbeat: [], heartbeatVersion: -1, keeper: [], keeperVersion: -1 };
}

/** The VMs this host runs (not down), in `state.local` order, with starting and guest flags. */
export function heartbeatVmList(state: AgentState): VmEpoch[] {
  const cached = state.vmLists.heartbeat;
  if (state.vmLists.heartbeatVersion === state.localVersion) return cached;
  state.vmLists.heartbeatVersion = state.localVersion;
  let index = 0;
  let same = true;
  for (const [name, vm] of state.local) {
    if (vm.state === "down") continue;
    const entry = cached[index];
    if (
      entry === undefined ||
      entry.vm !== name ||
      entry.epoch !== vm.epoch ||
      (entry.starting === true) !== (vm.state === "starting") ||
      (entry.guestOk === true) !== (vm.lastGuestHeartbeatMs !== null)
    ) {
      same = false;
      break;
    }
    index += 1;
  }
  if (same && index === cached.length) return cached;
  const vms: VmEpoch[] = [];
  for (const [name, vm] of state.local) {
    if (vm.state === "down") continue;
    vms.push(heartbeatEntry(name, vm));
  }
  state.vmLists.heartbeat = vms;
  return vms;
}

function heartbeatEntry(name: string, vm: LocalVm): VmEpoch {
  const entry: VmEpoch = { vm: name, epoch: vm.epoch };
  if (vm.state === "starting") entry.starting = true;
  if (vm.lastGuestHeartbeatMs !== null) entry.guestOk = true;
  return entry;
}

/** The VMs this host runs (not down), in `state.local` order: what the keeper renews leases for. */
export function keeperVmList(state: AgentState): VmEpoch[] {
  const cached = state.vmLists.keeper;
  if (state.vmLists.keeperVersion === state.localVersion) return cached;
  state.vmLists.keeperVersion = state.localVersion;
  let index = 0;
  let same = true;
  for (const [name, vm] of state.local) {
    if (vm.state === "down") continue;
    const entry = cached[index];
    if (entry === undefined || entry.vm !== name || entry.epoch !== vm.epoch) {
      same = false;
      break;
    }
    index += 1;
  }
  if (same && index === cached.length) return cached;
  const vms: VmEpoch[] = [];
  for (const [name, vm] of state.local) {
    if (vm.state !== "down") vms.push({ vm: name, epoch: vm.epoch });
  }
  state.vmLists.keeper = vms;
  return vms;
}
