// `vigil start` (`npm start`): a management server with hosts to manage, ready to try. As root, the
// lab with its own server (network namespaces, ipmi_sim BMCs); otherwise simulated hosts: real
// agents, keepers and VMs (process driver) on loopback addresses with datastores in a directory, and
// no BMC (restarts take the lease path). Both come with HA on, a few HA VMs, and printed next steps.
import { type ChildProcess, spawn } from "node:child_process";
import { openSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { startServer } from "../server/main.ts";
import * as lab from "./lab.ts";
import { type ApiCall, apiCaller, labCluster, labServerOf, labZone, registerCluster } from "./lab-server.ts";
import * as net from "./net.ts";

const binPath = fileURLToPath(new URL("../../bin/vigil.js", import.meta.url));
const loopbackAgentPort = 7410;
const demoServerPort = 8470;

export interface Demo {
  url: string;
  adminTokenFile: string;
  /** Runs until stopped (simulated hosts) or null: the lab stays up until `vigil lab down`. */
  stop: (() => Promise<void>) | null;
}

/** HA on, an HA offering and two HA VMs per host, spread over the hosts. */
async function populate(api: ApiCall, hosts: string[]): Promise<void> {
  // Admission control judges power-ons by the capacity the hosts report: wait for every report.
  const deadline = Date.now() + 90_000;
  for (;;) {
    const listed = (await api("GET", `/hosts?cluster=${labCluster}`)) as {
      items: { lastReportAt: string | null; state: string }[];
    };
    if (listed.items.length === hosts.length && listed.items.every((h) => h.state !== "unknown")) break;
    if (Date.now() > deadline)
      throw new Error("the hosts' agents did not report within 90 s; see their agent.log");
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  await api("POST", `/zones/${labZone}/ha`, { enabled: true });
  await api("POST", `/clusters/${labCluster}/ha`, { enabled: true, includeHosts: true });
  await api("POST", "/offerings", { name: "ha-small", cpus: 1, memoryMiB: 512, offerHa: true });
  for (let i = 0; i < hosts.length * 2; i++)
    await api("POST", "/vms", {
      name: `vm${i + 1}`,
      cluster: labCluster,
      offering: "ha-small",
      host: hosts[i % hosts.length],
    });
}

async function labDemo(hosts: number, say: (line: string) => void): Promise<Demo> {
  const state = await lab.up(
    { dir: lab.defaultLabDir, hosts, vms: 0, datastores: 2, bmc: true, fast: true, server: true },
    say,
  );
  const server = labServerOf(state.dir);
  const api = apiCaller(server.url, server.adminTokenFile);
  const password = (await readFile(join(state.dir, "bmc.pw"), "utf8")).trim();
  for (const host of state.hosts) {
    await api("PUT", `/hosts/${host.name}/oobm`, {
      driver: "ipmitool",
      address: net.gatewayAddress,
      port: host.bmcPort,
      user: "admin",
      password,
    });
    await api("POST", `/hosts/${host.name}/oobm/enabled`, { enabled: true });
  }
  await populate(
    api,
    state.hosts.map((h) => h.name),
  );
  return { url: server.url, adminTokenFile: server.adminTokenFile, stop: null };
}

/** Every process of the demo carries this in its environment, so that stopping finds them all. */
const demoMarker = "VIGIL_DEMO";

async function killMarked(value: string): Promise<void> {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const environ = await readFile(`/proc/${entry}/environ`, "utf8").catch(() => "");
    if (!environ.split("\0").includes(`${demoMarker}=${value}`)) continue;
    try {
      process.kill(Number(entry), "SIGKILL");
    } catch {
      // Gone already.
    }
  }
}

async function loopbackDemo(hosts: number, say: (line: string) => void): Promise<Demo> {
  const dir = join(homedir(), ".vigil-demo");
  await killMarked(dir);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { server, url } = await startServer(
    {
      dataDir: join(dir, "server"),
      database: null,
      listen: "127.0.0.1",
      port: demoServerPort,
      tlsCert: null,
      tlsKey: null,
      secretKeyFile: null,
      log: false,
    },
    say,
  );
  const adminTokenFile = join(dir, "server", "admin.token");
  const api = apiCaller(url, adminTokenFile);
  const names = Array.from({ length: hosts }, (_, i) => `h${i + 1}`);
  const hostDir = (host: string) => join(dir, "hosts", host);
  const datastores = ["ds1", "ds2"].map((name) => ({ name, path: join(dir, "ds", name) }));
  for (const ds of datastores) await mkdir(ds.path, { recursive: true });
  for (const host of names) await mkdir(hostDir(host), { recursive: true });
  await registerCluster(
    api,
    {
      settings: { timingProfile: "fast", isolationAddresses: ["127.0.0.1"] },
      datastores,
      hosts: names.map((name, i) => ({ name, address: `127.0.0.${11 + i}`, agentPort: loopbackAgentPort })),
    },
    (host, token) => writeFile(join(hostDir(host), "enroll.token"), token, { mode: 0o600 }),
  );
  const agents: ChildProcess[] = [];
  for (const host of names) {
    await writeFile(
      join(hostDir(host), "agent.yaml"),
      stringify({
        host,
        stateDir: join(hostDir(host), "state"),
        server: { url, enrollTokenFile: join(hostDir(host), "enroll.token") },
      }),
    );
    const log = openSync(join(hostDir(host), "agent.log"), "a");
    const child = spawn(process.execPath, [binPath, "agent", "--config", join(hostDir(host), "agent.yaml")], {
      env: { ...process.env, [demoMarker]: dir },
      stdio: ["ignore", log, log],
      detached: true,
    });
    child.unref();
    agents.push(child);
  }
  await populate(api, names);
  say(
    `simulated hosts ${names.join(", ")} on 127.0.0.11-${10 + hosts} (no BMC: restarts take the lease path)`,
  );
  return {
    url,
    adminTokenFile,
    stop: async () => {
      await killMarked(dir);
      await server.close();
      await server.ctx.store.close();
    },
  };
}

export async function startDemo(options: { hosts: number }, say: (line: string) => void): Promise<Demo> {
  if (options.hosts < 2 || options.hosts > 20) throw new Error("--hosts must be between 2 and 20");
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  const demo = root ? await labDemo(options.hosts, say) : await loopbackDemo(options.hosts, say);
  say("");
  say(`Vigil is up: ${demo.url}  (API docs: ${demo.url}/api/docs)`);
  say("");
  say(`  export VIGIL_URL=${demo.url} VIGIL_TOKEN=$(cat ${demo.adminTokenFile})`);
  say("  npx vigil host list                 # HA state of every host");
  say("  npx vigil vm list                   # where every VM runs");
  say("  npx vigil event watch               # follow what happens");
  if (root) {
    say("  npx vigil oobm power h2 off         # power a host off through its BMC: its VMs move");
    say("  npx vigil lab down                  # remove it all");
  } else {
    say("  Ctrl-C                              # stop the server, the hosts and their VMs");
  }
  return demo;
}
