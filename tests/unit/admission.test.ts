// Admission control refuses user actions that would leave too little spare capacity for HA; each
// policy gets a case that passes and one that is refused, with the figures in the reason.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type AdmissionHost,
  type AdmissionVerdict,
  type AdmissionVm,
  checkAdmission,
  currentFailoverCapacity,
  slotSummary,
} from "../../src/core/admission.ts";
import type { AdmissionControl } from "../../src/core/cluster.ts";

const GiB = 1024;

function host(
  name: string,
  cpus: number,
  memoryGiB: number,
  over: Partial<AdmissionHost> = {},
): AdmissionHost {
  return { name, cpus, memoryMiB: memoryGiB * GiB, usedCpus: 0, usedMemoryMiB: 0, eligible: true, ...over };
}

function vm(name: string, cpus: number, memoryGiB: number): AdmissionVm {
  return { name, cpus, memoryMiB: memoryGiB * GiB };
}

function refused(v: AdmissionVerdict): string {
  assert.equal(v.ok, false, "expected a refusal");
  return v.ok ? "" : v.reason;
}

const powerOn = (v: AdmissionVm, onto: string) => ({ kind: "powerOn" as const, vm: v, host: onto });
const maintenance = (name: string) => ({ kind: "enterMaintenance" as const, host: name });

describe("checkAdmission: disabled", () => {
  it("allows anything, even an overcommitted cluster", () => {
    const hosts = [host("h1", 2, 2)];
    const verdict = checkAdmission(
      { policy: "disabled" },
      hosts,
      [vm("big", 64, 512)],
      powerOn(vm("x", 8, 8), "h1"),
    );
    assert.deepEqual(verdict, { ok: true });
    assert.deepEqual(checkAdmission({ policy: "disabled" }, hosts, [], maintenance("h1")), { ok: true });
  });
});

describe("checkAdmission: hostFailures", () => {
  const policy: AdmissionControl = { policy: "hostFailures", hostFailuresToTolerate: 1 };
  // Losing the largest host (h1, by memory) leaves 24 CPUs / 48 GiB.
  const hosts = [host("h1", 8, 64), host("h2", 16, 32), host("h3", 8, 16)];

  it("allows a power-on that still fits after losing the largest host", () => {
    const vms = [vm("a", 10, 20), vm("b", 10, 20)];
    assert.deepEqual(checkAdmission(policy, hosts, vms, powerOn(vm("c", 4, 8), "h2")), { ok: true });
  });

  it("refuses a power-on that would not, with the figures", () => {
    const vms = [vm("a", 10, 20), vm("b", 10, 20)];
    const reason = refused(checkAdmission(policy, hosts, vms, powerOn(vm("c", 6, 8), "h2")));
    assert.equal(
      reason,
      "admission control (hostFailures=1): after losing 1 host(s) 24 CPUs/49152 MiB remain for 26 CPUs/49152 MiB of powered-on VMs",
    );
  });

  it("loses the largest hosts by memory, not by CPU", () => {
    // Were h2 (most CPUs) lost instead of h1, 16 CPUs would remain and 20 would be refused.
    const vms = [vm("a", 20, 8)];
    assert.deepEqual(checkAdmission(policy, hosts, vms, powerOn(vm("b", 1, 1), "h3")), { ok: true });
  });

  it("does not count ineligible hosts, and judges entering maintenance without that host", () => {
    const vms = [vm("a", 8, 24)];
    assert.deepEqual(checkAdmission(policy, hosts, vms, maintenance("h3")), { ok: true });
    assert.match(refused(checkAdmission(policy, hosts, vms, maintenance("h2"))), /8 CPUs\/16384 MiB remain/);
    const down = hosts.map((h) => (h.name === "h2" ? { ...h, eligible: false } : h));
    assert.match(refused(checkAdmission(policy, down, vms, powerOn(vm("b", 1, 1), "h1"))), /remain/);
  });

  it("reports how many failures the cluster tolerates now", () => {
    assert.equal(currentFailoverCapacity(policy, hosts, [vm("a", 8, 16)]), 2);
    assert.equal(currentFailoverCapacity(policy, hosts, [vm("a", 8, 40)]), 1);
    assert.equal(currentFailoverCapacity(policy, hosts, [vm("a", 40, 8)]), 0);
  });
});

describe("checkAdmission: percentage", () => {
  // The vSphere documentation example: 24 CPUs / 21 GiB in total.
  const hosts = [host("h1", 9, 9), host("h2", 9, 6), host("h3", 6, 6)];
  const policy: AdmissionControl = { policy: "percentage", cpuPercent: 25, memoryPercent: 25 };

  it("allows use up to the unreserved share", () => {
    const vms = [vm("a", 7, 6)];
    assert.deepEqual(checkAdmission(policy, hosts, vms, powerOn(vm("b", 11, 9), "h1")), { ok: true });
  });

  it("refuses CPU beyond (100 - cpuPercent)% and memory beyond (100 - memoryPercent)%", () => {
    const vms = [vm("a", 7, 6)];
    const cpu = refused(checkAdmission(policy, hosts, vms, powerOn(vm("b", 12, 1), "h1")));
    assert.match(cpu, /CPU use would be 19 CPUs of 24 CPUs \(79%\), above the 75% allowed/);
    assert.doesNotMatch(cpu, /memory use/);
    const mem = refused(checkAdmission(policy, hosts, vms, powerOn(vm("b", 1, 10), "h1")));
    assert.match(mem, /memory use would be 16384 MiB of 21504 MiB \(76%\)/);
  });

  it("judges entering maintenance on the capacity that remains", () => {
    const vms = [vm("a", 7, 10)];
    assert.deepEqual(checkAdmission(policy, hosts, vms, maintenance("h3")), { ok: true });
    assert.match(
      refused(checkAdmission(policy, hosts, vms, maintenance("h1"))),
      /memory use would be 10240 MiB of 12288 MiB \(83%\)/,
    );
  });
});

