// The agent's two files: agent.yaml (this host: its name, state directory, datastore paths, secret)
// and cluster.yaml, shared by all agents of a cluster that runs without a server. cluster.yaml is a
// scenario file's cluster part (cluster, datastores, hosts, vms, rules: the same format, so an
// operator can simulate the real cluster) plus three sections of its own: network, bmcs, commands.
// Every mistake is refused with the path (and line) of the field, never half-applied.
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import { type ClusterSpec, fastTiming, type VmSpec } from "../core/cluster.ts";
import type { DriverVmSpec, HeartbeatProbe } from "../drivers/driver.ts";
import { lineOf, parseScenario, ScenarioError } from "../sim/scenario.ts";
import {
  bool,
  formatPath,
  Invalid,
  isMapping,
  list,
  mapping,
  opt,
  type Path,
  positiveInt,
  type Read,
  req,
  show,
  text,
} from "../sim/scenario-read.ts";
import { readCachedMeta } from "./server-meta.ts";

export interface PeerNetwork {
  address: string;
  port: number;
}

interface BmcCommon {
  address: string;
  port: number;
  user: string;
  /** The password is read from this file, never given on a command line. */
  passwordFile: string;
}

/** IPMI over LAN (lanplus) through ipmitool; port default 623. */
export interface IpmitoolBmcSettings extends BmcCommon {
  driver: "ipmitool";
}

/** Redfish over HTTPS; port default 443. */
export interface RedfishBmcSettings extends BmcCommon {
  driver: "redfish";
  /** Accept a self-signed certificate (lab BMCs). */
  insecureTls: boolean;
  /** File with the PEM certificate(s) to trust for this BMC instead of the system store. */
  caFile?: string;
  /** The ComputerSystem Id; default the only member of /redfish/v1/Systems. */
  systemId?: string;
}

export type BmcSettings = IpmitoolBmcSettings | RedfishBmcSettings;

export const bmcDrivers = ["ipmitool", "redfish"] as const;

export interface VmRuntime {
  command: string[];
  guestHeartbeatProbe?: HeartbeatProbe;
}

export interface ClusterFile {
  spec: ClusterSpec;
  /** VM -> host it is powered on at when it never ran (the file's `host:`). */
  placement: Record<string, string | null>;
  network: Record<string, PeerNetwork>;
  bmcs: Record<string, BmcSettings>;
  /** Per VM; `default` applies to the others. */
  commands: Record<string, VmRuntime>;
}

/** Where a server-managed agent enrolls and syncs (agent.yaml's `server:`). */
export interface ServerLinkSettings {
  url: string;
  /** The host's one-time enrollment token; read once, at the first start. */
  enrollTokenFile: string | null;
  /** PEM file of the CA that signed the server's certificate, when it is not a public one. */
  caFile: string | null;
}

export interface AgentConfig {
  host: string;
  /** The static cluster file or, with a server, where the last configuration it sent is kept. */
  clusterFile: string;
  stateDir: string;
  secretFile: string;
  server: ServerLinkSettings | null;
  /** Datastore name -> mount path. */
  datastores: Record<string, string>;
  isolationAddresses: string[];
}

export const defaultAgentPort = 7410;

const extraKeys = ["network", "bmcs", "commands", "timingProfile"];

const portNumber: Read<number> = (v, p) => {
  const n = positiveInt(v, p);
  if (n > 65535) throw new Invalid(p, `must be a port number (1-65535), got ${n}`);
  return n;
};

const address: Read<string> = (v, p) => {
  const s = text(v, p);
  // Only the lab's own range, loopback, or whatever the operator really has: checked as an address.
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(s) && !s.includes(":") && s !== "localhost") {
    throw new Invalid(p, `must be an IP address, got ${show(s)}`);
  }
  return s;
};

function probe(v: unknown, p: Path): HeartbeatProbe {
  const o = mapping(v, p, ["file", "command", "url"]);
  const keys = Object.keys(o);
  if (keys.length !== 1) throw new Invalid(p, "needs exactly one of file, command, url");
  if (o.file !== undefined) return { file: req(o, "file", p, text) };
  if (o.command !== undefined) return { command: req(o, "command", p, list(text, 1)) };
  return { url: req(o, "url", p, text) };
}

function vmRuntime(v: unknown, p: Path): VmRuntime {
  const o = mapping(v, p, ["command", "guestHeartbeat"]);
  const command = req(o, "command", p, list(text, 1));
  const guest = opt(o, "guestHeartbeat", p, probe, undefined);
  return guest === undefined ? { command } : { command, guestHeartbeatProbe: guest };
}

function section<T>(
  raw: Record<string, unknown>,
  key: string,
  read: (v: unknown, p: Path) => T,
): Record<string, T> {
  const value = raw[key];
  if (value === undefined || value === null) return {};
  if (!isMapping(value))
    throw new Invalid([key], `must be a mapping of name to settings, got ${show(value)}`);
  const out: Record<string, T> = {};
  for (const [name, item] of Object.entries(value)) out[name] = read(item, [key, name]);
  return out;
}

const commonBmcKeys = ["driver", "address", "port", "user", "passwordFile"];

