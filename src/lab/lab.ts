// `vigil lab`: several real hosts on one Linux machine. Each host is a network namespace with its
// own agent, lease keeper and VMs (process driver), reachable over a bridge; datastores are shared
// directories each host reaches through its own link (cut it, and that host loses the datastore);
// each host has an ipmi_sim BMC whose power off kills every process of the host. All state lives in
// one directory (lab.json), so a second shell can drive the lab and `down` always cleans up.
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, openSync, readFileSync } from "node:fs";
import { chmod, mkdir, readdir, readFile, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { stringify } from "yaml";
import type { IsolationResponse } from "../core/cluster.ts";
import { labServerOf } from "./lab-server.ts";
import * as net from "./net.ts";

const exec = promisify(execFile);

export const defaultLabDir = "/tmp/vigil-lab";
const agentPort = 7410;
const bmcPortBase = 9100;

/** What the hosts' BMCs speak: ipmi_sim (IPMI over LAN) or the lab's Redfish BMC (HTTPS). */
export type LabBmcKind = "ipmi" | "redfish";

export interface LabHost {
  name: string;
  index: number;
  address: string;
  bmcPort: number | null;
}

export interface LabState {
  dir: string;
  hosts: LabHost[];
  datastores: string[];
  vms: string[];
  bmc: boolean;
  /** Absent in labs made before Redfish: ipmi. */
  bmcKind?: LabBmcKind;
  timingProfile: "default" | "fast";
  isolationResponse: IsolationResponse;
  /** The hosts are managed by the lab's own `vigil server` (lab-server.ts); absent in older labs. */
  server?: boolean;
}

export interface UpOptions {
  dir: string;
  hosts: number;
  vms: number;
  datastores: number;
  bmc: boolean;
  /** Default ipmi. */
  bmcKind?: LabBmcKind;
  fast: boolean;
  isolationResponse?: IsolationResponse;
  /** Run a management server and let it configure the agents (VMs are then created through it). */
  server?: boolean;
}

const binPath = fileURLToPath(new URL("../../bin/vigil.js", import.meta.url));

export function hostDir(state: LabState, host: string): string {
  return join(state.dir, "hosts", host);
}

function mountPath(state: LabState, host: string, ds: string): string {
  return join(hostDir(state, host), "mnt", ds);
}

export function loadLab(dir: string): LabState {
  const file = join(dir, "lab.json");
  if (!existsSync(file)) throw new Error(`no lab in ${dir} (run vigil lab up first)`);
  return JSON.parse(readFileSync(file, "utf8")) as LabState;
}

export async function up(options: UpOptions, say: (line: string) => void): Promise<LabState> {
  net.requireRoot();
  if (options.hosts < 2 || options.hosts > 50) throw new Error("--hosts must be between 2 and 50");
  await down(options.dir, () => {});
  const state: LabState = {
    dir: options.dir,
    hosts: Array.from({ length: options.hosts }, (_, i) => ({
      name: `h${i + 1}`,
      index: i + 1,
      address: net.hostAddress(i + 1),
      bmcPort: options.bmc ? bmcPortBase + i + 1 : null,
    })),
    datastores: Array.from({ length: options.datastores }, (_, i) => `ds${i + 1}`),
    vms: options.server === true ? [] : Array.from({ length: options.vms }, (_, i) => `vm${i + 1}`),
    bmc: options.bmc,
    bmcKind: options.bmcKind ?? "ipmi",
    timingProfile: options.fast ? "fast" : "default",
    isolationResponse: options.isolationResponse ?? "powerOff",
    server: options.server === true,
  };
  await mkdir(state.dir, { recursive: true });
  await writeFile(join(state.dir, "secret"), randomBytes(32).toString("hex"), { mode: 0o600 });
  await writeFile(join(state.dir, "bmc.pw"), randomBytes(8).toString("hex"), { mode: 0o600 });
  for (const ds of state.datastores) await mkdir(join(state.dir, "ds", ds), { recursive: true });
  await net.createBridge();
  for (const host of state.hosts) {
    await mkdir(join(hostDir(state, host.name), "mnt"), { recursive: true });
    for (const ds of state.datastores)
      await symlink(join(state.dir, "ds", ds), mountPath(state, host.name, ds));
    await net.createHost(host.name, host.index);
    await writeFile(join(hostDir(state, host.name), "agent.yaml"), stringify(agentYaml(state, host)));
  }
  if (!state.server) await writeFile(join(state.dir, "cluster.yaml"), stringify(clusterYaml(state)));
  await writeFile(join(state.dir, "lab.json"), JSON.stringify(state, null, 2));
  for (const host of state.hosts) await writeHook(state, host);
  if (state.bmc) {
    const { startLabBmc } = await import("./bmc.ts");
    for (const host of state.hosts) await startLabBmc(state, host, hookPath(state, host.name));
  }
  if (state.server) {
    const { labServerOf, registerLab, startLabServer } = await import("./lab-server.ts");
    const server = labServerOf(state.dir);
    await startLabServer(server);
    await registerLab(state, server, (host) => enrollTokenFile(state, host), agentPort);
    say(`server on ${server.url} (docs ${server.url}/api/docs), admin token in ${server.adminTokenFile}`);
  }
  for (const host of state.hosts) await startAgent(state, host.name);
  say(
    `lab up in ${state.dir}: ${state.hosts.length} hosts (${state.hosts.map((h) => `${h.name} ${h.address}`).join(", ")}), ` +
      `${state.vms.length} VMs, datastores ${state.datastores.join(", ")}, ` +
      `${state.bmc ? (state.bmcKind === "redfish" ? "Redfish BMCs (HTTPS)" : "ipmi_sim BMCs") : "no BMCs"}, gateway ${net.gatewayAddress}`,
  );
  return state;
}

function enrollTokenFile(state: LabState, host: string): string {
  return join(hostDir(state, host), "enroll.token");
}

function agentYaml(state: LabState, host: LabHost) {
  const datastores = Object.fromEntries(state.datastores.map((ds) => [ds, mountPath(state, host.name, ds)]));
  if (state.server === true)
    return {
      host: host.name,
      stateDir: join(hostDir(state, host.name), "state"),
      server: {
        url: labServerOf(state.dir).url,
        enrollTokenFile: enrollTokenFile(state, host.name),
      },
      datastores,
      isolationAddresses: [net.gatewayAddress],
    };
  return {
    host: host.name,
    clusterFile: join(state.dir, "cluster.yaml"),
    stateDir: join(hostDir(state, host.name), "state"),
    secretFile: join(state.dir, "secret"),
    datastores,
    isolationAddresses: [net.gatewayAddress],
  };
}

function clusterYaml(state: LabState) {
  return {
    name: "vigil lab",
    clusterId: "lab",
    timingProfile: state.timingProfile,
    cluster: { isolationResponse: state.isolationResponse },
    datastores: state.datastores,
    hosts: state.hosts.map((h) => ({ name: h.name, cpus: 64, memoryMiB: 262_144, bmc: state.bmc })),
    vms: state.vms.map((vm, i) => ({
      name: vm,
      host: state.hosts[i % state.hosts.length]!.name,
      cpus: 1,
      memoryMiB: 512,
      datastore: state.datastores[i % state.datastores.length]!,
    })),
    network: Object.fromEntries(state.hosts.map((h) => [h.name, { address: h.address, port: agentPort }])),
    bmcs: state.bmc
      ? Object.fromEntries(
          state.hosts.map((h) => [
            h.name,
            {
              address: net.gatewayAddress,
              port: h.bmcPort,
              user: "admin",
              passwordFile: join(state.dir, "bmc.pw"),
              // The lab's Redfish BMCs have self-signed certificates.
              ...(state.bmcKind === "redfish" ? { driver: "redfish", insecureTls: true } : {}),
            },
          ]),
        )
      : {},
    commands: { default: { command: ["sleep", "infinity"] } },
  };
}

export function hookPath(state: LabState, host: string): string {
  return join(hostDir(state, host), "power-hook.sh");
}

/**
 * The host's power switch, used by its BMC (ipmi_sim's chassis_control) and by `crash`/`power`:
 * off kills every process in the namespace and takes its link down; on brings the link up and starts
 * the agent (which starts the keeper). `get power` prints the state ipmi_sim asks for.
 */
async function writeHook(state: LabState, host: LabHost): Promise<void> {
  const dir = hostDir(state, host.name);
  const ns = net.namespaceOf(host.name);
  const script = `#!/bin/sh
# ipmi_sim calls: <hook> <mc-addr> get power | <hook> <mc-addr> set power 0|1 (the lab: <hook> set power 0|1)
state="${dir}/power"
[ "$1" = "get" ] || [ "$1" = "set" ] || shift
if [ "$1" = "get" ]; then
  echo "power:$(cat "$state" 2>/dev/null || echo 1)"
  exit 0
fi
if [ "$1" = "set" ] && [ "$2" = "power" ]; then
  if [ "$3" = "0" ]; then
    echo 0 > "$state"
    ip link set ${net.bridgePortOf(host.name)} down
    for pid in $(ip netns pids ${ns}); do kill -9 "$pid" 2>/dev/null; done
  else
    if [ "$(cat "$state" 2>/dev/null)" = "0" ]; then
      echo 1 > "$state"
      ip link set ${net.bridgePortOf(host.name)} up
      ip netns exec ${ns} setsid ${process.execPath} ${binPath} agent --config ${dir}/agent.yaml >> ${dir}/agent.log 2>&1 < /dev/null &
    fi
  fi
fi
exit 0
`;
  await writeFile(hookPath(state, host.name), script);
  await chmod(hookPath(state, host.name), 0o755);
  await writeFile(join(dir, "power"), "1\n");
}

async function startAgent(state: LabState, host: string): Promise<void> {
  const dir = hostDir(state, host);
  const log = openSync(join(dir, "agent.log"), "a");
  const child = spawn(
    "ip",
    [
      "netns",
      "exec",
      net.namespaceOf(host),
      "setsid",
      process.execPath,
      binPath,
      "agent",
      "--config",
      join(dir, "agent.yaml"),
    ],
    { detached: true, stdio: ["ignore", log, log] },
  );
  child.unref();
}

/**
 * Changes the cluster's isolation response: rewrites cluster.yaml and restarts every agent (they read
 * it at start; the keepers and the VMs keep running, as on an agent upgrade).
 */
export async function setIsolationResponse(state: LabState, response: IsolationResponse): Promise<LabState> {
  const next = { ...state, isolationResponse: response };
  await writeFile(join(state.dir, "cluster.yaml"), stringify(clusterYaml(next)));
  await writeFile(join(state.dir, "lab.json"), JSON.stringify(next, null, 2));
  for (const h of state.hosts) await agentKill(next, h.name);
  for (const h of state.hosts) await startAgent(next, h.name);
  return next;
}

export async function power(state: LabState, host: string, on: boolean): Promise<void> {
  await exec(hookPath(state, host), ["set", "power", on ? "1" : "0"]);
}

/** Power loss: as `power off`, without asking the BMC (which keeps answering). */
export async function crash(state: LabState, host: string): Promise<void> {
  await power(state, host, false);
}

export async function isolate(_state: LabState, host: string): Promise<void> {
  await net.setLink(host, false);
}

/** `groups` like [["h1","h2"],["h3"]]: hosts of different groups cannot reach each other. */
export async function partition(state: LabState, groups: string[][]): Promise<void> {
  const addressOf = new Map(state.hosts.map((h) => [h.name, h.address]));
  for (const group of groups) {
    for (const host of group) {
      const others = groups.filter((g) => g !== group).flat();
      await net.blackhole(
        host,
        others.map((o) => addressOf.get(o)!),
      );
    }
  }
}

export async function storageCut(state: LabState, host: string, datastores: string[]): Promise<void> {
  for (const ds of datastores.length > 0 ? datastores : state.datastores) {
    const path = mountPath(state, host, ds);
    await unlink(path).catch(() => {});
    await symlink(join(state.dir, "cut", ds), path);
  }
}

/** Pids of a host's processes whose command line contains `needle`. */
export async function hostProcesses(host: string, needle: string): Promise<number[]> {
  const found: number[] = [];
  for (const pid of await net.namespacePids(host)) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (cmdline.split("\0").join(" ").includes(needle)) found.push(pid);
  }
  return found;
}

