// Reads the `cluster:` section (HA policy, admission control, timing, monitoring) and the `rules:`
// list of a scenario: the parts of the ClusterSpec beyond hosts and VMs, with their cross-checks
// (timing safety, startAfter cycles, contradicting affinity rules).

import {
  type AdmissionControl,
  type AdmissionPolicy,
  defaultTiming,
  isolationResponses,
  type MonitoringSettings,
  monitoringPresets,
  monitoringSensitivities,
  type Rule,
  startConditions,
  type Timing,
} from "../core/cluster.ts";
import { checkTiming } from "../core/timing-check.ts";
import type { Names } from "./scenario-names.ts";
import {
  bool,
  choice,
  duration,
  Invalid,
  isMapping,
  list,
  mapping,
  nonNegativeInt,
  numberIn,
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

const admissionKeys: Record<AdmissionPolicy, string[]> = {
  disabled: [],
  hostFailures: ["hostFailuresToTolerate"],
  percentage: ["cpuPercent", "memoryPercent"],
  slots: ["hostFailuresToTolerate", "slotCpus", "slotMemoryMiB"],
  failoverHosts: ["hosts"],
};

function readAdmission(v: unknown, path: Path, names: Names, hostCount: number): AdmissionControl {
  if (!isMapping(v)) throw new Invalid(path, `must be a mapping with a policy, got ${show(v)}`);
  const policy = req(v, "policy", path, choice(admissionKeys));
  const o = mapping(v, path, ["policy", ...admissionKeys[policy]]);
  const tolerate: Read<number> = (x, p) => {
    const n = positiveInt(x, p);
    if (n >= hostCount)
      throw new Invalid(p, `must be less than the number of hosts (${hostCount}), got ${n}`);
    return n;
  };
  switch (policy) {
    case "disabled":
      return { policy };
    case "hostFailures":
      return { policy, hostFailuresToTolerate: req(o, "hostFailuresToTolerate", path, tolerate) };
    case "percentage": {
      const percent = numberIn(0, 100);
      return {
        policy,
        cpuPercent: req(o, "cpuPercent", path, percent),
        memoryPercent: req(o, "memoryPercent", path, percent),
      };
    }
    case "slots": {
      const slotCpus = opt(o, "slotCpus", path, positiveInt, undefined);
      const slotMemoryMiB = opt(o, "slotMemoryMiB", path, positiveInt, undefined);
      return {
        policy,
        hostFailuresToTolerate: req(o, "hostFailuresToTolerate", path, tolerate),
        ...(slotCpus === undefined ? {} : { slotCpus }),
        ...(slotMemoryMiB === undefined ? {} : { slotMemoryMiB }),
      };
    }
    case "failoverHosts": {
      const hosts = req(o, "hosts", path, uniqueList(names.hostRef, "host", 1));
      if (hosts.length >= hostCount) throw new Invalid([...path, "hosts"], "leaves no host to run VMs on");
      return { policy, hosts };
    }
  }
}

const timingKeys = Object.keys(defaultTiming) as (keyof Timing)[];

/** defaultTiming with the file's overrides; refused when it breaks a safety inequality. */
function readTiming(v: unknown, path: Path): Timing {
  const o = v === undefined || v === null ? {} : mapping(v, path, timingKeys);
  const t: Timing = { ...defaultTiming };
  for (const key of timingKeys) {
    const read =
      key === "clockRateErrorMax"
        ? numberIn(0, 1)
        : key === "restartAttemptsMax" || key === "localRestartAttemptsMax"
          ? nonNegativeInt
          : duration();
    t[key] = opt(o, key, path, read, defaultTiming[key]);
  }
  const problems = checkTiming(t);
  if (problems.length > 0) throw new Invalid(path, problems.join("; "));
  return t;
}

const clusterKeys = [
  "isolationResponse",
  "admissionControl",
  "haTag",
  "timing",
  "monitoring",
  "monitoringCustom",
  "startCondition",
];
const customKeys = ["failureIntervalMs", "minUptimeMs", "maxResets", "resetWindowMs"];

export function readCluster(v: unknown, names: Names, hostCount: number) {
  const path = ["cluster"];
  const o = v === undefined || v === null ? {} : mapping(v, path, clusterKeys);
  const sensitivity = opt(o, "monitoring", path, choice(monitoringSensitivities), "medium");
  let monitoring: MonitoringSettings = monitoringPresets.medium;
  if (sensitivity === "custom") {
    const c = req(o, "monitoringCustom", path, (x, p) => mapping(x, p, customKeys));
    const p = [...path, "monitoringCustom"];
    monitoring = {
      failureIntervalMs: req(c, "failureIntervalMs", p, duration(true)),
      minUptimeMs: req(c, "minUptimeMs", p, duration()),
      maxResets: req(c, "maxResets", p, nonNegativeInt),
      resetWindowMs: req(c, "resetWindowMs", p, duration()),
    };
  } else {
    if (o.monitoringCustom !== undefined) {
      throw new Invalid(
        [...path, "monitoringCustom"],
        `only goes with monitoring: custom (monitoring is ${sensitivity})`,
      );
    }
    if (sensitivity !== "off") monitoring = monitoringPresets[sensitivity];
  }
  return {
    isolationResponse: opt(o, "isolationResponse", path, choice(isolationResponses), "powerOff"),
    admissionControl: opt(o, "admissionControl", path, (x, p) => readAdmission(x, p, names, hostCount), {
      policy: "disabled",
    } as AdmissionControl),
    haTag: opt(o, "haTag", path, text, ""),
    timing: readTiming(o.timing, [...path, "timing"]),
    monitoring,
    monitoringEnabled: sensitivity !== "off",
    startCondition: opt(o, "startCondition", path, choice(startConditions), "poweredOn"),
  };
}

const ruleKeys: Record<Rule["type"], string[]> = {
  vmAntiAffinity: ["vms"],
  vmAffinity: ["vms"],
  vmHostAffinity: ["vms", "hosts", "strict"],
  vmHostAntiAffinity: ["vms", "hosts", "strict"],
  startAfter: ["vm", "after"],
};

function readRule(v: unknown, path: Path, names: Names): Rule {
  if (!isMapping(v)) throw new Invalid(path, `must be a mapping with a type, got ${show(v)}`);
  const type = req(v, "type", path, choice(ruleKeys));
  const o = mapping(v, path, ["type", ...ruleKeys[type]]);
  switch (type) {
    case "vmAntiAffinity":
    case "vmAffinity":
      return { type, vms: req(o, "vms", path, uniqueList(names.vmRef, "VM", 2)) };
    case "vmHostAffinity":
    case "vmHostAntiAffinity":
      return {
        type,
        vms: req(o, "vms", path, uniqueList(names.vmRef, "VM", 1)),
        hosts: req(o, "hosts", path, uniqueList(names.hostRef, "host", 1)),
        strict: opt(o, "strict", path, bool, false),
      };
    case "startAfter": {
      const vm = req(o, "vm", path, names.vmRef);
      const after = req(o, "after", path, oneOrMore(names.vmRef, "VM"));
      if (after.includes(vm)) throw new Invalid([...path, "after"], `VM "${vm}" cannot start after itself`);
      return { type, vm, after };
    }
  }
}

/** A path of startAfter edges from `from` to `to`, or undefined. */
function waitPath(
  from: string,
  to: string,
  waitsFor: Map<string, string[]>,
  seen = new Set<string>(),
): string[] | undefined {
  if (from === to) return [to];
  if (seen.has(from)) return undefined;
  seen.add(from);
  for (const next of waitsFor.get(from) ?? []) {
    const rest = waitPath(next, to, waitsFor, seen);
    if (rest !== undefined) return [from, ...rest];
  }
  return undefined;
}

/** Rules that cannot all hold: startAfter cycles, and two VMs both kept together and apart. */
function checkRules(rules: Rule[]): void {
  const waitsFor = new Map<string, string[]>();
  const pairs = new Map<string, { type: string; index: number }>();
  rules.forEach((rule, i) => {
    if (rule.type === "startAfter") {
      for (const a of rule.after) {
        const back = waitPath(a, rule.vm, waitsFor);
        if (back !== undefined)
          throw new Invalid(["rules", i], `startAfter cycle ${[rule.vm, ...back].join(" -> ")}`);
        waitsFor.set(rule.vm, [...(waitsFor.get(rule.vm) ?? []), a]);
      }
    }
    if (rule.type === "vmAffinity" || rule.type === "vmAntiAffinity") {
      for (const a of rule.vms) {
        for (const b of rule.vms) {
          const earlier = pairs.get(`${a}\n${b}`);
          if (a !== b && earlier !== undefined && earlier.type !== rule.type) {
            throw new Invalid(
              ["rules", i],
              `${rule.type} on ${a} and ${b} contradicts rules[${earlier.index}] (${earlier.type})`,
            );
          }
          pairs.set(`${a}\n${b}`, { type: rule.type, index: i });
        }
      }
    }
  });
}

/** The `rules` list, refused when its rules cannot all hold. */
export function readRules(v: unknown, names: Names): Rule[] {
  if (v === undefined || v === null) return [];
  const rules = list((r, p) => readRule(r, p, names))(v, ["rules"]);
  checkRules(rules);
  return rules;
}
