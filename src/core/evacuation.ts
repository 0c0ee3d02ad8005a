// Maintenance mode on the master: every VM leaves a host in maintenance, by live migration when the
// driver can (the source creates the next lease epoch for the target), else by a clean stop and a
// restart elsewhere through the normal restart path.
import type { AgentState } from "./agent-state.ts";
import { sortedKeys } from "./agent-state.ts";
import type { AgentEffect } from "./io.ts";
import { planPlacement } from "./placement.ts";
import { placementHosts } from "./restart.ts";

/** Maintenance: move every VM off hosts in maintenance, by live migration when the driver can. */
export function stepEvacuations(state: AgentState, out: AgentEffect[]): void {
  const master = state.master!;
  if (master.migrations.size === 0 && ![...master.hosts.values()].some((h) => h.state === "maintenance"))
    return;
  for (const [vm, migration] of [...master.migrations]) {
    // A VM that runs nowhere for now is moving the cold way (stopped, then restarted): its entry
    // stays so the restart prefers the target, until it arrives or the move times out.
    const where = master.runningOn.get(vm);
    if (where?.host === migration.target) master.migrations.delete(vm);
    else if (state.nowMs - migration.issuedAtMs >= state.spec.timing.vmStartTimeoutMs)
      master.migrations.delete(vm);
  }
  const leaving: { vm: string; host: string }[] = [];
  for (const vm of sortedKeys(master.runningOn)) {
    const where = master.runningOn.get(vm)!;
    if (master.migrations.has(vm)) continue;
    if (master.hosts.get(where.host)?.state === "maintenance") leaving.push({ vm, host: where.host });
  }
  if (leaving.length === 0) return;
  const hosts = placementHosts(state, master, null).map((h) =>
    master.hosts.get(h.name)?.state === "maintenance" ? { ...h, eligible: false } : h,
  );
  const plan = planPlacement({
    hosts,
    vms: leaving.flatMap(({ vm }) => {
      const s = state.vmSpecs.get(vm);
      return s === undefined
        ? []
        : [
            {
              name: vm,
              cpus: s.cpus,
              memoryMiB: s.memoryMiB,
              datastore: s.datastore,
              restartPriority: s.restartPriority === "disabled" ? "lowest" : s.restartPriority,
            },
          ];
    }),
    rules: state.spec.rules,
    haTag: "",
    admissionControl: state.spec.admissionControl,
  });
  const source = new Map(leaving.map((l) => [l.vm, l.host]));
  for (const placement of plan.placements) {
    master.migrations.set(placement.vm, { target: placement.host, issuedAtMs: state.nowMs });
    out.push({
      type: "send",
      to: source.get(placement.vm)!,
      msg: { type: "migrateVm", from: state.self, vm: placement.vm, target: placement.host },
    });
  }
}
