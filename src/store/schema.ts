// The database's tables as kysely sees them. Booleans are 0/1 integers and structured values JSON
// text, so SQLite and PostgreSQL return the same shapes; ids are UUIDs made by the server.
import type { Generated } from "kysely";

export interface ZoneTable {
  id: string;
  name: string;
  ha_enabled: number;
  created_at: string;
}

export interface ClusterTable {
  id: string;
  zone_id: string;
  name: string;
  ha_enabled: number;
  /** JSON: the cluster's availability settings (src/server/cluster-settings.ts). */
  settings: string;
  /** Bumped on every change an agent must see; agents fetch the configuration when it moves. */
  config_version: number;
  /** The HMAC secret of the cluster's agents, encrypted like BMC passwords. */
  secret_enc: string;
  created_at: string;
}

export interface HostTable {
  id: string;
  cluster_id: string;
  name: string;
  address: string;
  agent_port: number;
  cpus: number;
  memory_mib: number;
  /** JSON string array. */
  tags: string;
  fault_domain: string;
  election_priority: number;
  ha_enabled: number;
  ha_provider: string;
  /** SHA-256 of the one-time enrollment token; null once used. */
  enroll_token_hash: string | null;
  /** SHA-256 of the agent credential issued at enrollment. */
  agent_credential_hash: string | null;
  oob_driver: string | null;
  oob_address: string | null;
  oob_port: number | null;
  oob_user: string | null;
  oob_password_enc: string | null;
  /** 1: the Redfish driver accepts any certificate from this host's BMC (self-signed lab BMCs). */
  oob_insecure_tls: number;
  oob_enabled: number;
  oob_power_state: string;
  /** JSON: the host's last report (src/server/agent-reports.ts), or null. */
  report: string | null;
  reported_at: string | null;
  created_at: string;
}

export interface DatastoreTable {
  id: string;
  cluster_id: string;
  name: string;
  /** Where every host of the cluster mounts it. */
  path: string;
  heartbeat: number;
  created_at: string;
}

export interface OfferingTable {
  id: string;
  name: string;
  cpus: number;
  memory_mib: number;
  offer_ha: number;
  created_at: string;
}

export interface VmTable {
  id: string;
  cluster_id: string;
  name: string;
  offering_id: string | null;
  cpus: number;
  memory_mib: number;
  datastore_id: string;
  ha: number;
  /** null: the cluster's default restart priority. */
  restart_priority: string | null;
  /** Where the user asked it to be powered on first (null: the master places it). */
  requested_host_id: string | null;
  /** JSON string array: the process driver's command; null uses the cluster's default. */
  command: string | null;
  guest_heartbeat: number;
  created_at: string;
}

export interface RuleTable {
  id: string;
  cluster_id: string;
  name: string;
  /** JSON: a src/core Rule with VM and host names. */
  body: string;
  created_at: string;
}

export interface SettingTable {
  name: string;
  value: string;
  updated_at: string;
}

export interface EventTable {
  id: Generated<number>;
  at: string;
  cluster_id: string | null;
  host: string | null;
  vm: string | null;
  type: string;
  level: string;
  message: string;
  /** JSON object. */
  data: string;
  /** "agent:<host>" or "user:<token name>" or "server". */
  source: string;
}

export interface TokenTable {
  id: string;
  name: string;
  role: string;
  token_hash: string;
  created_at: string;
}

export interface CommandTable {
  id: Generated<number>;
  cluster_id: string;
  /** The host that must carry it out; null: the cluster's master. */
  host_id: string | null;
  type: string;
  /** JSON. */
  payload: string;
  created_at: string;
  delivered_at: string | null;
  done_at: string | null;
}

export interface Database {
  zones: ZoneTable;
  clusters: ClusterTable;
  hosts: HostTable;
  datastores: DatastoreTable;
  offerings: OfferingTable;
  vms: VmTable;
  rules: RuleTable;
  settings: SettingTable;
  events: EventTable;
  tokens: TokenTable;
  commands: CommandTable;
}
