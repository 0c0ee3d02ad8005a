// The engine's only contact with the world: inputs in, effects out (etcd-io/raft's Step/Ready).
// The runtime executes effects in order (persist, then send, then apply) and feeds results back.
import type { ClusterSpec, VmSpec } from "./cluster.ts";
import type { EngineEvent } from "./events.ts";
import type {
  HostHeartbeatRecord,
  LeaseRecord,
  MasterLeaseRecord,
  Message,
  PoweredOffRecord,
  RestartProof,
  VmEpoch,
} from "./records.ts";

export interface VmRecords {
  vm: string;
  /** The lease of the highest epoch, or null when the VM never ran under HA. */
  lease: LeaseRecord | null;
  /** The poweredoff record of that highest epoch, or null. */
  poweredOff: PoweredOffRecord | null;
}

/** A VM as the host's hypervisor driver lists it. */
export interface ListedVm {
  vm: string;
  epoch: number;
  state: "starting" | "running" | "stopping";
  /** Local monotonic time of the last guest heartbeat, or null when none has arrived. */
  lastGuestHeartbeatMs: number | null;
  startedAtMs: number;
}

export type AgentInput =
  | { type: "tick"; nowMs: number }
  | { type: "message"; msg: Message }
  | { type: "pingResult"; target: string; ok: boolean }
  | {
      type: "heartbeatsRead";
      datastore: string;
      /** Local time the read was issued: the lease-expiry clock starts from reads, not from records. */
      issuedAtMs: number;
      ok: boolean;
      hosts: HostHeartbeatRecord[];
      masterLease: MasterLeaseRecord | null;
      /** Paths of records that failed validation; each raises an alarm. */
      corrupt: string[];
    }
  | { type: "vmRecordsRead"; datastore: string; ok: boolean; records: VmRecords[]; corrupt: string[] }
  | { type: "leaseCreated"; datastore: string; vm: string; epoch: number; ok: boolean }
  | { type: "fenceResult"; host: string; poweredOff: boolean; detail: string }
  | { type: "vmStartResult"; vm: string; epoch: number; ok: boolean; reason: string }
  | { type: "migrateResult"; vm: string; target: string; ok: boolean; reason: string }
  /**
   * The hypervisor's listing, sorted by name. The engine keeps a reference: a listing is never
   * mutated once fed, and feeding the same array again means "unchanged" (the simulator does so).
   */
  | { type: "vmsListed"; vms: ListedVm[] }
  /** From the host's lease keeper: fenced datastores and the issue time of each last acknowledged renewal. */
  | {
      type: "keeperReport";
      fencedDatastores: string[];
      renewedAtMs: Record<string, number>;
      fenceCounts: Record<string, number>;
    }
  | { type: "maintenanceRequested"; enable: boolean }
  | { type: "powerOnRequested"; vm: string; host: string | null }
  | { type: "migrateRequested"; vm: string; target: string }
  | { type: "configChanged"; cluster: ClusterSpec };

export type AgentEffect =
  | { type: "send"; to: string; msg: Message }
  | { type: "ping"; target: string }
  | { type: "readHeartbeats"; datastore: string }
  | { type: "writeMasterLease"; datastore: string; record: MasterLeaseRecord }
  | { type: "readVmRecords"; datastore: string; vms: string[] }
  /** Exclusive create of lease.<epoch>; fails if it exists. */
  | { type: "createLease"; datastore: string; record: LeaseRecord }
  | { type: "writePoweredOff"; datastore: string; record: PoweredOffRecord }
  | { type: "fenceHost"; host: string }
  | { type: "startVm"; spec: VmSpec; epoch: number }
  | { type: "stopVm"; vm: string; mode: "kill" | "shutdown" }
  | { type: "resetVm"; vm: string }
  | { type: "migrateVm"; vm: string; target: string; epoch: number }
  | { type: "listVms" }
  /** Tells the host's lease keeper what to write into the datastore heartbeat. */
  | { type: "keeperStatus"; isolated: boolean; vms: VmEpoch[] }
  | { type: "emitEvent"; event: EngineEvent };

export type KeeperInput =
  | { type: "tick"; nowMs: number }
  | { type: "heartbeatWritten"; datastore: string; issuedAtMs: number; ok: boolean }
  | { type: "agentStatus"; isolated: boolean; vms: VmEpoch[] };

export type KeeperEffect =
  | { type: "writeHeartbeat"; datastore: string; issuedAtMs: number; record: HostHeartbeatRecord }
  /** Kills every VM (running or starting) of this host whose disk is on the datastore. */
  | { type: "killVmsOnDatastore"; datastore: string }
  /** Re-arms the hardware or kernel watchdog; if not re-armed by deadlineMs it kills every VM. */
  | { type: "armWatchdog"; deadlineMs: number }
  | { type: "disarmWatchdog" }
  | {
      type: "reportToAgent";
      fencedDatastores: string[];
      renewedAtMs: Record<string, number>;
      fenceCounts: Record<string, number>;
    }
  | { type: "emitEvent"; event: EngineEvent };

export type { RestartProof };
