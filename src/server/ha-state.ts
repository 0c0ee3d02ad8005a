// A host's HA state as CloudStack/Mold shows it (`Available`, `Suspect`, `Fencing`, ...), derived
// from the inventory's switches and from what the cluster's master last reported about the host.
import type { HostState } from "../core/host-states.ts";
import type { AgentReport } from "./agent-report.ts";
import { asBool, type Cluster, type Host, type Zone } from "./inventory.ts";
import { hostFenceable } from "./render.ts";

export const haStates = {
  Disabled: "HA is switched off for the host, its cluster or its zone",
  Ineligible:
    "HA is on but cannot act: out-of-band management is not configured and enabled, or the host is in maintenance",
  Available: "healthy: the master hears the host and can fence it",
  Suspect: "the master does not hear the host, or nothing has reported on it recently",
  Degraded:
    "the host is partitioned or isolated but still writes its datastore heartbeat; its VMs are left to it",
  Fencing: "the host was declared dead and its BMC is being asked to power it off",
  Fenced: "the BMC confirmed the host is off; its VMs are restarted elsewhere",
} as const;
export type HaState = keyof typeof haStates;

export interface ReportedHost {
  report: AgentReport | null;
  /** The report is recent enough to be trusted (host.report.stale.ms). */
  fresh: boolean;
}

export function parseReport(host: Host, nowMs: number, staleMs: number): ReportedHost {
  if (host.report === null || host.reported_at === null) return { report: null, fresh: false };
  const report = JSON.parse(host.report) as AgentReport;
  return { report, fresh: nowMs - Date.parse(host.reported_at) <= staleMs };
}

/** The state the engine gives the host, as the cluster's master (if any reported recently) sees it. */
export function engineState(
  host: Host,
  own: ReportedHost,
  master: { name: string; report: AgentReport } | null,
): HostState | "unknown" {
  if (master !== null) {
    if (master.name === host.name) return "master";
    const seen = master.report.hosts?.[host.name];
    if (seen !== undefined) return seen as HostState;
  }
  if (own.fresh && own.report !== null) {
    if (own.report.maintenance) return "maintenance";
    if (own.report.isolated) return "isolated";
    return own.report.role === "master" ? "master" : "connected";
  }
  return "unknown";
}

export function haStateOf(
  zone: Zone,
  cluster: Cluster,
  host: Host,
  state: HostState | "unknown",
): { state: HaState; reason: string } {
  if (!asBool(zone.ha_enabled)) return { state: "Disabled", reason: `HA is disabled on zone ${zone.name}` };
  if (!asBool(cluster.ha_enabled))
    return { state: "Disabled", reason: `HA is disabled on cluster ${cluster.name}` };
  if (!asBool(host.ha_enabled)) return { state: "Disabled", reason: "HA is disabled on the host" };
  if (!hostFenceable(host))
    return {
      state: "Ineligible",
      reason:
        host.oob_driver === null
          ? "out-of-band management is not configured"
          : "out-of-band management is not enabled",
    };
  switch (state) {
    case "master":
    case "connected":
      return { state: "Available", reason: "the master hears the host" };
    case "election":
    case "unreachable":
      return { state: "Suspect", reason: `the host is ${state}` };
    case "unknown":
      return { state: "Suspect", reason: "no recent report about the host" };
    case "partitioned":
    case "isolated":
      return { state: "Degraded", reason: `the host is ${state}` };
    case "dead":
    case "fencing":
      return { state: "Fencing", reason: `the host is ${state}` };
    case "fenced":
      return { state: "Fenced", reason: "the BMC confirmed power off" };
    case "maintenance":
    case "standby":
      return { state: "Ineligible", reason: `the host is in ${state}` };
  }
}
