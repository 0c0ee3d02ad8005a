// Admission control for user actions, judged by the server on what the agents last reported, with
// the same pure function the master uses (src/core/admission.ts). The master judges power-ons again
// when it carries them out; the server's verdict gives the user an answer at once.
import {
  type AdmissionChange,
  type AdmissionHost,
  type AdmissionVm,
  checkAdmission,
} from "../core/admission.ts";
import { ApiError } from "./errors.ts";
import type { ClusterBundle } from "./inventory.ts";
import type { ClusterStatus } from "./views.ts";

export function admissionInputs(status: ClusterStatus): { hosts: AdmissionHost[]; poweredOn: AdmissionVm[] } {
  const used = new Map<string, { cpus: number; memoryMiB: number }>();
  const poweredOn: AdmissionVm[] = [];
  for (const v of status.vms) {
    if (v.host === null || v.state === "down" || v.state === "unknown") continue;
    const u = used.get(v.host) ?? { cpus: 0, memoryMiB: 0 };
    used.set(v.host, { cpus: u.cpus + v.cpus, memoryMiB: u.memoryMiB + v.memoryMiB });
    if (v.protected) poweredOn.push({ name: v.name, cpus: v.cpus, memoryMiB: v.memoryMiB });
  }
  const hosts = status.hosts.map((h) => ({
    name: h.name,
    cpus: h.cpus,
    memoryMiB: h.memoryMiB,
    usedCpus: used.get(h.name)?.cpus ?? 0,
    usedMemoryMiB: used.get(h.name)?.memoryMiB ?? 0,
    eligible: h.state === "connected" || h.state === "master",
  }));
  return { hosts, poweredOn };
}

/** Throws `refused` with admission control's reason when the change would break the policy. */
export function admit(b: ClusterBundle, status: ClusterStatus, change: AdmissionChange): void {
  const { hosts, poweredOn } = admissionInputs(status);
  const verdict = checkAdmission(b.settings.admissionControl, hosts, poweredOn, change);
  if (!verdict.ok)
    throw new ApiError(
      "refused",
      `admission control (${b.settings.admissionControl.policy}) refuses: ${verdict.reason}`,
    );
}
