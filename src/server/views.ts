// What the API shows of hosts and VMs: the inventory joined with what the agents last reported. The
// master's report wins where it speaks (host states, where VMs run); a host's own report fills in.
import type { HostState } from "../core/host-states.ts";
import type { AgentReport } from "./agent-report.ts";
import { engineState, type HaState, haStateOf, parseReport, type ReportedHost } from "./ha-state.ts";
import { asBool, type ClusterBundle, type Host, type Vm } from "./inventory.ts";
import { hostFenceable, vmProtected } from "./render.ts";

export interface HostView {
  id: string;
  name: string;
  clusterId: string;
  cluster: string;
  address: string;
  agentPort: number;
  cpus: number;
  memoryMiB: number;
  tags: string[];
  faultDomain: string;
  electionPriority: number;
  haEnabled: boolean;
  haProvider: string;
  haState: HaState;
  haStateReason: string;
  /** The engine's state of the host (DESIGN section 4), or unknown. */
  state: HostState | "unknown";
  enrolled: boolean;
  lastReportAt: string | null;
  configVersion: number | null;
  oobm: {
    driver: string | null;
    address: string | null;
    port: number | null;
    user: string | null;
    passwordSet: boolean;
    /** Redfish only: the BMC's certificate is not checked. */
    insecureTls: boolean;
    enabled: boolean;
    powerState: string;
    fencing: boolean;
  };
  watchdog: string;
}

export const vmStates = {
  running: "runs on a host",
  starting: "being started",
  stopping: "being stopped",
  down: "runs nowhere",
  unknown: "no recent report from the hosts that could run it",
} as const;
export type VmState = keyof typeof vmStates;

export interface VmView {
  id: string;
  name: string;
  clusterId: string;
  offeringId: string | null;
  cpus: number;
  memoryMiB: number;
  datastore: string;
  ha: boolean;
  /** ha, and HA on for the zone and cluster: the VM is restarted after failures. */
  protected: boolean;
  restartPriority: string;
  requestedHost: string | null;
  command: string[] | null;
  state: VmState;
  host: string | null;
  epoch: number | null;
}

export interface ClusterStatus {
  master: string | null;
  hosts: HostView[];
  vms: VmView[];
}

export function clusterStatus(b: ClusterBundle, nowMs: number, staleMs: number): ClusterStatus {
  const reports = new Map<string, ReportedHost>(b.hosts.map((h) => [h.name, parseReport(h, nowMs, staleMs)]));
  // Several hosts may claim to be master during a partition; the one heard last speaks.
  let master: { name: string; report: AgentReport; at: string } | null = null;
  for (const h of b.hosts) {
    const r = reports.get(h.name)!;
    if (!r.fresh || r.report === null || r.report.role !== "master") continue;
    if (master === null || h.reported_at! > master.at)
      master = { name: h.name, report: r.report, at: h.reported_at! };
  }
  const hosts = b.hosts.map((h) => hostView(b, h, reports.get(h.name)!, master));
  const dsName = new Map(b.datastores.map((d) => [d.id, d.name]));
  const hostName = new Map(b.hosts.map((h) => [h.id, h.name]));
  const vms = b.vms.map((v) => {
    let where: { host: string; epoch: number; state: VmState } | null = null;
    let anyFresh = master !== null;
    for (const h of b.hosts) {
      const r = reports.get(h.name)!;
      if (!r.fresh || r.report === null) continue;
      anyFresh = true;
      const listed = r.report.vms.find((x) => x.vm === v.name);
      if (listed !== undefined && (where === null || listed.epoch > where.epoch)) {
        where = { host: h.name, epoch: listed.epoch, state: listedState(listed.state) };
      }
    }
    const placedOn = master?.report.placement?.[v.name];
    if (where === null && placedOn !== undefined) where = { host: placedOn, epoch: 0, state: "running" };
    return vmView(b, v, dsName, hostName, where, anyFresh);
  });
  return { master: master?.name ?? null, hosts, vms };
}

function listedState(s: string): VmState {
  return s === "starting" || s === "stopping" ? s : "running";
}

function hostView(
  b: ClusterBundle,
  h: Host,
  own: ReportedHost,
  master: { name: string; report: AgentReport } | null,
): HostView {
  const state = engineState(h, own, master);
  const ha = haStateOf(b.zone, b.cluster, h, state);
  return {
    id: h.id,
    name: h.name,
    clusterId: b.cluster.id,
    cluster: b.cluster.name,
    address: h.address,
    agentPort: h.agent_port,
    cpus: h.cpus,
    memoryMiB: h.memory_mib,
    tags: JSON.parse(h.tags) as string[],
    faultDomain: h.fault_domain,
    electionPriority: h.election_priority,
    haEnabled: asBool(h.ha_enabled),
    haProvider: h.ha_provider,
    haState: ha.state,
    haStateReason: ha.reason,
    state,
    enrolled: h.agent_credential_hash !== null,
    lastReportAt: h.reported_at,
    configVersion: own.report?.configVersion ?? null,
    oobm: {
      driver: h.oob_driver,
      address: h.oob_address,
      port: h.oob_port,
      user: h.oob_user,
      passwordSet: h.oob_password_enc !== null,
      insecureTls: asBool(h.oob_insecure_tls),
      enabled: asBool(h.oob_enabled),
      powerState: h.oob_power_state,
      fencing: hostFenceable(h),
    },
    watchdog: "none: the process driver arms no hardware watchdog (DESIGN section 3, rule 3)",
  };
}

function vmView(
  b: ClusterBundle,
  v: Vm,
  dsName: Map<string, string>,
  hostName: Map<string, string>,
  where: { host: string; epoch: number; state: VmState } | null,
  anyFresh: boolean,
): VmView {
  return {
    id: v.id,
    name: v.name,
    clusterId: b.cluster.id,
    offeringId: v.offering_id,
    cpus: v.cpus,
    memoryMiB: v.memory_mib,
    datastore: dsName.get(v.datastore_id) ?? "?",
    ha: asBool(v.ha),
    protected: vmProtected(b, asBool(v.ha)),
    restartPriority: v.restart_priority ?? b.settings.defaultRestartPriority,
    requestedHost: v.requested_host_id === null ? null : (hostName.get(v.requested_host_id) ?? null),
    command: v.command === null ? null : (JSON.parse(v.command) as string[]),
    state: where?.state ?? (anyFresh ? "down" : "unknown"),
    host: where?.host ?? null,
    epoch: where === null || where.epoch === 0 ? null : where.epoch,
  };
}
