// The agents' view of a cluster: the server renders the same cluster.yaml an operator would write by
// hand for a serverless cluster (docs/agent.md), plus the secret files it refers to. Every change to
// the inventory is checked by rendering the result and reading it back with the agents' own parser,
// so the server never stores a configuration an agent would refuse.
import { stringify } from "yaml";
import { parseClusterFile } from "../agent/config.ts";
import { defaultTiming, fastTiming } from "../core/cluster.ts";
import { ScenarioError } from "../sim/scenario.ts";
import { ApiError } from "./errors.ts";
import { asBool, type ClusterBundle, type Host } from "./inventory.ts";
import type { SecretBox } from "./secrets.ts";

export interface RenderedConfig {
  version: number;
  clusterYaml: string;
  /** File name (beside cluster.yaml) -> content: the cluster secret and BMC passwords. */
  secrets: Record<string, string>;
  isolationAddresses: string[];
  /** Datastore -> the path hosts mount it at, unless an agent's own file says otherwise. */
  datastorePaths: Record<string, string>;
}

/** File names the rendered YAML refers to. */
export const clusterSecretFile = "cluster.secret";
const bmcPasswordFile = (host: string) => `bmc-${host}.pw`;

/** A VM is protected only when HA is on for its zone, its cluster and the VM (its offering). */
export function vmProtected(b: ClusterBundle, vmHa: boolean): boolean {
  return (
    vmHa &&
    asBool(b.zone.ha_enabled) &&
    asBool(b.cluster.ha_enabled) &&
    b.settings.hostMonitoring &&
    b.settings.responses.hostFailure === "restart"
  );
}

/** The master fences a host through its BMC only when HA and out-of-band management are on for it. */
export function hostFenceable(h: Host): boolean {
  return (
    asBool(h.ha_enabled) && asBool(h.oob_enabled) && h.oob_driver !== null && h.oob_password_enc !== null
  );
}

export function renderCluster(b: ClusterBundle, secrets: SecretBox): RenderedConfig {
  const s = b.settings;
  const dsName = new Map(b.datastores.map((d) => [d.id, d.name]));
  const hostName = new Map(b.hosts.map((h) => [h.id, h.name]));
  const timing = { ...(s.timingProfile === "fast" ? fastTiming : defaultTiming), ...s.timing };
  const cluster: Record<string, unknown> = {
    isolationResponse: s.responses.isolation,
    admissionControl: s.admissionControl,
    ...(b.haTag === "" ? {} : { haTag: b.haTag }),
    timing,
    monitoring: s.responses.guestHeartbeatLoss === "disabled" ? "off" : s.vmMonitoring,
    startCondition: s.startCondition,
  };
  if (s.vmMonitoring === "custom" && s.responses.guestHeartbeatLoss !== "disabled")
    cluster.monitoringCustom = s.vmMonitoringCustom;
  const allDatastores = b.datastores.map((d) => d.name);
  const fileSecrets: Record<string, string> = {
    [clusterSecretFile]: secrets.decrypt(b.cluster.secret_enc),
  };
  const bmcs: Record<string, unknown> = {};
  for (const h of b.hosts) {
    if (!hostFenceable(h)) continue;
    bmcs[h.name] = {
      driver: h.oob_driver,
      address: h.oob_address,
      port: h.oob_port,
      user: h.oob_user,
      passwordFile: bmcPasswordFile(h.name),
      ...(h.oob_driver === "redfish" ? { insecureTls: asBool(h.oob_insecure_tls) } : {}),
    };
    fileSecrets[bmcPasswordFile(h.name)] = secrets.decrypt(h.oob_password_enc!);
  }
  const commands: Record<string, unknown> = { default: { command: s.defaultVmCommand } };
  for (const v of b.vms) {
    if (v.command !== null) commands[v.name] = { command: JSON.parse(v.command) as string[] };
  }
  const doc = {
    name: `cluster ${b.cluster.name}`,
    clusterId: b.cluster.id,
    cluster,
    datastores: allDatastores,
    hosts: b.hosts.map((h) => ({
      name: h.name,
      cpus: h.cpus,
      memoryMiB: h.memory_mib,
      datastores: allDatastores,
      bmc: hostFenceable(h),
      // No fault domain given: the agents' reader puts each host in its own, as scenario files do.
      ...(h.fault_domain === "" ? {} : { faultDomain: h.fault_domain }),
      tags: JSON.parse(h.tags) as string[],
      electionPriority: h.election_priority,
    })),
    vms: b.vms.map((v) => ({
      name: v.name,
      cpus: v.cpus,
      memoryMiB: v.memory_mib,
      datastore: dsName.get(v.datastore_id),
      ha: vmProtected(b, asBool(v.ha)),
      restartPriority: v.restart_priority ?? s.defaultRestartPriority,
      guestHeartbeat: asBool(v.guest_heartbeat),
      ...(v.requested_host_id === null ? {} : { host: hostName.get(v.requested_host_id) }),
    })),
    rules: b.rules.map((r) => JSON.parse(r.body) as unknown),
    network: Object.fromEntries(b.hosts.map((h) => [h.name, { address: h.address, port: h.agent_port }])),
    bmcs,
    commands,
  };
  return {
    version: b.cluster.config_version,
    clusterYaml: stringify(doc, { lineWidth: 0 }),
    secrets: fileSecrets,
    isolationAddresses: s.isolationAddresses,
    datastorePaths: Object.fromEntries(b.datastores.map((d) => [d.name, d.path])),
  };
}

/**
 * Renders and reads back as an agent would. Throws invalidInput with the agents' message (which names the field).
 */
export function checkRenderable(b: ClusterBundle, secrets: SecretBox): void {
  // A cluster still being built (fewer than two hosts, no datastore) cannot run HA yet and is not
  // checked: hosts are added one by one, and the configuration issues say what is missing.
  if (b.hosts.length < 2 || b.datastores.length === 0) return;
  const rendered = renderCluster(b, secrets);
  try {
    parseClusterFile(rendered.clusterYaml, `cluster ${b.cluster.name}`);
  } catch (error) {
    if (error instanceof ScenarioError) {
      throw new ApiError(
        "invalidInput",
        `the change would give cluster ${b.cluster.name} a configuration its agents refuse: ${error.message}`,
        error.path === "" ? "body" : error.path,
      );
    }
    throw error;
  }
}
