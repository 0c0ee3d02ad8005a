// Admission control gates USER actions (power on, enter maintenance) so that the cluster keeps
// enough spare capacity to restart every protected VM after the failures the policy promises to
// survive. It never gates an HA restart. Pure, so the server and the CLI give the same verdict.

import type { AdmissionControl } from "./cluster.ts";

export interface AdmissionHost {
  name: string;
  cpus: number;
  memoryMiB: number;
  usedCpus: number;
  usedMemoryMiB: number;
  /** Connected, not in maintenance or standby, no HA error. */
  eligible: boolean;
}

/** A powered-on (protected) VM. */
export interface AdmissionVm {
  name: string;
  cpus: number;
  memoryMiB: number;
}

export type AdmissionVerdict = { ok: true } | { ok: false; reason: string };

export type AdmissionChange =
  | { kind: "powerOn"; vm: AdmissionVm; host: string }
  | { kind: "enterMaintenance"; host: string };

const OK: AdmissionVerdict = { ok: true };

function refuse(reason: string): AdmissionVerdict {
  return { ok: false, reason };
}

interface Totals {
  cpus: number;
  memoryMiB: number;
}

function sum(items: readonly Totals[]): Totals {
  let cpus = 0;
  let memoryMiB = 0;
  for (const i of items) {
    cpus += i.cpus;
    memoryMiB += i.memoryMiB;
  }
  return { cpus, memoryMiB };
}

function figures(t: Totals): string {
  return `${t.cpus} CPUs/${t.memoryMiB} MiB`;
}

/** Why `vm` does not fit on `host` now (its free CPUs or memory), or null. */
export function hostFitProblem(
  host: Pick<AdmissionHost, "name" | "cpus" | "memoryMiB" | "usedCpus" | "usedMemoryMiB">,
  vm: AdmissionVm,
): string | null {
  const free = { cpus: host.cpus - host.usedCpus, memoryMiB: host.memoryMiB - host.usedMemoryMiB };
  if (free.cpus >= vm.cpus && free.memoryMiB >= vm.memoryMiB) return null;
  return `${vm.name} needs ${figures(vm)} but ${host.name} has ${figures(free)} free`;
}

/** The cluster as it would be after the change: eligible hosts, and the VMs that must stay protected. */
function afterChange(
  hosts: readonly AdmissionHost[],
  poweredOnVms: readonly AdmissionVm[],
  change: AdmissionChange,
): { hosts: AdmissionHost[]; vms: AdmissionVm[] } {
  const eligible = hosts.filter(
    (h) => h.eligible && !(change.kind === "enterMaintenance" && h.name === change.host),
  );
  if (change.kind === "enterMaintenance") return { hosts: eligible, vms: [...poweredOnVms] };
  // The VM's use counts through the VM totals; a VM already listed as powered on is not counted twice.
  const { vm } = change;
  const vms = poweredOnVms.some((v) => v.name === vm.name) ? [...poweredOnVms] : [...poweredOnVms, vm];
  return { hosts: eligible, vms };
}

