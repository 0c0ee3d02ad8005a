// A user's request to move a running VM to another host of the cluster, on the master. Admission
// control judges the target as it judges a power-on there (a dedicated failover host runs no user
// VMs; the VM must fit). The move itself is the one maintenance uses: the source host migrates the
// VM live when its driver can, else stops it cleanly and the normal restart path starts it again.
import { checkAdmission, hostFitProblem } from "./admission.ts";
import { type AgentState, emit } from "./agent-state.ts";
import type { AgentEffect } from "./io.ts";
import { onMigrateRequest } from "./local-vms.ts";
import { poweredOnVms } from "./power-on.ts";
import { placementHosts } from "./restart.ts";

/** Why the move cannot be made, or null when it is admitted. */
function migrationProblem(state: AgentState, vm: string, target: string): string | null {
  const master = state.master;
  const spec = state.vmSpecs.get(vm);
  if (master === null) return "this host is not the master";
  if (spec === undefined) return `unknown VM ${vm}`;
  const where = master.runningOn.get(vm);
  if (where === undefined || where.starting) return `${vm} is not running`;
  if (where.host === target) return `${vm} already runs on ${target}`;
  if (master.migrations.has(vm)) return `${vm} is already moving`;
  const hosts = placementHosts(state, master, null);
  const to = hosts.find((h) => h.name === target && h.eligible);
  if (to === undefined) return `host ${target} cannot run VMs now`;
  const vmSize = { name: vm, cpus: spec.cpus, memoryMiB: spec.memoryMiB };
  const fit = hostFitProblem(to, vmSize);
  if (fit !== null) return fit;
  const verdict = checkAdmission(state.spec.admissionControl, hosts, poweredOnVms(state, master), {
    kind: "powerOn",
    vm: vmSize,
    host: target,
  });
  return verdict.ok ? null : verdict.reason;
}

export function onMigrateRequested(state: AgentState, vm: string, target: string, out: AgentEffect[]): void {
  const problem = migrationProblem(state, vm, target);
  if (problem !== null) {
    emit(out, { type: "migrationRefused", host: state.self, vm, target, reason: problem });
    return;
  }
  const master = state.master!;
  const source = master.runningOn.get(vm)!.host;
  emit(out, { type: "migrationStarted", host: state.self, vm, subject: source, target });
  master.migrations.set(vm, { target, issuedAtMs: state.nowMs });
  const msg = { type: "migrateVm" as const, from: state.self, vm, target };
  if (source === state.self) onMigrateRequest(state, msg, out);
  else out.push({ type: "send", to: source, msg });
}
