// Configuration issues, as vSphere lists them on a cluster: settings that are valid but leave HA
// weaker than the operator probably thinks. Computed on every read, never stored.
import { currentFailoverCapacity } from "../core/admission.ts";
import { admissionInputs } from "./admission-view.ts";
import { asBool, type ClusterBundle } from "./inventory.ts";
import type { ClusterStatus } from "./views.ts";

export const issueKinds = {
  haDisabled: "HA is off for the zone or the cluster: no VM of the cluster is restarted",
  tooFewHeartbeatDatastores:
    "fewer than two datastores: a single storage fault makes every host look dead or isolated",
  isolationAddressMissing: "a host has no default gateway and no isolation address is configured",
  admissionUnsatisfied: "admission control cannot be satisfied with the hosts there are now",
  haTagUnmatched: "ha.tag is set but no host of the cluster carries it: HA VMs will not be restarted",
  oobmMissing:
    "HA is on for a host but out-of-band management is not configured and enabled: it can only be recovered by lease expiry",
  noMaster: "no agent of the cluster reported as master recently",
  hostNotEnrolled: "a host's agent has never enrolled",
} as const;
export type IssueKind = keyof typeof issueKinds;

export interface ConfigIssue {
  kind: IssueKind;
  severity: "warning" | "error";
  message: string;
  host?: string;
}

export function configIssues(b: ClusterBundle, status: ClusterStatus): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const name = b.cluster.name;
  if (!asBool(b.zone.ha_enabled) || !asBool(b.cluster.ha_enabled)) {
    out.push({
      kind: "haDisabled",
      severity: "warning",
      message: `HA is disabled on ${asBool(b.zone.ha_enabled) ? `cluster ${name}` : `zone ${b.zone.name}`}`,
    });
  }
  if (b.datastores.length < 2) {
    out.push({
      kind: "tooFewHeartbeatDatastores",
      severity: "warning",
      message: `cluster ${name} has ${b.datastores.length} datastore(s); at least two are needed for datastore heartbeats`,
    });
  }
  if (b.settings.isolationAddresses.length === 0) {
    for (const h of b.hosts) {
      const report = h.report === null ? null : (JSON.parse(h.report) as { defaultGateway?: string | null });
      if (report !== null && (report.defaultGateway ?? null) === null) {
        out.push({
          kind: "isolationAddressMissing",
          severity: "warning",
          host: h.name,
          message: `isolation address not defined: host ${h.name} has no default gateway and the cluster has no isolation addresses`,
        });
      }
    }
  }
  const policy = b.settings.admissionControl;
  if (policy.policy === "hostFailures" || policy.policy === "slots") {
    const { hosts, poweredOn } = admissionInputs(status);
    const capacity = currentFailoverCapacity(policy, hosts, poweredOn);
    if (hosts.length > 0 && capacity !== null && capacity < policy.hostFailuresToTolerate) {
      out.push({
        kind: "admissionUnsatisfied",
        severity: "error",
        message: `admission control wants ${policy.hostFailuresToTolerate} host failure(s) tolerated; the healthy hosts now tolerate ${capacity}`,
      });
    }
  }
  if (policy.policy === "failoverHosts") {
    const known = new Set(b.hosts.map((h) => h.name));
    const missing = policy.hosts.filter((h) => !known.has(h));
    if (missing.length > 0)
      out.push({
        kind: "admissionUnsatisfied",
        severity: "error",
        message: `failover host(s) ${missing.join(", ")} are not in cluster ${name}`,
      });
  }
  if (b.haTag !== "" && !b.hosts.some((h) => (JSON.parse(h.tags) as string[]).includes(b.haTag))) {
    out.push({
      kind: "haTagUnmatched",
      severity: "error",
      message: `ha.tag is "${b.haTag}" but no host of cluster ${name} carries that tag`,
    });
  }
  for (const h of status.hosts) {
    if (h.haEnabled && !h.oobm.fencing)
      out.push({
        kind: "oobmMissing",
        severity: "warning",
        host: h.name,
        message: `host ${h.name}: HA is enabled but out-of-band management is ${h.oobm.driver === null ? "not configured" : "disabled"}`,
      });
    if (!h.enrolled)
      out.push({
        kind: "hostNotEnrolled",
        severity: "warning",
        host: h.name,
        message: `host ${h.name}: its agent has not enrolled yet`,
      });
  }
  if (b.hosts.some((h) => h.agent_credential_hash !== null) && status.master === null) {
    out.push({
      kind: "noMaster",
      severity: "warning",
      message: `no master reported for cluster ${name} recently`,
    });
  }
  return out;
}