export async function agentKill(_state: LabState, host: string): Promise<void> {
  for (const pid of await hostProcesses(host, " agent --config")) process.kill(pid, "SIGKILL");
}

export async function agentStart(state: LabState, host: string): Promise<void> {
  if ((await hostProcesses(host, " agent --config")).length === 0) await startAgent(state, host);
}

export async function bmcFail(state: LabState, host: string, failed: boolean): Promise<void> {
  const { setLabBmcFailed } = await import("./bmc.ts");
  await setLabBmcFailed(state, host, failed);
}

export async function heal(state: LabState, host: string | null): Promise<void> {
  for (const h of state.hosts) {
    if (host !== null && h.name !== host) continue;
    if ((await readFile(join(hostDir(state, h.name), "power"), "utf8").catch(() => "1")).trim() !== "0") {
      await net.setLink(h.name, true);
    }
    await net.clearBlackholes(h.name);
    for (const ds of state.datastores) {
      const path = mountPath(state, h.name, ds);
      await unlink(path).catch(() => {});
      await symlink(join(state.dir, "ds", ds), path);
    }
    if (state.bmc) await bmcFail(state, h.name, false);
  }
  if (host !== null) {
    // The healed host's peers must reach it again too.
    const addr = state.hosts.find((h) => h.name === host)?.address;
    for (const h of state.hosts)
      if (addr !== undefined)
        await exec("ip", ["-n", net.namespaceOf(h.name), "route", "del", "blackhole", `${addr}/32`]).catch(
          () => {},
        );
  }
}