/** Largest hosts first (memory, then CPUs, then name), the ones the policy assumes fail. */
function largestFirst(a: AdmissionHost, b: AdmissionHost): number {
  return b.memoryMiB - a.memoryMiB || b.cpus - a.cpus || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

export interface SlotSummary {
  slotCpus: number;
  slotMemoryMiB: number;
  /** Slots per eligible host, most first. */
  hostSlots: { host: string; slots: number }[];
  /** Slots all powered-on VMs need together. */
  slotsNeeded: number;
}

/** Slot arithmetic of the slot policy; a dimension whose slot size is 0 does not limit. */
export function slotSummary(
  policy: { slotCpus?: number; slotMemoryMiB?: number },
  hosts: readonly AdmissionHost[],
  vms: readonly AdmissionVm[],
): SlotSummary {
  const slotCpus = policy.slotCpus ?? vms.reduce((m, v) => Math.max(m, v.cpus), 0);
  const slotMemoryMiB = policy.slotMemoryMiB ?? vms.reduce((m, v) => Math.max(m, v.memoryMiB), 0);
  const per = (amount: number, slot: number, round: (x: number) => number): number =>
    slot > 0 ? round(amount / slot) : Number.POSITIVE_INFINITY;
  const hostSlots = hosts
    .filter((h) => h.eligible)
    .map((h) => {
      const slots = Math.min(per(h.cpus, slotCpus, Math.floor), per(h.memoryMiB, slotMemoryMiB, Math.floor));
      // Both slot dimensions 0 means no powered-on VM needs anything: a host then counts as one slot.
      return { host: h.name, slots: Number.isFinite(slots) ? slots : 1 };
    })
    .sort((a, b) => b.slots - a.slots || (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  let slotsNeeded = 0;
  for (const v of vms) {
    const n = Math.max(per(v.cpus, slotCpus, Math.ceil), per(v.memoryMiB, slotMemoryMiB, Math.ceil));
    slotsNeeded += Number.isFinite(n) ? Math.max(1, n) : 1;
  }
  return { slotCpus, slotMemoryMiB, hostSlots, slotsNeeded };
}

/**
 * How many host failures the cluster survives now under the policy's own arithmetic
 * (largest hosts fail first). Meaningful for hostFailures and slots; other policies give null.
 */
export function currentFailoverCapacity(
  policy: AdmissionControl,
  hosts: readonly AdmissionHost[],
  poweredOnVms: readonly AdmissionVm[],
): number | null {
  if (policy.policy === "hostFailures") {
    const need = sum(poweredOnVms);
    const left = hosts.filter((h) => h.eligible).sort(largestFirst);
    let remaining = sum(left);
    let lost = 0;
    for (const h of left) {
      remaining = { cpus: remaining.cpus - h.cpus, memoryMiB: remaining.memoryMiB - h.memoryMiB };
      if (remaining.cpus < need.cpus || remaining.memoryMiB < need.memoryMiB) break;
      lost++;
    }
    return lost;
  }
  if (policy.policy === "slots") {
    const s = slotSummary(policy, hosts, poweredOnVms);
    let remaining = s.hostSlots.reduce((n, h) => n + h.slots, 0);
    let lost = 0;
    for (const h of s.hostSlots) {
      remaining -= h.slots;
      if (remaining < s.slotsNeeded) break;
      lost++;
    }
    return lost;
  }
  return null;
}

/** The verdict of admission control on a user action, judged on the cluster after the action. */
export function checkAdmission(
  policy: AdmissionControl,
  hosts: AdmissionHost[],
  poweredOnVms: AdmissionVm[],
  change: AdmissionChange,
): AdmissionVerdict {
  if (policy.policy === "disabled") return OK;
  const after = afterChange(hosts, poweredOnVms, change);
  const need = sum(after.vms);

  switch (policy.policy) {
    case "hostFailures": {
      const n = policy.hostFailuresToTolerate;
      const left = sum([...after.hosts].sort(largestFirst).slice(Math.max(0, n)));
      if (left.cpus >= need.cpus && left.memoryMiB >= need.memoryMiB) return OK;
      return refuse(
        `admission control (hostFailures=${n}): after losing ${n} host(s) ${figures(left)} remain for ${figures(need)} of powered-on VMs`,
      );
    }
    case "percentage": {
      const total = sum(after.hosts);
      const label = `admission control (percentage: ${policy.cpuPercent}% CPU/${policy.memoryPercent}% memory reserved)`;
      const problems: string[] = [];
      const check = (what: string, used: number, of: number, reservedPercent: number, unit: string) => {
        const allowed = ((100 - reservedPercent) / 100) * of;
        if (used <= allowed) return;
        const pct = of > 0 ? Math.round((used / of) * 100) : 100;
        problems.push(
          `${what} would be ${used}${unit} of ${of}${unit} (${pct}%), above the ${100 - reservedPercent}% allowed`,
        );
      };
      check("CPU use", need.cpus, total.cpus, policy.cpuPercent, " CPUs");
      check("memory use", need.memoryMiB, total.memoryMiB, policy.memoryPercent, " MiB");
      return problems.length === 0 ? OK : refuse(`${label}: ${problems.join(" and ")}`);
    }
    case "slots": {
      const n = policy.hostFailuresToTolerate;
      const s = slotSummary(policy, after.hosts, after.vms);
      const left = s.hostSlots.slice(Math.max(0, n)).reduce((acc, h) => acc + h.slots, 0);
      if (left >= s.slotsNeeded) return OK;
      return refuse(
        `admission control (slots, hostFailures=${n}): with a slot of ${s.slotCpus} CPUs/${s.slotMemoryMiB} MiB, after losing ${n} host(s) ${left} slot(s) remain for the ${s.slotsNeeded} slot(s) powered-on VMs need`,
      );
    }
    case "failoverHosts": {
      const failover = new Set(policy.hosts);
      if (change.kind === "powerOn" && failover.has(change.host)) {
        return refuse(
          `admission control (failoverHosts): ${change.host} is a dedicated failover host and runs no user VMs`,
        );
      }
      if (change.kind === "enterMaintenance" && failover.has(change.host)) {
        const others = after.hosts.filter((h) => failover.has(h.name));
        if (others.length > 0) return OK;
        return refuse(
          `admission control (failoverHosts): ${change.host} is the last eligible failover host, so no failover capacity would remain`,
        );
      }
      if (change.kind === "powerOn") {
        const target = hosts.find((h) => h.eligible && h.name === change.host);
        if (!target) {
          return refuse(`admission control (failoverHosts): ${change.host} is not an eligible host`);
        }
        const problem = hostFitProblem(target, change.vm);
        if (problem !== null) return refuse(`admission control (failoverHosts): ${problem}`);
      }
      const regular = after.hosts.filter((h) => !failover.has(h.name));
      const cap = sum(regular);
      if (cap.cpus >= need.cpus && cap.memoryMiB >= need.memoryMiB) return OK;
      return refuse(
        `admission control (failoverHosts): the ${regular.length} non-failover host(s) have ${figures(cap)} for ${figures(need)} of powered-on VMs`,
      );
    }
  }
}
