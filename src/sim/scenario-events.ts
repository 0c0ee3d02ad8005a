// Reads a scenario's `events` (what happens to the cluster, and when) and `expect` (what the run must
// show). Apart from scenario.ts because both are long lists of small forms, each validated against
// the names the scenario defines.

import { type EngineEvent, eventTypes } from "../core/events.ts";
import { hostStates } from "../core/host-states.ts";
import { restartProofs } from "../core/records.ts";
import { formatDuration } from "./duration.ts";
import { type Names, type Origin, readHost, readVm } from "./scenario-names.ts";
import {
  bool,
  choice,
  duration,
  Invalid,
  isMapping,
  list,
  mapping,
  nonNegativeInt,
  oneOrMore,
  opt,
  type Path,
  positiveInt,
  type Read,
  req,
  show,
  text,
  uniqueList,
} from "./scenario-read.ts";
import {
  type Condition,
  type EventMatch,
  type Expectation,
  type MasterCondition,
  type MatchField,
  type ScenarioEvent,
  type ScenarioEventKind,
  scenarioEventKinds,
  vmStates,
} from "./scenario-types.ts";

/** A time in the run: a duration, and not after the scenario's end when it has one. */
function instant(durationMs: number | undefined): Read<number> {
  return (v, path) => {
    const ms = duration()(v, path);
    if (durationMs !== undefined && ms > durationMs) {
      throw new Invalid(
        path,
        `${formatDuration(ms)} is after the end of the scenario (duration: ${formatDuration(durationMs)})`,
      );
    }
    return ms;
  };
}

type Body<K extends ScenarioEventKind> = Omit<Extract<ScenarioEvent, { kind: K }>, "kind" | "atMs" | "index">;
type ActionReader<K extends ScenarioEventKind> = (
  v: unknown,
  path: Path,
  when: Origin,
  names: Names,
) => Body<K>;

const onHost = (v: unknown, path: Path, when: Origin, names: Names) => ({
  host: names.host(v, path, when).name,
});
const onVm = (v: unknown, path: Path, when: Origin, names: Names) => ({ vm: names.vm(v, path, when).name });

const actions: { [K in ScenarioEventKind]: ActionReader<K> } = {
  crash: onHost,
  isolate: onHost,
  partition: (v, path, when, names) => {
    const groups = list(
      list((h, p) => names.host(h, p, when).name, 1),
      1,
    )(v, path);
    const seen = new Set<string>();
    groups.forEach((group, g) => {
      group.forEach((host, i) => {
        if (seen.has(host)) throw new Invalid([...path, g, i], `host "${host}" is in two groups`);
        seen.add(host);
      });
    });
    return { groups };
  },
  storageLoss: (v, path, when, names) => {
    const o = mapping(v, path, ["host", "datastores"]);
    const host = req(o, "host", path, (h, p) => names.host(h, p, when));
    const seen: Read<string> = (d, p) => {
      const name = names.datastore(d, p);
      if (!host.datastores.includes(name))
        throw new Invalid(p, `host "${host.name}" does not see datastore "${name}"`);
      return name;
    };
    return {
      host: host.name,
      datastores: opt(o, "datastores", path, uniqueList(seen, "datastore", 1), [...host.datastores]),
    };
  },
  vmCrash: onVm,
  guestHang: onVm,
  agentCrash: onHost,
  agentStart: onHost,
  bmcFail: (v, path, when, names) => {
    const host = names.host(v, path, when);
    if (!host.bmc) throw new Invalid(path, `host "${host.name}" has no BMC (bmc: false)`);
    return { host: host.name };
  },
  powerOn: onHost,
  heal: (v, path, when, names) => ({ host: v === "all" ? "all" : names.host(v, path, when).name }),
  maintenance: (v, path, when, names) => {
    const o = mapping(v, path, ["host", "enable"]);
    return {
      host: req(o, "host", path, (h, p) => names.host(h, p, when)).name,
      enable: opt(o, "enable", path, bool, true),
    };
  },
  migrate: (v, path, when, names) => {
    const o = mapping(v, path, ["vm", "to"]);
    return {
      vm: req(o, "vm", path, (x, p) => names.vm(x, p, when)).name,
      to: req(o, "to", path, (h, p) => names.host(h, p, when)).name,
    };
  },
  powerOnVm: (v, path, when, names) => {
    const { spec, host } = readVm(v, path, names, when);
    names.addVm(spec, path, when);
    return { spec, host };
  },
  vmStartFailures: (v, path, when, names) => {
    const o = mapping(v, path, ["host", "count"]);
    return {
      host: req(o, "host", path, (h, p) => names.host(h, p, when)).name,
      count: req(o, "count", path, positiveInt),
    };
  },
  pause: (v, path, when, names) => {
    const o = mapping(v, path, ["host", "for"]);
    return {
      host: req(o, "host", path, (h, p) => names.host(h, p, when)).name,
      forMs: req(o, "for", path, duration(true)),
    };
  },
  addHost: (v, path, when, names) => {
    const spec = readHost(v, path, names);
    names.addHost(spec, path, when);
    return { spec };
  },
};
const actionKeys = Object.keys(scenarioEventKinds) as ScenarioEventKind[];

