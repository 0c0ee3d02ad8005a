// Starts the two host processes: `vigil agent` (election, detection, restarts, VM monitoring) and
// `vigil keeper` (lease renewal and self-fencing). The agent starts the keeper when none runs, and
// the keeper outlives the agent: an agent crash or upgrade neither stops VMs nor lets them start
// elsewhere.
import { spawn } from "node:child_process";
import { openSync, readFileSync } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { ProcessDriver } from "../drivers/process/process-driver.ts";
import { statusOf } from "./agent-status.ts";
import {
  type AgentConfig,
  type ClusterFile,
  driverSpecFor,
  loadAgentFiles,
  parseAgentFile,
  serverCacheDir,
} from "./config.ts";
import type { Datastore } from "./datastore/datastore.ts";
import { FileDatastore } from "./datastore/file-datastore.ts";
import { makeFencer } from "./fencing.ts";
import { KeeperClient, KeeperServer } from "./keeper-link.ts";
import { KeeperRuntime } from "./keeper-runtime.ts";
import { hostProbeTimeoutMs, isolationProbeTimeoutMs, tcpProbe } from "./probe.ts";
import { AgentRuntime } from "./runtime.ts";
import { ServerLink } from "./server-link.ts";
import { readCachedMeta } from "./server-meta.ts";
import { fetchFirstConfig, ServerSync } from "./server-sync.ts";
import { UdpTransport } from "./transport/udp.ts";

/** CLOCK_MONOTONIC in ms: one origin for the agent, the keeper and the driver on this host. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

function logger(host: string, role: "agent" | "keeper") {
  const base = pino({ base: { host, role } });
  return (level: "info" | "warn" | "error", msg: string, fields: object) => base[level](fields, msg);
}

function openDatastores(agent: AgentConfig, cluster: ClusterFile): Map<string, Datastore> {
  const host = cluster.spec.hosts.find((h) => h.name === agent.host)!;
  const map = new Map<string, Datastore>();
  for (const ds of host.datastores) {
    map.set(
      ds,
      new FileDatastore({
        root: agent.datastores[ds]!,
        clusterId: cluster.spec.clusterId,
        ioTimeoutMs: cluster.spec.timing.ioTimeoutMs,
      }),
    );
  }
  return map;
}

function keeperSocket(agent: AgentConfig): string {
  return join(agent.stateDir, "keeper.sock");
}

function vmStateDir(agent: AgentConfig): string {
  return join(agent.stateDir, "vms");
}

async function keeperAnswers(path: string): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect(path);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Starts `vigil keeper` detached, in its own session, so it survives this agent. */
function spawnKeeper(agentFile: string, agent: AgentConfig): void {
  const bin = fileURLToPath(new URL("../../bin/vigil.js", import.meta.url));
  const log = openSync(join(agent.stateDir, "keeper.log"), "a");
  const child = spawn(process.execPath, [bin, "keeper", "--config", agentFile], {
    detached: true,
    stdio: ["ignore", log, log],
  });
  child.unref();
}

/**
 * A server-managed host that never got a configuration enrolls and waits for its first one; every
 * later start uses the cached one at once (the server may be down), and syncs in the background.
 */
async function firstStartWithServer(agentFile: string): Promise<ServerLink | null> {
  const agent = parseAgentFile(agentFile);
  if (agent.server === null) return null;
  const cacheDir = serverCacheDir(agent.stateDir);
  await mkdir(cacheDir, { recursive: true, mode: 0o700 });
  const link = new ServerLink(agent.server, agent.host, cacheDir);
  if (readCachedMeta(cacheDir) === null)
    await fetchFirstConfig(link, cacheDir, agent.host, logger(agent.host, "agent"));
  return link;
}

