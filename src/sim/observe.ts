// What an outside observer sees of a simulated cluster: where VMs really run (ground truth), who is
// master, and each host's state as the cluster (its primary master) sees it.
import type { HostState } from "../core/host-states.ts";
import type { World } from "./world.ts";

/** Hosts where the VM runs (running, or still running while being stopped). */
export function runningHosts(world: World, vm: string): string[] {
  const copies = world.copies.get(vm) ?? [];
  return copies.filter((c) => c.state === "running" || c.state === "stopping").map((c) => c.host);
}

/** Hosts where any copy of the VM exists, starting ones included. */
export function copyHosts(world: World, vm: string): string[] {
  return (world.copies.get(vm) ?? []).map((c) => c.host);
}

export function masters(world: World): string[] {
  const list: string[] = [];
  for (const [name, host] of world.hosts) if (host.powered && host.agent?.role === "master") list.push(name);
  return list.sort();
}

/** The master that sees the most connected hosts; ties go to the lower name. */
export function primaryMaster(world: World): string | null {
  let best: string | null = null;
  let bestCount = -1;
  for (const name of masters(world)) {
    const master = world.hosts.get(name)!.agent!.master;
    let count = 0;
    for (const view of master?.hosts.values() ?? []) if (view.state === "connected") count += 1;
    if (count > bestCount) {
      best = name;
      bestCount = count;
    }
  }
  return best;
}

export function observedHostState(world: World, name: string): HostState {
  const primary = primaryMaster(world);
  if (primary === name) return "master";
  const host = world.hosts.get(name);
  if (primary !== null) {
    const view = world.hosts.get(primary)!.agent!.master?.hosts.get(name);
    if (view !== undefined) return view.state;
  }
  if (host?.agent?.role === "master") return "master";
  if (host?.powered && host.agent !== null) return "election";
  return "unreachable";
}
