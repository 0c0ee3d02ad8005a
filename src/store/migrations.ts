// Migrations in code, applied in name order at every server start (kysely's Migrator keeps the list
// of applied ones in its own table, with a lock, so several servers starting at once are safe).
// Never edit a migration that has shipped: add a new one.
import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from "kysely";

export type Dialect = "sqlite" | "postgres";

function migrations(dialect: Dialect): Record<string, Migration> {
  // The only dialect difference: how an auto-numbered key is declared.
  const serial = dialect === "postgres" ? sql`serial primary key` : sql`integer primary key autoincrement`;
  return {
    "0001-inventory": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable("zones")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("name", "text", (c) => c.notNull().unique())
          .addColumn("ha_enabled", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("created_at", "text", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("clusters")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("zone_id", "text", (c) => c.notNull().references("zones.id"))
          .addColumn("name", "text", (c) => c.notNull().unique())
          .addColumn("ha_enabled", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("settings", "text", (c) => c.notNull())
          .addColumn("config_version", "integer", (c) => c.notNull().defaultTo(1))
          .addColumn("secret_enc", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("hosts")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("cluster_id", "text", (c) => c.notNull().references("clusters.id"))
          .addColumn("name", "text", (c) => c.notNull().unique())
          .addColumn("address", "text", (c) => c.notNull())
          .addColumn("agent_port", "integer", (c) => c.notNull())
          .addColumn("cpus", "integer", (c) => c.notNull())
          .addColumn("memory_mib", "integer", (c) => c.notNull())
          .addColumn("tags", "text", (c) => c.notNull())
          .addColumn("fault_domain", "text", (c) => c.notNull())
          .addColumn("election_priority", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("ha_enabled", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("ha_provider", "text", (c) => c.notNull())
          .addColumn("enroll_token_hash", "text")
          .addColumn("agent_credential_hash", "text")
          .addColumn("oob_driver", "text")
          .addColumn("oob_address", "text")
          .addColumn("oob_port", "integer")
          .addColumn("oob_user", "text")
          .addColumn("oob_password_enc", "text")
          .addColumn("oob_enabled", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("oob_power_state", "text", (c) => c.notNull())
          .addColumn("report", "text")
          .addColumn("reported_at", "text")
          .addColumn("created_at", "text", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("datastores")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("cluster_id", "text", (c) => c.notNull().references("clusters.id"))
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("path", "text", (c) => c.notNull())
          .addColumn("heartbeat", "integer", (c) => c.notNull().defaultTo(1))
          .addColumn("created_at", "text", (c) => c.notNull())
          .addUniqueConstraint("datastores_cluster_name", ["cluster_id", "name"])
          .execute();
        await db.schema
          .createTable("offerings")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("name", "text", (c) => c.notNull().unique())
          .addColumn("cpus", "integer", (c) => c.notNull())
          .addColumn("memory_mib", "integer", (c) => c.notNull())
          .addColumn("offer_ha", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("created_at", "text", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("vms")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("cluster_id", "text", (c) => c.notNull().references("clusters.id"))
          .addColumn("name", "text", (c) => c.notNull().unique())
          .addColumn("offering_id", "text", (c) => c.references("offerings.id"))
          .addColumn("cpus", "integer", (c) => c.notNull())
          .addColumn("memory_mib", "integer", (c) => c.notNull())
          .addColumn("datastore_id", "text", (c) => c.notNull().references("datastores.id"))
          .addColumn("ha", "integer", (c) => c.notNull())
          .addColumn("restart_priority", "text")
          .addColumn("requested_host_id", "text", (c) => c.references("hosts.id"))
          .addColumn("command", "text")
          .addColumn("guest_heartbeat", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("created_at", "text", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("rules")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("cluster_id", "text", (c) => c.notNull().references("clusters.id"))
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("body", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .addUniqueConstraint("rules_cluster_name", ["cluster_id", "name"])
          .execute();
        await db.schema
          .createTable("settings")
          .addColumn("name", "text", (c) => c.primaryKey())
          .addColumn("value", "text", (c) => c.notNull())
          .addColumn("updated_at", "text", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("events")
          .addColumn("id", serial)
          .addColumn("at", "text", (c) => c.notNull())
          .addColumn("cluster_id", "text")
          .addColumn("host", "text")
          .addColumn("vm", "text")
          .addColumn("type", "text", (c) => c.notNull())
          .addColumn("level", "text", (c) => c.notNull())
          .addColumn("message", "text", (c) => c.notNull())
          .addColumn("data", "text", (c) => c.notNull())
          .addColumn("source", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("events_cluster").on("events").columns(["cluster_id", "id"]).execute();
        await db.schema
          .createTable("tokens")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("name", "text", (c) => c.notNull().unique())
          .addColumn("role", "text", (c) => c.notNull())
          .addColumn("token_hash", "text", (c) => c.notNull().unique())
          .addColumn("created_at", "text", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("commands")
          .addColumn("id", serial)
          .addColumn("cluster_id", "text", (c) => c.notNull().references("clusters.id"))
          .addColumn("host_id", "text", (c) => c.references("hosts.id"))
          .addColumn("type", "text", (c) => c.notNull())
          .addColumn("payload", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("delivered_at", "text")
          .addColumn("done_at", "text")
          .execute();
      },
    },
    "0002-oobm-insecure-tls": {
      async up(db: Kysely<unknown>) {
        // Redfish BMCs speak HTTPS; lab and out-of-the-box BMCs have self-signed certificates.
        await db.schema
          .alterTable("hosts")
          .addColumn("oob_insecure_tls", "integer", (c) => c.notNull().defaultTo(0))
          .execute();
      },
    },
  };
}

class CodeProvider implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(this.dialect);
  }
}

/** Applies every pending migration; throws with the name of the one that failed. */
export async function migrate(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  const migrator = new Migrator({ db, provider: new CodeProvider(dialect) });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === "Error")?.migrationName ?? "(before any migration)";
    throw new Error(`database migration ${failed} failed: ${(error as Error).message ?? String(error)}`);
  }
}
