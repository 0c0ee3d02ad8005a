// Reading the inventory: a resource by id or name (every path parameter takes either), and the whole
// of one cluster at once, which rendering the agents' configuration and the configuration issues need.
import { randomUUID } from "node:crypto";
import type { Kysely, Selectable } from "kysely";
import type {
  ClusterTable,
  Database,
  DatastoreTable,
  HostTable,
  OfferingTable,
  RuleTable,
  VmTable,
  ZoneTable,
} from "../store/schema.ts";
import { type ClusterSettings, readSettings } from "./cluster-settings.ts";
import { notFound } from "./errors.ts";

export type Zone = Selectable<ZoneTable>;
export type Cluster = Selectable<ClusterTable>;
export type Host = Selectable<HostTable>;
export type Datastore = Selectable<DatastoreTable>;
export type Offering = Selectable<OfferingTable>;
export type Vm = Selectable<VmTable>;
export type RuleRow = Selectable<RuleTable>;

export const newId = (): string => randomUUID();

type Named = "zones" | "clusters" | "hosts" | "offerings" | "vms";
const what: Record<Named, string> = {
  zones: "zone",
  clusters: "cluster",
  hosts: "host",
  offerings: "offering",
  vms: "VM",
};

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The row whose id or (unique) name is `key`; notFound otherwise. */
export async function findByKey<T extends Named>(
  db: Kysely<Database>,
  table: T,
  key: string,
): Promise<Selectable<Database[T]>> {
  // biome-ignore lint/suspicious/noExplicitAny: kysely cannot type a query over a union of tables
  const q = (db as Kysely<any>).selectFrom(table).selectAll();
  const row = await (uuidPattern.test(key)
    ? q.where("id", "=", key)
    : q.where("name", "=", key)
  ).executeTakeFirst();
  if (row === undefined) throw notFound(what[table], key);
  return row as Selectable<Database[T]>;
}

/** A datastore of a cluster by id or name. */
export async function findDatastore(
  db: Kysely<Database>,
  key: string,
  clusterId?: string,
): Promise<Datastore> {
  let q = db.selectFrom("datastores").selectAll();
  q = uuidPattern.test(key) ? q.where("id", "=", key) : q.where("name", "=", key);
  if (clusterId !== undefined) q = q.where("cluster_id", "=", clusterId);
  const rows = await q.execute();
  if (rows.length === 0) throw notFound("datastore", key);
  if (rows.length > 1)
    throw notFound("datastore (the name is used in several clusters; give the id or the cluster)", key);
  return rows[0]!;
}

export interface ClusterBundle {
  zone: Zone;
  cluster: Cluster;
  settings: ClusterSettings;
  hosts: Host[];
  datastores: Datastore[];
  vms: Vm[];
  rules: RuleRow[];
  haTag: string;
}

export async function loadClusterBundle(db: Kysely<Database>, clusterId: string): Promise<ClusterBundle> {
  const cluster = await db.selectFrom("clusters").selectAll().where("id", "=", clusterId).executeTakeFirst();
  if (cluster === undefined) throw notFound("cluster", clusterId);
  const [zone, hosts, datastores, vms, rules, haTag] = await Promise.all([
    db.selectFrom("zones").selectAll().where("id", "=", cluster.zone_id).executeTakeFirstOrThrow(),
    db.selectFrom("hosts").selectAll().where("cluster_id", "=", clusterId).orderBy("name").execute(),
    db.selectFrom("datastores").selectAll().where("cluster_id", "=", clusterId).orderBy("name").execute(),
    db.selectFrom("vms").selectAll().where("cluster_id", "=", clusterId).orderBy("name").execute(),
    db.selectFrom("rules").selectAll().where("cluster_id", "=", clusterId).orderBy("name").execute(),
    db.selectFrom("settings").select("value").where("name", "=", "ha.tag").executeTakeFirst(),
  ]);
  return {
    zone,
    cluster,
    settings: readSettings(cluster.settings),
    hosts,
    datastores,
    vms,
    rules,
    haTag: haTag?.value ?? "",
  };
}

/** Agents fetch a new configuration when this moves. */
export async function bumpConfigVersion(db: Kysely<Database>, clusterId: string): Promise<void> {
  await db
    .updateTable("clusters")
    .set((eb) => ({ config_version: eb("config_version", "+", 1) }))
    .where("id", "=", clusterId)
    .execute();
}

export async function bumpAllConfigVersions(db: Kysely<Database>): Promise<void> {
  await db
    .updateTable("clusters")
    .set((eb) => ({ config_version: eb("config_version", "+", 1) }))
    .execute();
}

export const asBool = (v: number): boolean => v !== 0;
export const asInt = (v: boolean): number => (v ? 1 : 0);
