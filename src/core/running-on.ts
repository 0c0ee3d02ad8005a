// Where the master believes each VM runs: from its own VMs, its slaves' network heartbeats and, for
// hosts it cannot hear, their datastore heartbeats. Rebuilt only when one of those sources changed:
// the sources are immutable lists shared by reference, so "unchanged" is a cheap identity check.
import type { AgentState, MasterState, RunningVm } from "./agent-state.ts";
import { sortedHostNames, unchangedForMs } from "./master.ts";
import type { VmEpoch } from "./records.ts";
import { heartbeatVmList } from "./vm-lists.ts";

interface Sources {
  /** Everything the map depends on, in reading order: equal signatures give an equal map. */
  signature: unknown[];
  /** The VM lists to merge, in order (of two equal epochs the first wins). */
  lists: { host: string; vms: VmEpoch[] }[];
}

function heartbeatFresh(state: AgentState, host: string): boolean {
  for (const views of state.dsView.values()) {
    const age = unchangedForMs(views.get(host));
    if (age >= 0 && age < state.spec.timing.datastoreHeartbeatStaleMs) return true;
  }
  return false;
}

function collectSources(state: AgentState, master: MasterState): Sources {
  const own = heartbeatVmList(state);
  const sources: Sources = { signature: [own], lists: [{ host: state.self, vms: own }] };
  const add = (host: string, vms: VmEpoch[] | undefined) => {
    sources.signature.push(vms);
    if (vms !== undefined) sources.lists.push({ host, vms });
  };
  const datastores = [...state.dsView.keys()].sort();
  const addDatastoreLists = (host: string) => {
    for (const ds of datastores) {
      sources.signature.push(ds);
      add(host, state.dsView.get(ds)!.get(host)?.vms);
    }
  };
  for (const name of sortedHostNames(master)) {
    const view = master.hosts.get(name)!;
    sources.signature.push(name, view.state);
    switch (view.state) {
      case "connected":
      case "maintenance":
      case "standby":
        add(name, view.lastHeartbeat?.vms);
        break;
      case "unreachable": {
        // Silent on the network and on storage: its VMs are suspect; proofs decide if they restart.
        const fresh = heartbeatFresh(state, name);
        sources.signature.push(fresh);
        if (fresh) addDatastoreLists(name);
        break;
      }
      case "partitioned":
      case "isolated":
      case "election":
      case "master":
        addDatastoreLists(name);
        break;
      case "dead":
      case "fencing":
      case "fenced":
        break;
      default: {
        const never: never = view.state;
        throw new Error(`unhandled host state ${String(never)}`);
      }
    }
  }
  return sources;
}

function sameSignature(a: unknown[], b: unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < b.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function rebuildRunningOn(state: AgentState, master: MasterState): void {
  const sources = collectSources(state, master);
  if (sameSignature(master.runningOnSignature, sources.signature)) return;
  master.runningOnSignature = sources.signature;
  const running = new Map<string, RunningVm>();
  for (const { host, vms } of sources.lists) {
    for (const vm of vms) {
      const seen = running.get(vm.vm);
      if (seen !== undefined && seen.epoch >= vm.epoch) continue;
      running.set(vm.vm, {
        host,
        epoch: vm.epoch,
        starting: vm.starting === true,
        guestOk: vm.guestOk === true,
      });
    }
  }
  master.runningOn = running;
}
