// Parses a scenario file (YAML, a public format users write) into a validated Scenario the simulator
// runs. Every mistake is refused with a ScenarioError naming the path and line of the offending value,
// so a scenario never silently tests something other than what its author meant.

import { readFileSync } from "node:fs";
import { isMap, isSeq, LineCounter, parseDocument } from "yaml";
import type { ClusterSpec, HostSpec, VmSpec } from "../core/cluster.ts";
import { readCluster, readRules } from "./scenario-cluster.ts";
import { readEvents, readExpectations } from "./scenario-events.ts";
import { Names, readHost, readVm } from "./scenario-names.ts";
import {
  duration,
  formatPath,
  Invalid,
  isMapping,
  list,
  mapping,
  nonNegativeInt,
  numberIn,
  opt,
  type Path,
  type Read,
  req,
  show,
  text,
  uniqueList,
} from "./scenario-read.ts";
import { defaultSimSettings, type Scenario, type SimSettings } from "./scenario-types.ts";

/** A scenario file that cannot be used. `message` is "path: detail" (just the detail at the top level). */
export class ScenarioError extends Error {
  override readonly name = "ScenarioError";
  /** Where the value is, e.g. "vms[2].memoryMiB"; "" for the file as a whole. */
  readonly path: string;
  readonly detail: string;
  readonly sourceName: string;
  /** 1-based line in the file, when known. */
  readonly line: number | undefined;

  constructor(sourceName: string, path: string, detail: string, line?: number) {
    super(path === "" ? detail : `${path}: ${detail}`);
    this.sourceName = sourceName;
    this.path = path;
    this.detail = detail;
    this.line = line;
  }
}

const oneLine: Read<string> = (v, path) => {
  const s = text(v, path);
  if (s.includes("\n")) throw new Invalid(path, "must be one line");
  return s;
};

const simKeys = [...Object.keys(defaultSimSettings), "clockDrift"];

function readSim(v: unknown, names: Names): SimSettings {
  const path = ["sim"];
  const o = v === undefined || v === null ? {} : mapping(v, path, simKeys);
  const clockDrift: Record<string, number> = {};
  for (const host of names.hosts.keys()) clockDrift[host] = 0;
  const drift = opt(o, "clockDrift", path, (x, p) => mapping(x, p, isMapping(x) ? Object.keys(x) : []), {});
  for (const [host, rate] of Object.entries(drift)) {
    const p = [...path, "clockDrift", host];
    clockDrift[names.hostRef(host, p)] = numberIn(-1, 1, true)(rate, p);
  }
  const ms = (key: keyof typeof defaultSimSettings) => opt(o, key, path, duration(), defaultSimSettings[key]);
  return {
    networkLatencyMs: ms("networkLatencyMs"),
    networkLossPercent: opt(
      o,
      "networkLossPercent",
      path,
      numberIn(0, 100),
      defaultSimSettings.networkLossPercent,
    ),
    storageLatencyMs: ms("storageLatencyMs"),
    vmStartMs: ms("vmStartMs"),
    vmStopMs: ms("vmStopMs"),
    migrateMs: ms("migrateMs"),
    bmcActionMs: ms("bmcActionMs"),
    clockDrift,
  };
}

/** Initial placement; refused when a host cannot hold the VMs placed on it. */
function place(vms: { spec: VmSpec; host: string | null }[], hosts: HostSpec[]) {
  const placement: Record<string, string | null> = {};
  const used = new Map<string, { cpus: number; memoryMiB: number }>();
  vms.forEach(({ spec, host }, i) => {
    placement[spec.name] = host;
    const h = hosts.find((x) => x.name === host);
    if (h === undefined) return;
    const u = used.get(h.name) ?? { cpus: 0, memoryMiB: 0 };
    const freeCpus = h.cpus - u.cpus;
    const freeMiB = h.memoryMiB - u.memoryMiB;
    if (spec.cpus > freeCpus || spec.memoryMiB > freeMiB) {
      throw new Invalid(
        ["vms", i, "host"],
        `host "${h.name}" lacks capacity for ${spec.name} (needs ${spec.cpus} CPUs, ${spec.memoryMiB} MiB; ` +
          `${freeCpus} CPUs, ${freeMiB} MiB free)`,
      );
    }
    used.set(h.name, { cpus: u.cpus + spec.cpus, memoryMiB: u.memoryMiB + spec.memoryMiB });
  });
  return placement;
}

