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

/**
 * The list `entryOf` makes of the VMs this host runs (not down), in `state.local` order. While every
 * entry still `matches`, the cached array itself is returned (nothing allocated on this hot path),
 * so that consumers can tell "unchanged" by identity.
 */
function listOfRunning(
  state: AgentState,
  cached: VmEpoch[],
  entryOf: (name: string, vm: LocalVm) => VmEpoch,
  matches: (entry: VmEpoch, name: string, vm: LocalVm) => boolean,
): VmEpoch[] {
  let index = 0;
  let same = true;
  for (const [name, vm] of state.local) {
    if (vm.state === "down") continue;
    const entry = cached[index];
    if (entry === undefined || !matches(entry, name, vm)) {
      same = false;
      break;
    }
    index += 1;
  }
  if (same && index === cached.length) return cached;
  const fresh: VmEpoch[] = [];
  for (const [name, vm] of state.local) if (vm.state !== "down") fresh.push(entryOf(name, vm));
  return fresh;
}

const sameVmEpoch = (e: VmEpoch, name: string, vm: LocalVm) => e.vm === name && e.epoch === vm.epoch;

/** The VMs this host runs (not down), with starting and guest flags: for network heartbeats. */
export function heartbeatVmList(state: AgentState): VmEpoch[] {
  const lists = state.vmLists;
  if (lists.heartbeatVersion === state.localVersion) return lists.heartbeat;
  lists.heartbeatVersion = state.localVersion;
  lists.heartbeat = listOfRunning(
    state,
    lists.heartbeat,
    heartbeatEntry,
    (e, name, vm) =>
      sameVmEpoch(e, name, vm) &&
      (e.starting === true) === (vm.state === "starting") &&
      (e.guestOk === true) === (vm.lastGuestHeartbeatMs !== null),
  );
  return lists.heartbeat;
}

function heartbeatEntry(name: string, vm: LocalVm): VmEpoch {
  const entry: VmEpoch = { vm: name, epoch: vm.epoch };
  if (vm.state === "starting") entry.starting = true;
  if (vm.lastGuestHeartbeatMs !== null) entry.guestOk = true;
  return entry;
}

/** The VMs this host runs (not down), name and epoch only: what the keeper renews leases for. */
export function keeperVmList(state: AgentState): VmEpoch[] {
  const lists = state.vmLists;
  if (lists.keeperVersion === state.localVersion) return lists.keeper;
  lists.keeperVersion = state.localVersion;
  lists.keeper = listOfRunning(
    state,
    lists.keeper,
    (name, vm) => ({ vm: name, epoch: vm.epoch }),
    sameVmEpoch,
  );
  return lists.keeper;
}