describe("checkAdmission: slots", () => {
  // The vSphere slot example: hosts of 9/9, 9/6 and 6/6 (CPUs/GiB) and five VMs.
  const hosts = [host("H1", 9, 9), host("H2", 9, 6), host("H3", 6, 6)];
  const vms = [vm("v1", 2, 1), vm("v2", 2, 1), vm("v3", 1, 2), vm("v4", 1, 1), vm("v5", 1, 1)];
  const policy: AdmissionControl = { policy: "slots", hostFailuresToTolerate: 1 };

  it("sizes the slot from the largest VM and counts 4, 3 and 3 slots", () => {
    const s = slotSummary(policy, hosts, vms);
    assert.equal(s.slotCpus, 2);
    assert.equal(s.slotMemoryMiB, 2 * GiB);
    assert.deepEqual(
      s.hostSlots.map((h) => h.slots),
      [4, 3, 3],
    );
    assert.equal(s.slotsNeeded, 5);
    assert.equal(currentFailoverCapacity(policy, hosts, vms), 1);
  });

  it("allows a sixth VM (6 slots remain after losing H1) and refuses a seventh", () => {
    assert.deepEqual(checkAdmission(policy, hosts, vms, powerOn(vm("v6", 1, 1), "H2")), { ok: true });
    const six = [...vms, vm("v6", 1, 1)];
    assert.equal(
      refused(checkAdmission(policy, hosts, six, powerOn(vm("v7", 1, 1), "H2"))),
      "admission control (slots, hostFailures=1): with a slot of 2 CPUs/2048 MiB, after losing 1 host(s) 6 slot(s) remain for the 7 slot(s) powered-on VMs need",
    );
  });

  it("a larger VM grows the slot for everyone", () => {
    // A 4 CPU VM makes the slot 4/2: slots become 2, 2 and 1, so 3 remain for 6 VMs.
    assert.match(
      refused(checkAdmission(policy, hosts, vms, powerOn(vm("big", 4, 1), "H1"))),
      /slot of 4 CPUs/,
    );
  });

  it("with a fixed slot, a larger VM takes several slots", () => {
    const fixed: AdmissionControl = {
      policy: "slots",
      hostFailuresToTolerate: 1,
      slotCpus: 1,
      slotMemoryMiB: GiB,
    };
    assert.equal(slotSummary(fixed, hosts, [vm("x", 3, 2)]).slotsNeeded, 3);
    // Slots are 9, 6 and 6; losing H1 leaves 12.
    assert.deepEqual(checkAdmission(fixed, hosts, [], powerOn(vm("x", 4, 12), "H1")), { ok: true });
    assert.match(
      refused(checkAdmission(fixed, hosts, [], powerOn(vm("x", 4, 13), "H1"))),
      /12 slot\(s\) remain for the 13/,
    );
  });

  it("tolerating two failures leaves 3 slots for 5 VMs, so entering maintenance is refused", () => {
    const two: AdmissionControl = { policy: "slots", hostFailuresToTolerate: 2 };
    assert.equal(currentFailoverCapacity(two, hosts, vms), 1);
    assert.match(refused(checkAdmission(two, hosts, vms, maintenance("H3"))), /0 slot\(s\) remain for the 5/);
    assert.deepEqual(checkAdmission(policy, hosts, vms.slice(0, 3), maintenance("H3")), { ok: true });
  });
});

describe("checkAdmission: failoverHosts", () => {
  const policy: AdmissionControl = { policy: "failoverHosts", hosts: ["spare1", "spare2"] };
  const hosts = [host("h1", 16, 32), host("h2", 16, 32), host("spare1", 32, 64), host("spare2", 32, 64)];

  it("refuses a power-on onto a failover host and allows it elsewhere", () => {
    assert.match(
      refused(checkAdmission(policy, hosts, [], powerOn(vm("a", 1, 1), "spare1"))),
      /spare1 is a dedicated failover host/,
    );
    assert.deepEqual(checkAdmission(policy, hosts, [], powerOn(vm("a", 1, 1), "h1")), { ok: true });
  });

  it("requires the non-failover hosts to hold every powered-on VM", () => {
    const vms = [vm("a", 16, 32), vm("b", 12, 24)];
    assert.equal(
      refused(checkAdmission(policy, hosts, vms, powerOn(vm("c", 8, 4), "h2"))),
      "admission control (failoverHosts): the 2 non-failover host(s) have 32 CPUs/65536 MiB for 36 CPUs/61440 MiB of powered-on VMs",
    );
    assert.match(refused(checkAdmission(policy, hosts, vms, maintenance("h2"))), /the 1 non-failover host/);
  });

  it("requires the target host to have room for the VM", () => {
    const busy = hosts.map((h) => (h.name === "h1" ? { ...h, usedCpus: 15 } : h));
    assert.match(
      refused(checkAdmission(policy, busy, [], powerOn(vm("a", 2, 1), "h1"))),
      /h1 has 1 CPUs\/32768 MiB free/,
    );
  });

  it("refuses maintenance on the last eligible failover host only", () => {
    assert.deepEqual(checkAdmission(policy, hosts, [], maintenance("spare1")), { ok: true });
    const one = hosts.map((h) => (h.name === "spare2" ? { ...h, eligible: false } : h));
    assert.match(
      refused(checkAdmission(policy, one, [], maintenance("spare1"))),
      /last eligible failover host/,
    );
  });
});