function readEvent(v: unknown, path: Path, index: number, names: Names, durationMs?: number): ScenarioEvent {
  const o = mapping(v, path, ["at", ...actionKeys]);
  const present = actionKeys.filter((k) => o[k] !== undefined);
  const kind = present[0];
  if (kind === undefined) throw new Invalid(path, `has no action; give one of ${actionKeys.join(", ")}`);
  if (present.length > 1) {
    throw new Invalid(
      path,
      `has two actions, "${kind}" and "${present[1]}"; an event does exactly one thing`,
    );
  }
  const atMs = req(o, "at", path, instant(durationMs));
  const body = actions[kind](o[kind], [...path, kind], { atMs, index }, names);
  return { kind, atMs, index, ...body } as ScenarioEvent;
}

/**
 * The `events` list, sorted by time (ties in file order). Events that create hosts (addHost), then
 * VMs (powerOnVm), are read first so that any event may name them, as long as it comes later in time.
 */
export function readEvents(v: unknown, names: Names, durationMs?: number): ScenarioEvent[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Invalid(["events"], `must be a list, got ${show(v)}`);
  const rank = (item: unknown) =>
    !isMapping(item) ? 2 : "addHost" in item ? 0 : "powerOnVm" in item ? 1 : 2;
  const order = v.map((_, i) => i).sort((a, b) => rank(v[a]) - rank(v[b]) || a - b);
  const out: ScenarioEvent[] = [];
  for (const i of order) out.push(readEvent(v[i], ["events", i], i, names, durationMs));
  return out.sort((a, b) => a.atMs - b.atMs || a.index - b.index);
}

function readMaster(v: unknown, path: Path, names: Names): MasterCondition {
  if (!isMapping(v)) return { in: [names.host(v, path).name] };
  const o = mapping(v, path, ["in", "not"]);
  if (o.in !== undefined && o.not !== undefined)
    throw new Invalid([...path, "not"], `give either in or not, not both`);
  if (o.not !== undefined) return { notIn: req(o, "not", path, oneOrMore(names.hostRef, "host")) };
  if (o.in !== undefined) return { in: req(o, "in", path, oneOrMore(names.hostRef, "host")) };
  throw new Invalid(path, `says nothing; give a host name, { in: [hosts] } or { not: host }`);
}

const conditionKeys = ["vm", "host", "master", "state", "on", "notOn"];

function readCondition(o: Record<string, unknown>, path: Path, names: Names): Condition {
  const subjects = (["vm", "host", "master"] as const).filter((k) => o[k] !== undefined);
  const subject = subjects[0];
  if (subject === undefined) throw new Invalid(path, `names nothing to check; give vm, host or master`);
  if (subjects.length > 1) {
    throw new Invalid(
      [...path, subjects[1] ?? ""],
      `checks one thing; "${subject}" and "${subjects[1]}" are both given`,
    );
  }
  const notFor = (keys: string[], what: string) => {
    for (const k of keys)
      if (o[k] !== undefined) throw new Invalid([...path, k], `does not apply to ${what}`);
  };
  if (subject === "master") {
    notFor(["state", "on", "notOn"], "master");
    return { subject, master: readMaster(o.master, [...path, "master"], names) };
  }
  if (subject === "host") {
    notFor(["on", "notOn"], "a host");
    return {
      subject,
      host: req(o, "host", path, names.hostRef),
      state: req(o, "state", path, choice(hostStates)),
    };
  }
  const vm = req(o, "vm", path, names.vmRef);
  const hosts = oneOrMore(names.hostRef, "host");
  const state = opt(o, "state", path, choice(vmStates), undefined);
  const on = opt(o, "on", path, hosts, undefined);
  const notOn = opt(o, "notOn", path, hosts, undefined);
  if (state === undefined && on === undefined && notOn === undefined) {
    throw new Invalid(path, `says nothing about VM "${vm}"; give state, on or notOn`);
  }
  if (state === "down" && on !== undefined) throw new Invalid([...path, "on"], `contradicts state: down`);
  return {
    subject,
    vm,
    ...(state === undefined ? {} : { state }),
    ...(on === undefined ? {} : { on }),
    ...(notOn === undefined ? {} : { notOn }),
  };
}

