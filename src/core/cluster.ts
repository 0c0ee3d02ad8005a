// The cluster's configuration as every agent sees it: hosts, datastores, VMs, rules and HA policy.
// Pure data; the simulator builds it from a scenario file, the agent from cluster.yaml or the server.

export const isolationResponses = {
  leaveOn: "keep the VMs running; nothing is restarted elsewhere",
  powerOff: "power the VMs off hard so another host can restart them",
  shutdown: "shut the guests down cleanly, then power off after shutdownTimeoutMs",
} as const;
export type IsolationResponse = keyof typeof isolationResponses;

export const restartPriorities = {
  highest: "restarted first",
  high: "restarted after highest",
  medium: "the default",
  low: "restarted after medium",
  lowest: "restarted last",
  disabled: "never restarted by HA",
} as const;
export type RestartPriority = keyof typeof restartPriorities;
/** Restart order, first to last; `disabled` is never restarted. */
export const restartPriorityOrder: readonly RestartPriority[] = [
  "highest",
  "high",
  "medium",
  "low",
  "lowest",
];

export const startConditions = {
  allocated: "the VM was placed and its start was issued",
  poweredOn: "the VM runs",
  guestHeartbeat: "the VM's guest sends heartbeats",
} as const;
export type StartCondition = keyof typeof startConditions;

export const monitoringSensitivities = {
  off: "VM and application monitoring disabled",
  low: "failure interval 120 s, at most 3 resets in 7 days",
  medium: "failure interval 60 s, at most 3 resets in 24 hours",
  high: "failure interval 30 s, at most 3 resets in 1 hour",
  custom: "values from cluster.monitoringCustom",
} as const;
export type MonitoringSensitivity = keyof typeof monitoringSensitivities;

export interface MonitoringSettings {
  failureIntervalMs: number;
  minUptimeMs: number;
  maxResets: number;
  /** Window in which at most maxResets resets happen; 0 means no window (a lifetime limit). */
  resetWindowMs: number;
}

export type AdmissionControl =
  | { policy: "disabled" }
  | { policy: "hostFailures"; hostFailuresToTolerate: number }
  | { policy: "percentage"; cpuPercent: number; memoryPercent: number }
  | {
      policy: "slots";
      hostFailuresToTolerate: number;
      /** Fixed slot size; when absent the slot is the largest powered-on VM. */
      slotCpus?: number;
      slotMemoryMiB?: number;
    }
  | { policy: "failoverHosts"; hosts: string[] };
export type AdmissionPolicy = AdmissionControl["policy"];

export type Rule =
  | { type: "vmAntiAffinity"; vms: string[] }
  | { type: "vmAffinity"; vms: string[] }
  | { type: "vmHostAffinity"; vms: string[]; hosts: string[]; strict: boolean }
  | { type: "vmHostAntiAffinity"; vms: string[]; hosts: string[]; strict: boolean }
  | { type: "startAfter"; vm: string; after: string[] };

export interface HostSpec {
  name: string;
  cpus: number;
  memoryMiB: number;
  datastores: string[];
  /** The host has a BMC the master can fence it through. */
  bmc: boolean;
  faultDomain: string;
  tags: string[];
  /** Election priority: higher wins after the number of datastores seen. */
  electionPriority: number;
}

export interface VmSpec {
  name: string;
  cpus: number;
  memoryMiB: number;
  datastore: string;
  ha: boolean;
  restartPriority: RestartPriority;
  /** Guest heartbeats are expected (a guest agent or heartbeat file exists). */
  guestHeartbeat: boolean;
}

export interface ClusterSpec {
  clusterId: string;
  isolationResponse: IsolationResponse;
  admissionControl: AdmissionControl;
  /** Mold's ha.tag: HA restarts go only to hosts carrying it. Empty string: unset. */
  haTag: string;
  monitoring: MonitoringSettings;
  monitoringEnabled: boolean;
  /** When a priority group counts as started, so the next may start. */
  startCondition: StartCondition;
  timing: Timing;
  datastores: string[];
  hosts: HostSpec[];
  vms: VmSpec[];
  rules: Rule[];
}

/** Every duration the engine uses. Defaults in defaultTiming; see docs/safety.md for the bounds. */
export interface Timing {
  heartbeatIntervalMs: number;
  /** A slave is unreachable after this long without a network heartbeat. */
  slaveUnreachableAfterMs: number;
  /** An unreachable host is dead when also its datastore heartbeat is this stale and ping fails. */
  datastoreHeartbeatStaleMs: number;
  /** A slave that hears no agent this long pings its isolation addresses. */
  isolationDetectMs: number;
  /** Time a host spends in election before deciding. */
  electionTimeoutMs: number;
  /** Wait after declaring isolation before applying the response. */
  isolationResponseDelayMs: number;
  shutdownTimeoutMs: number;
  /** Datastore heartbeat (lease renewal) period. */
  renewPeriodMs: number;
  ioTimeoutMs: number;
  selfFenceAfterMs: number;
  leaseTtlMs: number;
  killMs: number;
  /** Largest clock-rate error assumed, as a fraction (0.01 = 1%). */
  clockRateErrorMax: number;
  /** First retry delay; attempt k waits restartBackoffMs * (2^k - 1) after the first. */
  restartBackoffMs: number;
  restartAttemptsMax: number;
  /** A start or migration that has not finished by then is retried. */
  vmStartTimeoutMs: number;
  /** A priority group or dependency that has not reached its condition by then no longer blocks. */
  startOrderTimeoutMs: number;
  fenceTimeoutMs: number;
  /** Local restarts of a crashed VM on its own host before it goes to the master. */
  localRestartAttemptsMax: number;
}

export const defaultTiming: Timing = {
  heartbeatIntervalMs: 1000,
  slaveUnreachableAfterMs: 3000,
  datastoreHeartbeatStaleMs: 3000,
  isolationDetectMs: 3000,
  electionTimeoutMs: 2000,
  isolationResponseDelayMs: 0,
  shutdownTimeoutMs: 10_000,
  renewPeriodMs: 1000,
  ioTimeoutMs: 1000,
  selfFenceAfterMs: 4000,
  leaseTtlMs: 6000,
  killMs: 1000,
  clockRateErrorMax: 0.01,
  restartBackoffMs: 2000,
  restartAttemptsMax: 5,
  vmStartTimeoutMs: 30_000,
  startOrderTimeoutMs: 60_000,
  fenceTimeoutMs: 10_000,
  localRestartAttemptsMax: 3,
};

/** A timing profile for fast networks: detection in about a second. */
export const fastTiming: Timing = {
  ...defaultTiming,
  heartbeatIntervalMs: 250,
  slaveUnreachableAfterMs: 750,
  datastoreHeartbeatStaleMs: 750,
  isolationDetectMs: 750,
  electionTimeoutMs: 500,
  renewPeriodMs: 250,
  ioTimeoutMs: 250,
  selfFenceAfterMs: 1250,
  leaseTtlMs: 2500,
  killMs: 500,
};

export const monitoringPresets: Record<
  Exclude<MonitoringSensitivity, "off" | "custom">,
  MonitoringSettings
> = {
  high: { failureIntervalMs: 30_000, minUptimeMs: 120_000, maxResets: 3, resetWindowMs: 3_600_000 },
  medium: { failureIntervalMs: 60_000, minUptimeMs: 120_000, maxResets: 3, resetWindowMs: 86_400_000 },
  low: { failureIntervalMs: 120_000, minUptimeMs: 120_000, maxResets: 3, resetWindowMs: 604_800_000 },
};