function bmcSettings(v: unknown, p: Path, sourceName: string): BmcSettings {
  const o = mapping(v, p, [...commonBmcKeys, "insecureTls", "caFile", "systemId"]);
  const driver = opt(o, "driver", p, text, "ipmitool");
  const common = (defaultPort: number) => ({
    address: req(o, "address", p, address),
    port: opt(o, "port", p, portNumber, defaultPort),
    user: req(o, "user", p, text),
    passwordFile: resolveFrom(sourceName, req(o, "passwordFile", p, text)),
  });
  switch (driver) {
    case "ipmitool":
      mapping(v, p, commonBmcKeys); // the Redfish-only keys are mistakes here
      return { driver, ...common(623) };
    case "redfish": {
      const caFile = opt(o, "caFile", p, text, undefined);
      const systemId = opt(o, "systemId", p, text, undefined);
      if (systemId !== undefined && !/^[A-Za-z0-9._~-]+$/.test(systemId))
        throw new Invalid([...p, "systemId"], `must be a plain Redfish Id, got ${show(systemId)}`);
      return {
        driver,
        ...common(443),
        insecureTls: opt(o, "insecureTls", p, bool, false),
        ...(caFile === undefined ? {} : { caFile: resolveFrom(sourceName, caFile) }),
        ...(systemId === undefined ? {} : { systemId }),
      };
    }
    default:
      throw new Invalid(
        [...p, "driver"],
        `unknown BMC driver ${show(driver)}; known: ${bmcDrivers.join(", ")}`,
      );
  }
}

/** Parses cluster.yaml. Throws ScenarioError naming the path and line of a bad field. */
export function parseClusterFile(source: string, sourceName: string): ClusterFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { lineCounter });
  const scenario = parseScenario(source, sourceName, extraKeys);
  const raw = doc.toJS() as Record<string, unknown>;
  try {
    const hosts = new Set(scenario.cluster.hosts.map((h) => h.name));
    const vms = new Set(scenario.cluster.vms.map((v) => v.name));
    const network = section(raw, "network", (v, p) => {
      const o = mapping(v, p, ["address", "port"]);
      return {
        address: req(o, "address", p, address),
        port: opt(o, "port", p, portNumber, defaultAgentPort),
      };
    });
    const bmcs = section(raw, "bmcs", (v, p) => bmcSettings(v, p, sourceName));
    const commands = section(raw, "commands", vmRuntime);
    for (const name of Object.keys(network))
      if (!hosts.has(name)) throw new Invalid(["network", name], "is not a host of this cluster");
    for (const name of Object.keys(bmcs))
      if (!hosts.has(name)) throw new Invalid(["bmcs", name], "is not a host of this cluster");
    for (const name of Object.keys(commands)) {
      if (name !== "default" && !vms.has(name))
        throw new Invalid(["commands", name], "is not a VM of this cluster (or default)");
    }
    for (const host of hosts) {
      if (network[host] === undefined) throw new Invalid(["network"], `has no address for host ${host}`);
    }
    for (const vm of vms) {
      if (commands[vm] === undefined && commands.default === undefined) {
        throw new Invalid(["commands"], `has no command for VM ${vm} and no default`);
      }
    }
    for (const host of scenario.cluster.hosts) {
      if (host.bmc && bmcs[host.name] === undefined) {
        // A host without BMC settings cannot be fenced: the lease path is used, as with bmc: false.
        host.bmc = false;
      }
    }
    const profile = opt(raw, "timingProfile", [], text, "default");
    if (profile !== "default" && profile !== "fast")
      throw new Invalid(["timingProfile"], `must be default or fast, got ${show(profile)}`);
    const spec: ClusterSpec =
      profile === "fast" ? { ...scenario.cluster, timing: fastTiming } : scenario.cluster;
    return { spec, placement: scenario.initialPlacement, network, bmcs, commands };
  } catch (error) {
    throw withLine(error, sourceName, doc.contents, lineCounter);
  }
}

/** Turns a reader's Invalid into a ScenarioError with the line of the bad field; anything else as is. */
function withLine(error: unknown, sourceName: string, contents: unknown, lineCounter: LineCounter): unknown {
  if (!(error instanceof Invalid)) return error;
  return new ScenarioError(
    sourceName,
    formatPath(error.path),
    error.detail,
    lineOf(contents, lineCounter, error.path),
  );
}

/** How the process driver runs `vm`, from the cluster file's commands. */
export function driverSpecFor(cluster: ClusterFile, vm: VmSpec): DriverVmSpec {
  const runtime = cluster.commands[vm.name] ?? cluster.commands.default;
  if (runtime === undefined) throw new Error(`no command for VM ${vm.name}`);
  const command = runtime.command.map((part) => part.replaceAll("{vm}", vm.name));
  return {
    ...vm,
    command,
    env: { VIGIL_VM: vm.name },
    ...(runtime.guestHeartbeatProbe === undefined
      ? {}
      : { guestHeartbeatProbe: runtime.guestHeartbeatProbe }),
  };
}

