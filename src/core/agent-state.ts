// The agent's state: one host's view of the cluster. The step functions own and mutate it (as
// etcd-io/raft does) so a master of 2,000 VMs is not copied on every heartbeat.
import type { ClusterSpec, HostSpec, MonitoringSettings, VmSpec } from "./cluster.ts";
import type { EngineEvent } from "./events.ts";
import type { HostState } from "./host-states.ts";
import type { AgentEffect, ListedVm } from "./io.ts";
import type { AgentRole, HeartbeatMsg, RestartProof } from "./records.ts";
import type { VmListCache } from "./vm-lists.ts";

/** What this host's datastore reads show about another host's heartbeat on one datastore. */
export interface DatastoreHeartbeatView {
  incarnation: number;
  counter: number;
  /** Local completion time of the first read that saw this incarnation and counter. */
  firstSeenMs: number;
  /** Issue time of the latest read that still saw it. */
  lastReadIssuedMs: number;
  isolated: boolean;
  vms: { vm: string; epoch: number }[];
}

export interface MasterLeaseView {
  holder: string;
  counter: number;
  isolated: boolean;
  firstSeenMs: number;
  lastReadIssuedMs: number;
}

export interface LocalVm {
  epoch: number;
  state: "starting" | "running" | "stopping" | "down";
  startedAtMs: number;
  lastGuestHeartbeatMs: number | null;
  /** Why the current start was safe; reported in the vmStarted event. */
  startProof: RestartProof;
  /** The master that asked for the start, told if it fails; null for local restarts and adopted VMs. */
  requestedBy: string | null;
  /** Local restarts since the last stable run. */
  localRestarts: number;
  nextLocalRestartAtMs: number;
  /** Times of guest-heartbeat resets, for the resets-per-window limit. */
  resetTimesMs: number[];
  resetLimitAlarmed: boolean;
  /** Why HA stopped it, so the poweredoff record can say so; null when it was not HA. */
  stopReason: "isolation" | "lostLease" | "maintenance" | null;
  stopMode: "kill" | "shutdown";
  stopIssuedAtMs: number;
  /** The VM is confirmed dead and its poweredoff record still has to be written. */
  reportDown: boolean;
  migration: "none" | "claiming" | "migrating";
  migratingTo: string | null;
  migrationEpoch: number;
  /** The keeper's fence count of the VM's datastore when this host got the VM: a later fence means the lease is lost. */
  fenceCount: number;
}

/** A start the master asked for, held until the lease record confirms this host holds that epoch. */
export interface PendingStart {
  epoch: number;
  proof: RestartProof;
  from: string;
}

export interface HostView {
  state: HostState;
  stateSinceMs: number;
  lastHeartbeat: HeartbeatMsg | null;
  pingIssuedAtMs: number;
  /** Result of the last ping issued after the host became unreachable. */
  pingOk: boolean | null;
  fence: "none" | "fencing" | "fenced" | "failed";
  fenceIssuedAtMs: number;
  fenceAttempts: number;
  fenceConfirmedAtMs: number;
  /** Heartbeat (incarnation:counter) seen when the fence was confirmed: the proof lasts while it is unchanged. */
  fencedHeartbeat: string;
}

export interface RestartTrack {
  /** The VM needs a restart and has a proof; waiting for its turn or for capacity. */
  phase: "idle" | "proving" | "ready" | "claiming" | "starting";
  proof: RestartProof | null;
  attempts: number;
  nextAttemptAtMs: number;
  pendingSinceMs: number;
  target: string | null;
  epoch: number;
  issuedAtMs: number;
  lastReason: string;
  gaveUp: boolean;
  /** Capacity generation at the last failed placement; re-planned when it changes. */
  unplacedGeneration: number;
  firstIssuedAtMs: number;
  waitingAlarmed: boolean;
  /** A user power-on admitted onto this host. */
  forcedHost: string | null;
  confirmAskedAtMs: number;
  lastPlannedAtMs: number;
  /** When its priority group's turn came (placement first allowed); null before. */
  turnSinceMs: number | null;
  lastSentAtMs: number;
  /** Hosts where its start failed lately: tried last. */
  failedHosts: string[];
}

export interface RunningVm {
  host: string;
  epoch: number;
  starting: boolean;
  guestOk: boolean;
}

export interface MasterState {
  sinceMs: number;
  hosts: Map<string, HostView>;
  restarts: Map<string, RestartTrack>;
  /** Highest lease and poweredoff record seen per VM (from vmRecordsRead). */
  leases: Map<string, { epoch: number; holder: string; poweredOffEpoch: number; readAtMs: number }>;
  /** Where each VM was last reported running, with the epoch. */
  runningOn: Map<string, RunningVm>;
  /** What `runningOn` was last built from (see running-on.ts); an empty list forces a rebuild. */
  runningOnSignature: unknown[];
  /** The configured VMs (`vms`) missing from `runningOn` (that exact map), for restart tracking. */
  notRunning: { runningOn: Map<string, RunningVm> | null; vms: VmSpec[] | null; specs: VmSpec[] };
  /** `hosts` keys sorted (see sortedHostNames). */
  sortedHostNames: string[];
  /** Bumped whenever membership or capacity changes; unplaced VMs are re-planned then. */
  capacityGeneration: number;
  lastPlannedGeneration: number;
  haTagAlarmed: boolean;
  masterLeaseCounter: number;
  /** Datastores whose master lease this master holds. */
  heldDatastores: Set<string>;
  pendingPowerOns: { vm: string; host: string | null }[];
  /** Evacuations in flight: VM -> target and when the request was sent. */
  migrations: Map<string, { target: string; issuedAtMs: number }>;
  /** VMs whose records show no lease (never powered on under HA), with the time of that read. */
  neverStarted: Map<string, number>;
}

