// User power-ons on the master: placed by the planner (never on failover hosts), admitted only if
// admission control still holds afterwards, then started like a restart with proof initialPowerOn.
import { type AdmissionVm, checkAdmission } from "./admission.ts";
import { type AgentState, emit, type MasterState } from "./agent-state.ts";
import type { AgentEffect } from "./io.ts";
import { planPlacement } from "./placement.ts";
import { newTrack, placementHosts } from "./restart.ts";

/** What admission control protects: running VMs, and those admitted or being restarted. */
export function poweredOnVms(state: AgentState, master: MasterState): AdmissionVm[] {
  const names = new Set([...master.runningOn.keys(), ...master.restarts.keys()]);
  return [...names].sort().flatMap((name) => {
    const s = state.vmSpecs.get(name);
    return s === undefined ? [] : [{ name, cpus: s.cpus, memoryMiB: s.memoryMiB }];
  });
}

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
  const verdict = checkAdmission(state.spec.admissionControl, hosts, poweredOnVms(state, master), {
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
