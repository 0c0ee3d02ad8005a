// `vigil lab up --server`: the lab's hosts managed by a real `vigil server`, as an operator would run
// them. The server runs in the root namespace on the bridge's gateway address (reachable from every
// host, from nowhere else), with its SQLite database in the lab directory. The lab registers what a
// data-centre team would: a zone, a cluster, its datastores and hosts (each host's one-time
// enrollment token goes to that host's directory); HA and out-of-band management are left off, for
// the operator to switch on. Agents enroll, fetch their configuration and keep it cached.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { openSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultClusterSettings } from "../server/cluster-settings.ts";
import type { LabState } from "./lab.ts";
import * as net from "./net.ts";

export const labServerPort = 8470;
export const labZone = "lab-zone";
export const labCluster = "lab";

export interface LabServer {
  url: string;
  dataDir: string;
  adminTokenFile: string;
}

const binPath = fileURLToPath(new URL("../../bin/vigil.js", import.meta.url));

export function labServerOf(dir: string): LabServer {
  const dataDir = join(dir, "server");
  return {
    url: `http://${net.gatewayAddress}:${labServerPort}`,
    dataDir,
    adminTokenFile: join(dataDir, "admin.token"),
  };
}

function pidFile(server: LabServer): string {
  return join(server.dataDir, "server.pid");
}

export async function labServerPid(server: LabServer): Promise<number | null> {
  const pid = Number((await readFile(pidFile(server), "utf8").catch(() => "")).trim());
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

/** Starts the server detached (it outlives `vigil lab up`) and waits until it answers. */
export async function startLabServer(server: LabServer): Promise<void> {
  if ((await labServerPid(server)) !== null) return;
  await mkdir(server.dataDir, { recursive: true, mode: 0o700 });
  let token = (await readFile(server.adminTokenFile, "utf8").catch(() => "")).trim();
  if (token === "") {
    token = `vigil_lab_${randomBytes(16).toString("hex")}`;
    await writeFile(server.adminTokenFile, token, { mode: 0o600 });
  }
  const log = openSync(join(server.dataDir, "server.log"), "a");
  const child = spawn(
    process.execPath,
    [
      binPath,
      "server",
      "--data-dir",
      server.dataDir,
      "--listen",
      net.gatewayAddress,
      "--port",
      String(labServerPort),
    ],
    { detached: true, stdio: ["ignore", log, log], env: { ...process.env, VIGIL_ADMIN_TOKEN: token } },
  );
  child.unref();
  await writeFile(pidFile(server), String(child.pid ?? ""));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const up = await fetch(`${server.url}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return;
    if (Date.now() > deadline)
      throw new Error(
        `the lab's server did not answer on ${server.url} within 30 s; see ${server.dataDir}/server.log`,
      );
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export async function stopLabServer(server: LabServer): Promise<void> {
  const pid = await labServerPid(server);
  if (pid === null) return;
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if ((await labServerPid(server)) === null) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  process.kill(pid, "SIGKILL");
}

export type ApiCall = (method: string, path: string, body?: unknown) => Promise<unknown>;

/** Calls the server's API with the token in `tokenFile`; a refusal throws with the server's message. */
export function apiCaller(url: string, tokenFile: string): ApiCall {
  return async (method, path, body) => {
    const token = (await readFile(tokenFile, "utf8")).trim();
    const res = await fetch(`${url}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const answer = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    if (!res.ok)
      throw new Error(`${method} ${path}: ${res.status} ${answer?.error?.message ?? "no message"}`);
    return answer;
  };
}

export interface ClusterToRegister {
  settings: object;
  datastores: { name: string; path: string }[];
  hosts: { name: string; address: string; agentPort: number }[];
}

/** Registers a zone, a cluster, its datastores and hosts; hands each host's enrollment token on. */
export async function registerCluster(
  api: ApiCall,
  cluster: ClusterToRegister,
  enrollToken: (host: string, token: string) => Promise<void>,
): Promise<void> {
  await api("POST", "/zones", { name: labZone });
  await api("POST", "/clusters", { name: labCluster, zone: labZone, settings: cluster.settings });
  for (const ds of cluster.datastores) await api("POST", "/datastores", { ...ds, cluster: labCluster });
  for (const host of cluster.hosts) {
    const answer = (await api("POST", "/hosts", {
      ...host,
      cluster: labCluster,
      cpus: 64,
      memoryMiB: 262_144,
    })) as { enrollmentToken: string };
    await enrollToken(host.name, answer.enrollmentToken);
  }
}

/** Registers the lab's zone, cluster, datastores and hosts; writes each host's enrollment token. */
export async function registerLab(
  state: LabState,
  server: LabServer,
  enrollTokenFile: (host: string) => string,
  agentPort: number,
): Promise<void> {
  await registerCluster(
    apiCaller(server.url, server.adminTokenFile),
    {
      settings: {
        timingProfile: state.timingProfile,
        responses: { ...defaultClusterSettings.responses, isolation: state.isolationResponse },
        isolationAddresses: [net.gatewayAddress],
      },
      datastores: state.datastores.map((ds) => ({ name: ds, path: join(state.dir, "ds", ds) })),
      hosts: state.hosts.map((h) => ({ name: h.name, address: h.address, agentPort })),
    },
    (host, token) => writeFile(enrollTokenFile(host), token, { mode: 0o600 }),
  );
}
