// Invariant checkers, run on every simulated step. They look at ground truth (where copies of a VM
// really run), not at what the engine believes, so a wrong belief shows up as a violation.
import { checkAdmission } from "../core/admission.ts";
import { restartProofs } from "../core/records.ts";
import type { World } from "./world.ts";

export const checkerNames = {
  neverTwice: "a VM never runs on two hosts at once",
  restartProof:
    "a new lease epoch is created only when no copy of the VM runs (fenced, lease expired, reported down)",
  sameCluster: "a VM runs only on hosts of its own cluster",
  admission: "admission control is never violated by a user power-on",
  liveness: "once faults stop and capacity allows, every protected VM runs again within the bound",
} as const;
export type CheckerName = keyof typeof checkerNames;

export interface Violation {
  atMs: number;
  checker: CheckerName;
  message: string;
}

export function attachCheckers(world: World, violations: Violation[]): void {
  const violate = (checker: CheckerName, message: string) =>
    violations.push({ atMs: world.nowMs, checker, message });
  world.observers.push({
    onVmCopyStarted(copy) {
      const copies = world.copies.get(copy.vm) ?? [];
      if (copies.length > 1) {
        violate(
          "neverTwice",
          `${copy.vm} runs twice: ${copies.map((c) => `${c.host} (epoch ${c.epoch}, ${c.state})`).join(" and ")}`,
        );
      }
      if (!world.hosts.has(copy.host))
        violate("sameCluster", `${copy.vm} started on ${copy.host}, outside the cluster`);
    },
    onLeaseCreated(record) {
      if (record.proof === "migration") return;
      if (record.proof === "unsafeNoProof") {
        violate("restartProof", `${record.vm} epoch ${record.epoch} was created without a proof`);
      }
      const copies = world.copies.get(record.vm) ?? [];
      if (copies.length > 0) {
        violate(
          "restartProof",
          `${record.vm} epoch ${record.epoch} created with proof ${record.proof} while it still runs on ${copies
            .map((c) => `${c.host} (epoch ${c.epoch})`)
            .join(", ")}`,
        );
      }
    },
    onEvent(entry) {
      const event = entry.event;
      if (event === null) return;
      if (event.type === "vmStarted" && (event.proof === undefined || !(event.proof in restartProofs))) {
        violate("restartProof", `${event.vm} started on ${event.host} without a recorded proof`);
      }
      if (event.type === "powerOnAccepted" && event.vm !== undefined && event.target !== undefined) {
        const reason = admissionTruth(world, event.vm, event.target);
        if (reason !== null) violate("admission", `power-on of ${event.vm} admitted but ${reason}`);
      }
    },
  });
}

/** Judges a user power-on against the real cluster: powered hosts not in maintenance, VMs that really run. */
function admissionTruth(world: World, vm: string, target: string): string | null {
  const spec = world.spec.vms.find((v) => v.name === vm);
  if (spec === undefined) return null;
  const hosts = [...world.hosts.values()].map((h) => {
    let usedCpus = 0;
    let usedMemoryMiB = 0;
    for (const copy of world.copiesOn(h.spec.name)) {
      usedCpus += copy.spec.cpus;
      usedMemoryMiB += copy.spec.memoryMiB;
    }
    return {
      name: h.spec.name,
      cpus: h.spec.cpus,
      memoryMiB: h.spec.memoryMiB,
      usedCpus,
      usedMemoryMiB,
      eligible: h.powered && h.agent !== null && !h.agent.maintenance,
    };
  });
  const poweredOn = [...world.copies.entries()]
    .filter(([name]) => name !== vm)
    .map(([, copies]) => ({
      name: copies[0]!.vm,
      cpus: copies[0]!.spec.cpus,
      memoryMiB: copies[0]!.spec.memoryMiB,
    }));
  const verdict = checkAdmission(world.spec.admissionControl, hosts, poweredOn, {
    kind: "powerOn",
    vm: { name: vm, cpus: spec.cpus, memoryMiB: spec.memoryMiB },
    host: target,
  });
  return verdict.ok ? null : verdict.reason;
}
