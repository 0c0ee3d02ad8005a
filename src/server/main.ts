// `vigil server`: opens the database, starts the API and prints where it listens and how to get in.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { openStore } from "../store/open.ts";
import { adminTokenFile, apiPrefix, buildServer, type VigilServer } from "./app.ts";

export interface ServerCommandOptions {
  dataDir: string;
  database: string | null;
  listen: string;
  port: number;
  tlsCert: string | null;
  tlsKey: string | null;
  secretKeyFile: string | null;
  log: boolean;
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

export async function startServer(
  options: ServerCommandOptions,
  out: (line: string) => void,
): Promise<{ server: VigilServer; url: string }> {
  if ((options.tlsCert === null) !== (options.tlsKey === null))
    throw new Error("--tls-cert and --tls-key go together: give both or neither");
  const store = await openStore({ database: options.database, dataDir: options.dataDir });
  const server = await buildServer({
    store,
    dataDir: options.dataDir,
    ...(options.secretKeyFile === null ? {} : { secretKeyFile: options.secretKeyFile }),
    ...(process.env.VIGIL_ADMIN_TOKEN ? { initialAdminToken: process.env.VIGIL_ADMIN_TOKEN } : {}),
    logger: options.log ? { level: "info" } : false,
    https:
      options.tlsCert === null || options.tlsKey === null
        ? null
        : { cert: readFileSync(options.tlsCert), key: readFileSync(options.tlsKey) },
    version: packageVersion(),
  }).catch(async (error: unknown) => {
    await store.close();
    throw error;
  });
  await server.app.listen({ host: options.listen, port: options.port });
  const address = server.app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port;
  const host = options.listen.includes(":") ? `[${options.listen}]` : options.listen;
  const url = `${options.tlsCert === null ? "http" : "https"}://${host}:${port}`;
  out(
    `vigil server ${packageVersion()} on ${url}${apiPrefix} (docs ${url}/api/docs), database ${store.describe}`,
  );
  if (server.createdAdminToken !== null)
    out(`first start: the admin token is in ${join(options.dataDir, adminTokenFile)} (mode 0600)`);
  return { server, url };
}

/** Runs until SIGINT or SIGTERM, then closes the server and the database. */
export async function runServer(options: ServerCommandOptions, out: (line: string) => void): Promise<void> {
  const { server } = await startServer(options, out);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  await server.close();
  await server.ctx.store.close();
}
