// The management API suite on SQLite (the default) and on a throwaway PostgreSQL.
import { apiSuite } from "../server/api.suite.ts";
import { postgresUnavailable, startPostgres } from "../server/postgres.ts";

apiSuite("SQLite", async () => ({ database: null, close: async () => {} }));

const noPostgres = postgresUnavailable();
if (noPostgres !== null) console.error(`SKIPPED: the API suite on PostgreSQL: ${noPostgres}`);
apiSuite(
  "PostgreSQL",
  async () => {
    const pg = await startPostgres();
    return { database: pg.url, close: () => pg.stop() };
  },
  noPostgres ?? false,
);