export interface HostStatus {
  host: string;
  powered: boolean;
  role: string;
  view: Record<string, string> | null;
  vms: string[];
}

/** Which VM names run in a host's namespace (the process driver sets VIGIL_VM in each VM's environment). */
export async function vmsRunningOn(host: string): Promise<string[]> {
  const vms = new Set<string>();
  for (const pid of await net.namespacePids(host)) {
    const environ = await readFile(`/proc/${pid}/environ`, "utf8").catch(() => "");
    const entry = environ.split("\0").find((e) => e.startsWith("VIGIL_VM="));
    if (entry !== undefined) vms.add(entry.slice("VIGIL_VM=".length));
  }
  return [...vms].sort();
}

export async function status(state: LabState): Promise<HostStatus[]> {
  const out: HostStatus[] = [];
  for (const h of state.hosts) {
    const powered =
      (await readFile(join(hostDir(state, h.name), "power"), "utf8").catch(() => "1")).trim() !== "0";
    const raw = await readFile(join(hostDir(state, h.name), "state", "status.json"), "utf8").catch(() => "");
    let role = powered ? "starting" : "off";
    let view: Record<string, string> | null = null;
    if (raw !== "" && powered) {
      try {
        const parsed = JSON.parse(raw) as { role: string; hosts: Record<string, string> | null };
        role = parsed.role;
        view = parsed.hosts;
      } catch {
        // Half-written; the next call reads it.
      }
    }
    out.push({ host: h.name, powered, role, view, vms: await vmsRunningOn(h.name) });
  }
  return out;
}

/** Removes every namespace, link, BMC and process the lab made, even after a crash of the lab itself. */
export async function down(dir: string, say: (line: string) => void): Promise<void> {
  if (existsSync(join(dir, "lab.json"))) {
    const { stopLabBmcs } = await import("./bmc.ts");
    await stopLabBmcs(loadLab(dir)).catch(() => {});
    const { labServerOf, stopLabServer } = await import("./lab-server.ts");
    await stopLabServer(labServerOf(dir)).catch(() => {});
  }
  await net.removeAll();
  const { killStrayLabBmcs } = await import("./bmc.ts");
  await killStrayLabBmcs();
  if (existsSync(dir)) {
    for (const entry of await readdir(dir)) await rm(join(dir, entry), { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  }
  say(`lab in ${dir} removed`);
}