const topKeys = [
  "name",
  "clusterId",
  "description",
  "seed",
  "duration",
  "cluster",
  "datastores",
  "hosts",
  "vms",
  "rules",
  "sim",
  "events",
  "expect",
];

function build(raw: unknown, sourceName: string, extraTopLevelKeys: readonly string[]): Scenario {
  if (raw === null || raw === undefined)
    throw new Invalid([], "the file is empty; a scenario needs name, datastores and hosts");
  if (!isMapping(raw))
    throw new Invalid([], `a scenario must be a mapping (name:, hosts:, ...), got ${show(raw)}`);
  const top = mapping(raw, [], [...topKeys, ...extraTopLevelKeys]);
  const name = req(top, "name", [], oneLine);
  const description = opt(top, "description", [], oneLine, "");
  const seed = opt(top, "seed", [], nonNegativeInt, 1);
  const durationMs = opt(top, "duration", [], duration(true), undefined);
  const datastores = req(top, "datastores", [], uniqueList(text, "datastore", 1));
  const names = new Names(datastores);
  const hosts = req(
    top,
    "hosts",
    [],
    list((v, p) => readHost(v, p, names), 1),
  );
  for (const [i, h] of hosts.entries()) names.addHost(h, ["hosts", i]);
  const vms = opt(
    top,
    "vms",
    [],
    list((v, p) => readVm(v, p, names)),
    [],
  );
  for (const [i, vm] of vms.entries()) names.addVm(vm.spec, ["vms", i]);
  const initialPlacement = place(vms, hosts);
  // Events before rules and expectations: they may name the hosts and VMs that events create.
  const events = readEvents(top.events, names, durationMs);
  const rules = readRules(top.rules, names);
  const cluster: ClusterSpec = {
    clusterId: opt(top, "clusterId", [], oneLine, "c1"),
    ...readCluster(top.cluster, names, hosts.length),
    datastores,
    hosts,
    vms: vms.map((vm) => vm.spec),
    rules,
  };
  return {
    name,
    description,
    sourceName,
    seed,
    ...(durationMs === undefined ? {} : { durationMs }),
    cluster,
    sim: readSim(top.sim, names),
    initialPlacement,
    events,
    expectations: readExpectations(top.expect, names, durationMs),
  };
}

/** The line of the value (or key) at `path`, or of the nearest enclosing one the file has. */
export function lineOf(contents: unknown, lineCounter: LineCounter, path: Path): number | undefined {
  let node = contents;
  let offset = (node as { range?: [number] } | null)?.range?.[0];
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find(
        (it) => String((it.key as { value?: unknown } | null)?.value ?? it.key) === String(seg),
      );
      if (pair === undefined) break;
      offset = (pair.key as { range?: [number] } | null)?.range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === "number") {
      node = node.items[seg];
      offset = (node as { range?: [number] } | null)?.range?.[0] ?? offset;
    } else break;
  }
  return offset === undefined ? undefined : lineCounter.linePos(offset).line;
}

/**
 * Parses and validates scenario YAML; `sourceName` (a path) goes into errors. Throws ScenarioError.
 * `extraTopLevelKeys` are allowed and left to the caller (the agent's cluster file adds its own).
 */
export function parseScenario(
  text: string,
  sourceName: string,
  extraTopLevelKeys: readonly string[] = [],
): Scenario {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true });
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    const pos = syntax.linePos?.[0];
    const what = (syntax.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "");
    const where = pos === undefined ? "" : ` at line ${pos.line}, column ${pos.col}`;
    throw new ScenarioError(sourceName, "", `YAML syntax error${where}: ${what}`, pos?.line);
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    throw new ScenarioError(sourceName, "", `YAML error: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    return build(raw, sourceName, extraTopLevelKeys);
  } catch (e) {
    if (e instanceof Invalid) {
      throw new ScenarioError(
        sourceName,
        formatPath(e.path),
        e.detail,
        lineOf(doc.contents, lineCounter, e.path),
      );
    }
    throw e;
  }
}

/** Reads and parses a scenario file. Throws ScenarioError, also when the file cannot be read. */
export function loadScenarioFile(path: string): Scenario {
  let content: string;
  try {
    content = readFileSync(path, "utf8");
  } catch (e) {
    throw new ScenarioError(path, "", `cannot read the file: ${e instanceof Error ? e.message : String(e)}`);
  }
  return parseScenario(content, path);
}