const eventType = choice(eventTypes);
/** The EngineEvent fields a match may name; MatchField & keyof EngineEvent keeps them in step with events.ts. */
type KnownField = MatchField & keyof EngineEvent;
const matchFields: readonly KnownField[] = [
  "host",
  "vm",
  "subject",
  "target",
  "epoch",
  "state",
  "reason",
  "proof",
];

/** `{ type: vmStarted, vm: web1, ... }`: a known event type; fields naming hosts and VMs name real ones. */
function readMatch(v: unknown, path: Path, names: Names): EventMatch {
  if (!isMapping(v)) throw new Invalid(path, `must be a mapping with a type, got ${show(v)}`);
  const o = mapping(v, path, ["type", ...matchFields]);
  const fields: EventMatch["fields"] = {};
  for (const key of matchFields) {
    const read: Read<string | number> =
      key === "vm"
        ? names.vmRef
        : key === "host" || key === "subject" || key === "target"
          ? names.hostRef
          : key === "epoch"
            ? nonNegativeInt
            : key === "proof"
              ? choice(restartProofs)
              : text;
    const value = opt(o, key, path, read, undefined);
    if (value !== undefined) fields[key] = value;
  }
  return { type: req(o, "type", path, eventType), fields };
}

const forms = ["at", "by", "always", "event", "never", "order"];
const expectKeys = [...forms, "count", "of", ...conditionKeys];

function readExpectation(
  v: unknown,
  path: Path,
  index: number,
  names: Names,
  durationMs?: number,
): Expectation {
  const o = mapping(v, path, expectKeys);
  const only = (form: string, keys: string[]) => {
    for (const k of Object.keys(o)) {
      if (!keys.includes(k))
        throw new Invalid([...path, k], `does not go with "${form}" (it takes ${keys.join(", ")})`);
    }
  };
  const time = instant(durationMs);
  if (o.order !== undefined) {
    only("order", ["order", "of"]);
    const vms = req(o, "order", path, uniqueList(names.vmRef, "VM", 2));
    return { kind: "order", index, vms, of: opt(o, "of", path, eventType, "vmStarted") };
  }
  if (o.never !== undefined) {
    only("never", ["never"]);
    const n = mapping(o.never, [...path, "never"], ["event"]);
    return {
      kind: "never",
      index,
      match: req(n, "event", [...path, "never"], (e, p) => readMatch(e, p, names)),
    };
  }
  if (o.always !== undefined) {
    only("always", ["always"]);
    const c = mapping(o.always, [...path, "always"], conditionKeys);
    return { kind: "always", index, condition: readCondition(c, [...path, "always"], names) };
  }
  if (o.event !== undefined) {
    only("event", ["event", "by", "count"]);
    const match = req(o, "event", path, (e, p) => readMatch(e, p, names));
    const byMs = opt(o, "by", path, time, undefined);
    const count = opt(o, "count", path, positiveInt, undefined);
    return {
      kind: "event",
      index,
      match,
      ...(byMs === undefined ? {} : { byMs }),
      ...(count === undefined ? {} : { count }),
    };
  }
  if (o.at !== undefined && o.by !== undefined)
    throw new Invalid([...path, "by"], `give either at or by, not both`);
  if (o.at !== undefined) {
    only("at", ["at", ...conditionKeys]);
    return { kind: "at", index, atMs: req(o, "at", path, time), condition: readCondition(o, path, names) };
  }
  if (o.by !== undefined) {
    only("by", ["by", ...conditionKeys]);
    return { kind: "by", index, byMs: req(o, "by", path, time), condition: readCondition(o, path, names) };
  }
  if (conditionKeys.some((k) => o[k] !== undefined)) {
    throw new Invalid(path, `says what but not when; add at or by, or put the condition under always`);
  }
  throw new Invalid(path, `checks nothing; give one of ${forms.join(", ")}`);
}

export function readExpectations(v: unknown, names: Names, durationMs?: number): Expectation[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Invalid(["expect"], `must be a list, got ${show(v)}`);
  return v.map((e, i) => readExpectation(e, ["expect", i], i, names, durationMs));
}
