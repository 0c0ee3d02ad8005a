// The hosts, VMs and datastores a scenario names, and the readers of host and VM entries (shared by
// the hosts/vms lists and the addHost/powerOnVm events), so every name reference is checked in one
// place: that it exists, and for events, that it exists by then.

import { type HostSpec, restartPriorities, type VmSpec } from "../core/cluster.ts";
import { formatDuration } from "./duration.ts";
import {
  anyInt,
  bool,
  choice,
  formatPath,
  Invalid,
  mapping,
  opt,
  type Path,
  positiveInt,
  type Read,
  req,
  text,
  uniqueList,
} from "./scenario-read.ts";

/** The event that creates a host or VM; a reference from an event must come after it. */
export interface Origin {
  atMs: number;
  index: number;
}

interface Entry<T> {
  spec: T;
  path: Path;
  origin: Origin | undefined;
}

function unknown(what: string, name: string, known: Iterable<string>): string {
  const all = [...known];
  const listing = all.length <= 12 ? `; ${what}s are ${all.join(", ")}` : "";
  return `unknown ${what} "${name}"${listing}`;
}

export class Names {
  readonly hosts = new Map<string, Entry<HostSpec>>();
  readonly vms = new Map<string, Entry<VmSpec>>();

  constructor(readonly datastores: readonly string[]) {}

  addHost(spec: HostSpec, path: Path, origin?: Origin): void {
    this.add(this.hosts, "host", spec, path, origin);
  }

  addVm(spec: VmSpec, path: Path, origin?: Origin): void {
    this.add(this.vms, "VM", spec, path, origin);
  }

  private add<T extends { name: string }>(
    map: Map<string, Entry<T>>,
    what: string,
    spec: T,
    path: Path,
    origin: Origin | undefined,
  ): void {
    const earlier = map.get(spec.name);
    if (earlier !== undefined) {
      throw new Invalid(
        [...path, "name"],
        `duplicate ${what} name "${spec.name}" (${formatPath(earlier.path)})`,
      );
    }
    map.set(spec.name, { spec, path, origin });
  }

  /** A host name; `when` is the referring event, which must come after an addHost creating it. */
  host(v: unknown, path: Path, when?: Origin): HostSpec {
    return this.lookup(this.hosts, "host", v, path, when);
  }

  vm(v: unknown, path: Path, when?: Origin): VmSpec {
    return this.lookup(this.vms, "VM", v, path, when);
  }

  datastore(v: unknown, path: Path): string {
    const name = text(v, path);
    if (!this.datastores.includes(name)) throw new Invalid(path, unknown("datastore", name, this.datastores));
    return name;
  }

  readonly hostRef: Read<string> = (v, path) => this.host(v, path).name;
  readonly vmRef: Read<string> = (v, path) => this.vm(v, path).name;
  readonly datastoreRef: Read<string> = (v, path) => this.datastore(v, path);

  private lookup<T>(map: Map<string, Entry<T>>, what: string, v: unknown, path: Path, when?: Origin): T {
    const name = text(v, path);
    const entry = map.get(name);
    if (entry === undefined) throw new Invalid(path, unknown(what, name, map.keys()));
    const o = entry.origin;
    if (
      when !== undefined &&
      o !== undefined &&
      (o.atMs > when.atMs || (o.atMs === when.atMs && o.index > when.index))
    ) {
      throw new Invalid(
        path,
        `${what} "${name}" does not exist yet at ${formatDuration(when.atMs)}; ` +
          `${formatPath(entry.path)} creates it at ${formatDuration(o.atMs)}`,
      );
    }
    return entry.spec;
  }
}

const hostKeys = [
  "name",
  "cpus",
  "memoryMiB",
  "datastores",
  "bmc",
  "faultDomain",
  "tags",
  "electionPriority",
];

/** A host entry, with defaults: all datastores, bmc, its own fault domain, no tags, priority 0. */
export function readHost(v: unknown, path: Path, names: Names): HostSpec {
  const o = mapping(v, path, hostKeys);
  const name = req(o, "name", path, text);
  if (name === "all")
    throw new Invalid([...path, "name"], `"all" is reserved (heal: all), pick another host name`);
  return {
    name,
    cpus: req(o, "cpus", path, positiveInt),
    memoryMiB: req(o, "memoryMiB", path, positiveInt),
    datastores: opt(o, "datastores", path, uniqueList(names.datastoreRef, "datastore"), [
      ...names.datastores,
    ]),
    bmc: opt(o, "bmc", path, bool, true),
    faultDomain: opt(o, "faultDomain", path, text, name),
    tags: opt(o, "tags", path, uniqueList(text, "tag"), []),
    electionPriority: opt(o, "electionPriority", path, anyInt, 0),
  };
}

const vmKeys = ["name", "cpus", "memoryMiB", "datastore", "ha", "restartPriority", "guestHeartbeat", "host"];

/**
 * A VM entry and the host it runs on (null: none given). Defaults: the first datastore, ha,
 * restartPriority medium, no guest heartbeat. The host must see the VM's datastore.
 */
export function readVm(
  v: unknown,
  path: Path,
  names: Names,
  when?: Origin,
): { spec: VmSpec; host: string | null } {
  const o = mapping(v, path, vmKeys);
  const spec: VmSpec = {
    name: req(o, "name", path, text),
    cpus: req(o, "cpus", path, positiveInt),
    memoryMiB: req(o, "memoryMiB", path, positiveInt),
    datastore: opt(o, "datastore", path, names.datastoreRef, names.datastores[0] ?? ""),
    ha: opt(o, "ha", path, bool, true),
    restartPriority: opt(o, "restartPriority", path, choice(restartPriorities), "medium"),
    guestHeartbeat: opt(o, "guestHeartbeat", path, bool, false),
  };
  const host = opt(o, "host", path, (h, p) => names.host(h, p, when), null);
  if (host !== null && !host.datastores.includes(spec.datastore)) {
    const sees = host.datastores.length === 0 ? "none" : host.datastores.join(", ");
    throw new Invalid(
      [...path, "datastore"],
      `host "${host.name}" does not see datastore "${spec.datastore}" (it sees ${sees})`,
    );
  }
  return { spec, host: host === null ? null : host.name };
}