export async function runAgent(agentFile: string): Promise<void> {
  const link = await firstStartWithServer(agentFile);
  let { agent, cluster } = loadAgentFiles(agentFile);
  const log = logger(agent.host, "agent");
  await mkdir(agent.stateDir, { recursive: true });
  const secret = readFileSync(agent.secretFile);
  const self = cluster.network[agent.host]!;
  const addressBook = new Map(Object.entries(cluster.network).filter(([name]) => name !== agent.host));
  const transport = new UdpTransport({
    host: agent.host,
    clusterId: cluster.spec.clusterId,
    secret,
    incarnation: Date.now(),
    addressBook,
    log: (event, fields) => log("warn", event, fields),
  });
  const driver = new ProcessDriver({ stateDir: vmStateDir(agent), clock: monotonicMs });
  if (!(await keeperAnswers(keeperSocket(agent)))) {
    spawnKeeper(agentFile, agent);
    log("info", "keeper started", { socket: keeperSocket(agent) });
  }
  const autostart = Object.entries(cluster.placement)
    .filter(([, host]) => host === agent.host)
    .map(([vm]) => vm);
  const datastores = openDatastores(agent, cluster);
  let runtime: AgentRuntime | null = null;
  let sync: ServerSync | null = null;
  const keeper = new KeeperClient(keeperSocket(agent), (report) =>
    runtime?.feed({ type: "keeperReport", ...report }),
  );
  runtime = new AgentRuntime({
    self: agent.host,
    spec: cluster.spec,
    options: {
      autostart,
      liveMigration: driver.capabilities().liveMigration,
      isolationAddresses: agent.isolationAddresses.length > 0 ? agent.isolationAddresses : ["gateway"],
    },
    datastores,
    driver,
    fencer: (host) => makeFencer(cluster.bmcs[host]),
    send: (to, msg) => transport.send(to, msg),
    ping: (target) => {
      const peer = cluster.network[target];
      return peer === undefined
        ? tcpProbe(target, 9, isolationProbeTimeoutMs(cluster.spec.timing))
        : tcpProbe(peer.address, peer.port, hostProbeTimeoutMs(cluster.spec.timing));
    },
    toKeeper: (status) => keeper.send({ type: "agentStatus", ...status }),
    driverSpec: (vm) => {
      const spec = driverSpecFor(cluster, vm);
      return { ...spec, env: { ...spec.env, VIGIL_HOST: agent.host } };
    },
    clock: monotonicMs,
    log,
    onEvent: (event) => sync?.record(event),
  });
  const live = runtime;
  if (link !== null) {
    sync = new ServerSync({
      link,
      cacheDir: serverCacheDir(agent.stateDir),
      configVersion: readCachedMeta(serverCacheDir(agent.stateDir))?.version ?? 0,
      status: () => statusOf(live.state),
      feed: (input) => live.feed(input),
      applyConfig: () => {
        // The cached files now hold the new version: read them as a restart would.
        ({ agent, cluster } = loadAgentFiles(agentFile));
        for (const [name, peer] of Object.entries(cluster.network))
          if (name !== agent.host) addressBook.set(name, peer);
        for (const [name, store] of openDatastores(agent, cluster))
          if (!datastores.has(name)) datastores.set(name, store);
        live.feed({ type: "configChanged", cluster: cluster.spec });
      },
      log,
    });
  }
  transport.onMessage((msg) => live.feed({ type: "message", msg }));
  await transport.start({ bindAddress: self.address, port: self.port });
  keeper.start();
  live.start();
  sync?.start();
  log("info", "agent started", {
    address: self.address,
    port: self.port,
    autostart,
    server: link?.url ?? null,
  });
  const statusTimer = setInterval(() => writeStatus(join(agent.stateDir, "status.json"), live), 1000);
  const stop = () => {
    clearInterval(statusTimer);
    sync?.stop();
    live.stop();
    keeper.close();
    void transport.close();
    void driver.close().finally(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

/** What `vigil lab status` (and an operator) reads: this host's role and, on a master, every host's state. */
function writeStatus(path: string, runtime: AgentRuntime): void {
  const status = {
    ...statusOf(runtime.state),
    watchdog: "none (the lab has no hardware watchdog; DESIGN section 3, rule 3)",
    writtenAt: new Date().toISOString(),
  };
  void writeFile(`${path}.tmp`, JSON.stringify(status))
    .then(() => rename(`${path}.tmp`, path))
    .catch(() => {});
}

/** VM -> datastore from the current cluster file; the known map when the file cannot be read. */
function vmDatastores(agentFile: string, known: Map<string, string>): Map<string, string> {
  try {
    return new Map(loadAgentFiles(agentFile).cluster.spec.vms.map((v) => [v.name, v.datastore]));
  } catch {
    return known;
  }
}

export async function runKeeper(agentFile: string): Promise<void> {
  const { agent, cluster } = loadAgentFiles(agentFile);
  const log = logger(agent.host, "keeper");
  await mkdir(agent.stateDir, { recursive: true });
  const vmDatastore = new Map(cluster.spec.vms.map((v) => [v.name, v.datastore]));
  let runtime: KeeperRuntime | null = null;
  const server = new KeeperServer(keeperSocket(agent), (status) =>
    runtime?.agentStatus(status.isolated, status.vms),
  );
  runtime = new KeeperRuntime({
    host: agent.host,
    incarnation: Date.now(),
    datastores: openDatastores(agent, cluster),
    timing: cluster.spec.timing,
    killVmsOnDatastore: async (datastore) => {
      // A driver opened now adopts every VM the agent started since this keeper began: the kill
      // must reach them all, whatever this process saw before.
      const current = new ProcessDriver({ stateDir: vmStateDir(agent), clock: monotonicMs });
      try {
        const listed = await current.list();
        // With a server, VMs may have been added since this keeper read the cluster file.
        const datastoreOf = agent.server === null ? vmDatastore : vmDatastores(agentFile, vmDatastore);
        await Promise.all(
          listed.filter((v) => datastoreOf.get(v.vm) === datastore).map((v) => current.stop(v.vm, "kill")),
        );
      } finally {
        await current.close();
      }
    },
    watchdog: null,
    report: (report) => server.report(report),
    clock: monotonicMs,
    log,
  });
  await server.listen();
  runtime.start();
  log("info", "keeper started", { socket: keeperSocket(agent) });
  const live = runtime;
  const stop = () => {
    live.stop();
    server.close();
    process.exit(0);
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}