export interface IsolationState {
  state: "none" | "pinging" | "isolated";
  pingIssuedAtMs: number;
  pingsPending: number;
  pingsFailed: number;
  declaredAtMs: number;
  /** master.lease counter per datastore seen after the rule-9 margin passed. */
  counterAfterMargin: Map<string, number>;
  responseApplied: boolean;
  waitingAlarmed: boolean;
}

export interface AgentState {
  self: string;
  spec: ClusterSpec;
  /** Shared between agents of one spec object: read only. */
  hostSpecs: ReadonlyMap<string, HostSpec>;
  vmSpecs: ReadonlyMap<string, VmSpec>;
  /** The configured VMs of each datastore, in configuration order (shared, read only). */
  vmNamesByDatastore: ReadonlyMap<string, readonly string[]>;
  monitoring: MonitoringSettings | null;
  isolationAddresses: string[];
  /** The driver can live-migrate. */
  liveMigration: boolean;
  nowMs: number;
  startedAtMs: number;
  role: AgentRole;
  roleSinceMs: number;
  masterId: string | null;
  lastHeardMs: Map<string, number>;
  lastHeardAnyMs: number;
  peers: Map<string, HeartbeatMsg>;
  maintenance: boolean;
  maintenanceAnnounced: boolean;
  standby: boolean;
  fencingHosts: Set<string>;
  fencedDatastores: Set<string>;
  /** Issue time of the keeper's last acknowledged renewal per datastore (same host clock). */
  leaseRenewedAtMs: Map<string, number>;
  fenceCounts: Map<string, number>;
  isolation: IsolationState;
  local: Map<string, LocalVm>;
  /**
   * Bumped (localChanged) whenever a VM is added to or removed from `local`, or its state, epoch,
   * start time, guest heartbeat or migration changes: caches of what `local` shows compare it.
   */
  localVersion: number;
  /** The `localVersion` at which every local VM ran with nothing to do on a tick (see stepLocalVms). */
  quietLocalVersion: number;
  /** The last heartbeat and keeper VM lists built from `local`, reused while unchanged. */
  vmLists: VmListCache;
  /** The last hypervisor listing applied, and `localVersion` right after. */
  lastListing: { vms: ListedVm[] | null; localVersion: number };
  pendingStarts: Map<string, PendingStart>;
  /** Highest epoch per VM this host reported down: it never starts that epoch again (rule 6). */
  endedEpochs: Map<string, number>;
  listedOnce: boolean;
  /** Datastores whose VM records still have to be read to reconcile after a (re)start. */
  reconcilePending: Set<string> | null;
  reconcileRequested: Set<string>;
  nextHeartbeatAtMs: number;
  dsView: Map<string, Map<string, DatastoreHeartbeatView>>;
  masterLeaseView: Map<string, MasterLeaseView>;
  master: MasterState | null;
  unsafeRestartWithoutProof: boolean;
  autostart: Set<string>;
  /** Autostart leases being created: VM -> epoch 1. */
  autostartClaims: Set<string>;
}

export interface AgentOptions {
  isolationAddresses?: string[];
  liveMigration?: boolean;
  /** TEST ONLY: restart without a proof, to show that the simulator's checkers catch it. */
  unsafeRestartWithoutProof?: boolean;
  /** VMs this host powers on at its first start if they never ran under HA (the cluster file's `host:`). */
  autostart?: string[];
}

/**
 * The name indexes of one configuration, built once and shared by every agent that runs it (the
 * simulator runs a hundred of them on one spec object). Nobody mutates them: a new configuration
 * is a new spec object and gets its own.
 */
interface SpecIndexes {
  hosts: Map<string, HostSpec>;
  vms: Map<string, VmSpec>;
  vmNamesByDatastore: Map<string, string[]>;
}
const specIndexes = new WeakMap<ClusterSpec, SpecIndexes>();

export function indexSpec(state: AgentState, spec: ClusterSpec): void {
  let indexes = specIndexes.get(spec);
  if (indexes === undefined) {
    const vmNamesByDatastore = new Map<string, string[]>();
    for (const vm of spec.vms) {
      const names = vmNamesByDatastore.get(vm.datastore) ?? [];
      names.push(vm.name);
      vmNamesByDatastore.set(vm.datastore, names);
    }
    indexes = {
      hosts: new Map(spec.hosts.map((h) => [h.name, h])),
      vms: new Map(spec.vms.map((v) => [v.name, v])),
      vmNamesByDatastore,
    };
    specIndexes.set(spec, indexes);
  }
  state.spec = spec;
  state.hostSpecs = indexes.hosts;
  state.vmSpecs = indexes.vms;
  state.vmNamesByDatastore = indexes.vmNamesByDatastore;
  state.monitoring = !spec.monitoringEnabled ? null : spec.monitoring;
}

/** Call after any change to `local` that its caches could see (see `localVersion`). */
export function localChanged(state: AgentState): void {
  state.localVersion += 1;
}

export function emit(out: AgentEffect[], event: EngineEvent): void {
  out.push({ type: "emitEvent", event });
}

export function sortedKeys<K extends string>(map: Map<K, unknown>): K[] {
  return [...map.keys()].sort();
}

/** Rank for elections: more datastores, then higher priority, then the lower host name. */
export function betterCandidate(
  a: { name: string; datastoresSeen: number; electionPriority: number },
  b: { name: string; datastoresSeen: number; electionPriority: number },
): boolean {
  if (a.datastoresSeen !== b.datastoresSeen) return a.datastoresSeen > b.datastoresSeen;
  if (a.electionPriority !== b.electionPriority) return a.electionPriority > b.electionPriority;
  return a.name < b.name;
}