function resolveFrom(sourceName: string, path: string): string {
  return isAbsolute(path) ? path : resolve(dirname(sourceName), path);
}

/** Where a server-managed agent keeps its credential and the last configuration it got. */
export function serverCacheDir(stateDir: string): string {
  return join(stateDir, "server");
}

function serverLink(v: unknown, p: Path, sourceName: string): ServerLinkSettings {
  const o = mapping(v, p, ["url", "enrollTokenFile", "caFile"]);
  const url = req(o, "url", p, text);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Invalid([...p, "url"], `must be a URL like https://vigil.example:8470, got ${show(url)}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    throw new Invalid([...p, "url"], `must be an http:// or https:// URL, got ${show(url)}`);
  const file = (key: string) => {
    const value = opt(o, key, p, text, null);
    return value === null ? null : resolveFrom(sourceName, value);
  };
  return { url: url.replace(/\/+$/, ""), enrollTokenFile: file("enrollTokenFile"), caFile: file("caFile") };
}

/** Parses agent.yaml. Throws ScenarioError naming the path and line of a bad field. */
export function parseAgentConfig(source: string, sourceName: string): AgentConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { lineCounter });
  if (doc.errors[0] !== undefined) {
    const pos = doc.errors[0].linePos?.[0];
    throw new ScenarioError(
      sourceName,
      "",
      `YAML syntax error: ${doc.errors[0].message.split("\n")[0]}`,
      pos?.line,
    );
  }
  const raw: unknown = doc.toJS();
  try {
    const keys = [
      "host",
      "clusterFile",
      "stateDir",
      "secretFile",
      "server",
      "datastores",
      "isolationAddresses",
    ];
    const o = mapping(raw ?? {}, [], keys);
    const server = opt(o, "server", [], (v, p) => serverLink(v, p, sourceName), null);
    const stateDir = resolveFrom(sourceName, req(o, "stateDir", [], text));
    // With a server the cluster file and the secret are the server's, cached in the state directory.
    const cached = (name: string) => join(serverCacheDir(stateDir), name);
    const pathOf = (key: string, cachedName: string) =>
      server === null
        ? resolveFrom(sourceName, req(o, key, [], text))
        : o[key] === undefined
          ? cached(cachedName)
          : resolveFrom(sourceName, text(o[key], [key]));
    const readPaths: Read<Record<string, string>> = (v, p) => {
      if (!isMapping(v)) throw new Invalid(p, `must map datastore names to paths, got ${show(v)}`);
      const out: Record<string, string> = {};
      for (const [name, path] of Object.entries(v))
        out[name] = resolveFrom(sourceName, text(path, [...p, name]));
      return out;
    };
    // With a server, a datastore not named here is mounted where the server says.
    const datastores =
      server === null ? req(o, "datastores", [], readPaths) : opt(o, "datastores", [], readPaths, {});
    return {
      host: req(o, "host", [], text),
      clusterFile: pathOf("clusterFile", "cluster.yaml"),
      stateDir,
      secretFile: pathOf("secretFile", "cluster.secret"),
      server,
      datastores,
      isolationAddresses: opt(o, "isolationAddresses", [], list(address), []),
    };
  } catch (error) {
    throw withLine(error, sourceName, doc.contents, lineCounter);
  }
}

/**
 * With a server, what agent.yaml leaves out comes from the server's last configuration: the path of
 * each datastore and the isolation addresses. The host's own file wins where it says something.
 */
export function withServerDefaults(agent: AgentConfig): AgentConfig {
  if (agent.server === null) return agent;
  const meta = readCachedMeta(serverCacheDir(agent.stateDir));
  if (meta === null) return agent;
  return {
    ...agent,
    datastores: { ...meta.datastorePaths, ...agent.datastores },
    isolationAddresses:
      agent.isolationAddresses.length > 0 ? agent.isolationAddresses : meta.isolationAddresses,
  };
}

export interface LoadedAgent {
  agent: AgentConfig;
  cluster: ClusterFile;
}

function readConfigFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new ScenarioError(path, "", `cannot read the file: ${(error as Error).message}`);
  }
}

/** Reads agent.yaml alone. Throws ScenarioError naming the field. */
export function parseAgentFile(agentFile: string): AgentConfig {
  return parseAgentConfig(readConfigFile(agentFile), agentFile);
}

/** Loads and cross-checks both files. Throws ScenarioError (exit 2 in the CLI). */
export function loadAgentFiles(agentFile: string): LoadedAgent {
  const read = readConfigFile;
  const agent = withServerDefaults(parseAgentFile(agentFile));
  const cluster = parseClusterFile(read(agent.clusterFile), agent.clusterFile);
  const host = cluster.spec.hosts.find((h) => h.name === agent.host);
  if (host === undefined) {
    throw new ScenarioError(agentFile, "host", `host ${show(agent.host)} is not in ${agent.clusterFile}`);
  }
  for (const ds of host.datastores) {
    if (agent.datastores[ds] === undefined) {
      throw new ScenarioError(
        agentFile,
        "datastores",
        `has no path for datastore ${ds}, which ${agent.host} uses`,
      );
    }
  }
  return { agent, cluster };
}
