// What the lab tests ask of a running lab, read independently of Vigil from the namespaces' process
// tables: where each VM runs, whether every VM runs exactly once, and which host is master.
import * as lab from "../../src/lab/lab.ts";

/** VM name -> the hosts it runs on. */
export async function placement(state: lab.LabState): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const host of state.hosts) {
    for (const vm of await lab.vmsRunningOn(host.name)) out.set(vm, [...(out.get(vm) ?? []), host.name]);
  }
  return out;
}

/** Every VM of `vms` (default: the lab's) runs on exactly one host, none of them in `not`; else null. */
export async function allPlaced(
  state: lab.LabState,
  not: string[] = [],
  vms: string[] = state.vms,
): Promise<Map<string, string[]> | null> {
  const p = await placement(state);
  for (const vm of vms) {
    const hosts = p.get(vm) ?? [];
    if (hosts.length !== 1 || not.includes(hosts[0]!)) return null;
  }
  return p;
}

export async function masterOf(state: lab.LabState): Promise<string | null> {
  const masters = (await lab.status(state)).filter((h) => h.role === "master");
  return masters.length === 1 ? masters[0]!.host : null;
}
