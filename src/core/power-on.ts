// User power-ons on the master: placed by the planner (never on failover hosts), admitted only if
// admission control still holds afterwards, then started like a restart with proof initialPowerOn.
import { checkAdmission } from "./admission.ts";
import { type AgentState, emit } from "./agent-state.ts";
import type { AgentEffect } from "./io.ts";
import { planPlacement } from "./placement.ts";
import { newTrack, placementHosts } from "./restart.ts";

export function onPowerOnRequested(
  state: AgentState,
  vm: string,
  host: string | null,
  out: AgentEffect[],
): void {
  const master = state.master;
  const refuse = (reason: string) => emit(out, { type: "powerOnRefused", host: state.self, vm, reason });
  const spec = state.vmSpecs.get(vm);
  if (master === null) {
    refuse("this host is not the master");
    return;
  }
  if (spec === undefined) {
    refuse(`unknown VM ${vm}`);
    return;
  }
  if (master.runningOn.has(vm) || master.restarts.has(vm)) {
    refuse(`${vm} is already running or starting`);
    return;
  }
  const hosts = placementHosts(state, master, null);
  const failoverHosts =
    state.spec.admissionControl.policy === "failoverHosts" ? state.spec.admissionControl.hosts : [];
  let target = host;
  if (target === null) {
    const plan = planPlacement({
      hosts: hosts.map((h) => (failoverHosts.includes(h.name) ? { ...h, eligible: false } : h)),
      vms: [
        {
          name: vm,
          cpus: spec.cpus,
          memoryMiB: spec.memoryMiB,
          datastore: spec.datastore,
          restartPriority: "medium",
        },
      ],
      rules: state.spec.rules,
      haTag: "",
      admissionControl: { policy: "disabled" },
    });
    const placed = plan.placements[0];
    if (placed === undefined) {
      refuse(plan.unplaced[0]?.reason ?? "no host can run it");
      return;
    }
    target = placed.host;
  } else if (!hosts.some((h) => h.name === target && h.eligible)) {
    refuse(`host ${target} cannot run VMs now`);
    return;
  }
  // VMs admitted or being restarted but not running yet count as powered on too.
  const poweredOnNames = new Set([...master.runningOn.keys(), ...master.restarts.keys()]);
  const poweredOn = [...poweredOnNames].sort().flatMap((name) => {
    const s = state.vmSpecs.get(name);
    return s === undefined ? [] : [{ name, cpus: s.cpus, memoryMiB: s.memoryMiB }];
  });
  const verdict = checkAdmission(state.spec.admissionControl, hosts, poweredOn, {
    kind: "powerOn",
    vm: { name: vm, cpus: spec.cpus, memoryMiB: spec.memoryMiB },
    host: target,
  });
  if (!verdict.ok) {
    refuse(verdict.reason);
    return;
  }
  emit(out, { type: "powerOnAccepted", host: state.self, vm, target });
  master.neverStarted.delete(vm);
  master.restarts.set(vm, newTrack(state, target));
}
