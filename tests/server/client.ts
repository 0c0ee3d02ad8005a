// Starts a real `vigil server` (fastify on a loopback port) on a given database for API tests, and
// a small fetch client that keeps the status and the JSON body of every answer.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildServer, type VigilServer } from "../../src/server/app.ts";
import { openStore } from "../../src/store/open.ts";

export interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: test code reads arbitrary JSON answers
  body: any;
  headers: Headers;
}

export interface RunningServer {
  server: VigilServer;
  url: string;
  adminToken: string;
  dataDir: string;
  call(method: string, path: string, body?: unknown, token?: string | null): Promise<Answer>;
  /** Sends `raw` as the body, unparsed, with a JSON content type. */
  raw(method: string, path: string, raw: string, token?: string | null): Promise<Answer>;
  stop(): Promise<void>;
}

export const adminTokenForTests = "test-admin-token-0123456789";

export async function startTestServer(options: {
  database: string | null;
  dataDir?: string;
  /** 0 (the default): any free port. A restart can ask for the port it had. */
  port?: number;
}): Promise<RunningServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "vigil-server-"));
  const store = await openStore({ database: options.database, dataDir });
  const server = await buildServer({
    store,
    dataDir,
    initialAdminToken: adminTokenForTests,
    version: "test",
    eventPollMs: 100,
  });
  await server.app.listen({ host: "127.0.0.1", port: options.port ?? 0 });
  const address = server.app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  const url = `http://127.0.0.1:${port}`;
  const send = async (method: string, path: string, body: string | undefined, token: string | null) => {
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(`${url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === "" ? null : JSON.parse(text);
    } catch {
      // Not JSON (metrics): keep the text.
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
  return {
    server,
    url,
    adminToken: adminTokenForTests,
    dataDir,
    call: (method, path, body, token = adminTokenForTests) =>
      send(method, path, body === undefined ? undefined : JSON.stringify(body), token),
    raw: (method, path, raw, token = adminTokenForTests) => send(method, path, raw, token),
    stop: async () => {
      await server.close();
      await store.close();
    },
  };
}

export function removeDataDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
