// Opens the server's database: a SQLite file in the data directory by default, PostgreSQL when given
// a postgres:// URL. Migrations run before the handle is returned.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import SqliteDatabase from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";
import { type Dialect, migrate } from "./migrations.ts";
import type { Database } from "./schema.ts";

export interface Store {
  db: Kysely<Database>;
  dialect: Dialect;
  /** Where it is, for logs (a postgres URL without its password). */
  describe: string;
  close(): Promise<void>;
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    return "postgres (unparseable URL)";
  }
}

/** `database`: a postgres:// URL, or null for SQLite at `<dataDir>/vigil.db`. */
export async function openStore(options: { database: string | null; dataDir: string }): Promise<Store> {
  let db: Kysely<Database>;
  let dialect: Dialect;
  let describe: string;
  if (options.database !== null && /^postgres(ql)?:\/\//.test(options.database)) {
    dialect = "postgres";
    describe = redact(options.database);
    db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: options.database, max: 10 }) }),
    });
  } else if (options.database !== null) {
    throw new Error(
      `--database must be a postgres:// URL (or left out for SQLite), got "${options.database}"`,
    );
  } else {
    dialect = "sqlite";
    mkdirSync(options.dataDir, { recursive: true });
    const file = join(options.dataDir, "vigil.db");
    describe = `sqlite ${file}`;
    const sqlite = new SqliteDatabase(file);
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("foreign_keys = ON");
    sqlite.pragma("busy_timeout = 5000");
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  }
  try {
    await migrate(db as unknown as Kysely<unknown>, dialect);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return { db, dialect, describe, close: () => db.destroy() };
}
