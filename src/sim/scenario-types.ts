// The validated form of a scenario file: what the simulator runs and the checker judges.
// Apart from the parser so the simulator, the checker and the CLI can share the types without it.

import type { ClusterSpec, HostSpec, VmSpec } from "../core/cluster.ts";
import type { EventType } from "../core/events.ts";
import type { HostState } from "../core/host-states.ts";

export const scenarioEventKinds = {
  crash: "the host loses power; its BMC still answers",
  isolate: "the host's management network is cut; its storage stays",
  partition: "the management network splits into the given groups; hosts not named form one more group",
  storageLoss: "the host loses the given datastores (all it sees when none are given)",
  vmCrash: "the VM's process dies",
  guestHang: "the VM keeps running but its guest stops sending heartbeats",
  agentCrash: "the host's agent process dies; its VMs keep running",
  agentStart: "the host's agent process starts again",
  bmcFail: "the host's BMC stops answering",
  powerOn: "the host is powered on again",
  heal: "ends isolation, partitions, storage loss and BMC failure, of one host or of all",
  maintenance: "the host enters (enable: true) or leaves (enable: false) maintenance mode",
  migrate: "the user moves a running VM to another host (admission control judges the target)",
  powerOnVm: "a new VM is powered on, on the given host or where the planner places it",
  vmStartFailures: "the next `count` VM starts on the host fail",
  pause: "the host's processes freeze for a while (a GC pause, SIGSTOP)",
  addHost: "a new host joins the cluster",
} as const;
export type ScenarioEventKind = keyof typeof scenarioEventKinds;

/**
 * Something the scenario does to the cluster at `atMs` (ms from the start). `index` is the position
 * in the file's `events` list, for messages ("events[4]"). Host and VM names are validated and exist
 * by then; a scenario's events are sorted by atMs, ties in file order.
 */
export type ScenarioEvent =
  | { kind: "crash"; atMs: number; index: number; host: string }
  | { kind: "isolate"; atMs: number; index: number; host: string }
  | { kind: "partition"; atMs: number; index: number; groups: string[][] }
  | { kind: "storageLoss"; atMs: number; index: number; host: string; datastores: string[] }
  | { kind: "vmCrash"; atMs: number; index: number; vm: string }
  | { kind: "guestHang"; atMs: number; index: number; vm: string }
  | { kind: "agentCrash"; atMs: number; index: number; host: string }
  | { kind: "agentStart"; atMs: number; index: number; host: string }
  | { kind: "bmcFail"; atMs: number; index: number; host: string }
  | { kind: "powerOn"; atMs: number; index: number; host: string }
  | { kind: "heal"; atMs: number; index: number; host: string | "all" }
  | { kind: "maintenance"; atMs: number; index: number; host: string; enable: boolean }
  | { kind: "migrate"; atMs: number; index: number; vm: string; to: string }
  /** `host` null: the planner picks. */
  | { kind: "powerOnVm"; atMs: number; index: number; spec: VmSpec; host: string | null }
  | { kind: "vmStartFailures"; atMs: number; index: number; host: string; count: number }
  | { kind: "pause"; atMs: number; index: number; host: string; forMs: number }
  | { kind: "addHost"; atMs: number; index: number; spec: HostSpec };

export const vmStates = {
  running: "the VM runs (on some host)",
  down: "the VM runs nowhere",
} as const;
export type VmState = keyof typeof vmStates;

/** Who the master is: one of `in`, or (there is a master and it is) none of `notIn`. */
export type MasterCondition = { in: string[] } | { notIn: string[] };

/**
 * Something about the cluster that holds or not at one instant.
 * vm: `state` running/down; `on`: runs on one of these hosts; `notOn`: runs on none of them (a VM
 * that is down satisfies it). At least one of the three is present.
 */
export type Condition =
  | { subject: "vm"; vm: string; state?: VmState; on?: string[]; notOn?: string[] }
  | { subject: "host"; host: string; state: HostState }
  | { subject: "master"; master: MasterCondition };

/** Matches emitted events of `type` whose fields (of EngineEvent: host, vm, subject, ...) equal all of `fields`. */
export interface EventMatch {
  type: EventType;
  fields: Partial<Record<MatchField, string | number>>;
}
/** The EngineEvent fields an expectation may match on. */
export type MatchField = "host" | "vm" | "subject" | "target" | "epoch" | "state" | "reason" | "proof";

export const expectationKinds = {
  at: "the condition holds at the given instant",
  by: "the condition holds at some instant up to the given time",
  always: "the condition holds at every instant of the run",
  event: "an event matching type and fields is emitted (by a time; exactly `count` times)",
  never: "no event matching type and fields is emitted",
  order: "the first events of a type (vmStarted by default) for these VMs come in this order",
} as const;
export type ExpectationKind = keyof typeof expectationKinds;

/** What the run must show. `index` is the position in the file's `expect` list ("expect[3]"). */
export type Expectation =
  | { kind: "at"; index: number; atMs: number; condition: Condition }
  | { kind: "by"; index: number; byMs: number; condition: Condition }
  | { kind: "always"; index: number; condition: Condition }
  | { kind: "event"; index: number; match: EventMatch; byMs?: number; count?: number }
  | { kind: "never"; index: number; match: EventMatch }
  | { kind: "order"; index: number; vms: string[]; of: EventType };

/** The simulated environment. Times in ms. */
export interface SimSettings {
  networkLatencyMs: number;
  networkLossPercent: number;
  storageLatencyMs: number;
  /** How long a VM start takes. */
  vmStartMs: number;
  vmStopMs: number;
  migrateMs: number;
  bmcActionMs: number;
  /** Clock-rate error per host as a fraction (0.005 runs 0.5% fast); every host, 0 unless set. */
  clockDrift: Record<string, number>;
}

export const defaultSimSettings: Readonly<Omit<SimSettings, "clockDrift">> = {
  networkLatencyMs: 1,
  networkLossPercent: 0,
  storageLatencyMs: 2,
  vmStartMs: 2000,
  vmStopMs: 500,
  migrateMs: 3000,
  bmcActionMs: 1000,
};

export interface Scenario {
  name: string;
  /** One line; "" when the file has none. */
  description: string;
  /** Where it came from (a file path), for messages. */
  sourceName: string;
  seed: number;
  /** How long to run; absent: the simulator decides (e.g. past the last event and expectation). */
  durationMs?: number;
  /** The cluster at the start; hosts added by addHost events are not in it. */
  cluster: ClusterSpec;
  sim: SimSettings;
  /** Every VM of cluster.vms -> the host it runs on at the start, or null: it starts down. */
  initialPlacement: Record<string, string | null>;
  events: ScenarioEvent[];
  expectations: Expectation[];
}
