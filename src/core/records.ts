// Datastore records and network messages: what crosses a process boundary, so each has a
// format version and a validator. A record that fails validation is an alarm, never a reason to act.

export const recordFormatVersion = 1;

export interface VmEpoch {
  vm: string;
  epoch: number;
  /** Still booting: it counts as placed, not yet as powered on. */
  starting?: boolean;
  /** Its guest sends heartbeats. */
  guestOk?: boolean;
}

/** hosts/<host>.hb, written by the host's lease keeper every renewPeriodMs. */
export interface HostHeartbeatRecord {
  v: number;
  host: string;
  /** Changes with every boot of the keeper, so a restarted counter is still a change. */
  incarnation: number;
  counter: number;
  isolated: boolean;
  /** The poweron list: VMs running on the host when the record was written. */
  vms: VmEpoch[];
}

/** vms/<vm>/lease.<epoch>: created exclusively; renewed through the holder's heartbeat (sanlock's delta lease). */
export interface LeaseRecord {
  v: number;
  vm: string;
  epoch: number;
  holder: string;
  proof: RestartProof;
}

/**
 * poweredoff/<vm>.<epoch>: the VM of that epoch is confirmed dead. Valid only while that epoch is
 * the highest. One file per epoch, so a late write for an old epoch cannot hide a newer one.
 */
export interface PoweredOffRecord {
  v: number;
  vm: string;
  epoch: number;
  host: string;
  reason: "isolation" | "stopped" | "lostLease" | "startFailed" | "maintenance";
}

/** master.lease: which master is responsible for this datastore's protected VMs. */
export interface MasterLeaseRecord {
  v: number;
  holder: string;
  counter: number;
  isolated: boolean;
}

export const restartProofs = {
  fenced: "the old host's BMC confirmed power off",
  leaseExpired: "the old holder's lease was not renewed for leaseTtlMs",
  reportedDown: "the old host recorded on the datastore that the VM is powered off",
  initialPowerOn: "first power-on by the operator: the VM never ran under HA",
  migration: "live migration: the running copy moves, it is not started twice",
  localRestart: "the holder restarts its own crashed VM under the lease it holds",
  unsafeNoProof: "TEST ONLY: a deliberately broken rule, used to prove the checkers can fail",
} as const;
export type RestartProof = keyof typeof restartProofs;

export interface HeartbeatMsg {
  type: "heartbeat";
  from: string;
  role: AgentRole;
  /** The master the sender follows; itself when master. */
  master: string | null;
  datastoresSeen: number;
  electionPriority: number;
  /** The sender may stand in an election. */
  eligible: boolean;
  isolated: boolean;
  maintenance: boolean;
  standby: boolean;
  /** Master only: hosts it is fencing; they must never become master. */
  fencing: string[];
  vms: VmEpoch[];
}

export interface StartVmMsg {
  type: "startVm";
  from: string;
  vm: string;
  epoch: number;
  proof: RestartProof;
}

export interface VmStartFailedMsg {
  type: "vmStartFailed";
  from: string;
  vm: string;
  epoch: number;
  reason: string;
}

export interface MigrateVmMsg {
  type: "migrateVm";
  from: string;
  vm: string;
  target: string;
}

/** The master asks a lease holder that does not run the VM to report that epoch down. */
export interface ConfirmDownMsg {
  type: "confirmDown";
  from: string;
  vm: string;
  epoch: number;
}

export type Message = HeartbeatMsg | StartVmMsg | VmStartFailedMsg | MigrateVmMsg | ConfirmDownMsg;

export const agentRoles = {
  election: "taking part in a master election",
  master: "the master: tracks every host and restarts VMs",
  slave: "follows a master and runs the VMs it is given",
} as const;
export type AgentRole = keyof typeof agentRoles;

type Check = (value: unknown, path: string) => string | null;

const isString: Check = (v, p) => (typeof v === "string" && v.length > 0 ? null : `${p}: expected a string`);
const isNat: Check = (v, p) =>
  typeof v === "number" && Number.isInteger(v) && v >= 0 ? null : `${p}: expected a whole number >= 0`;
const isBool: Check = (v, p) => (typeof v === "boolean" ? null : `${p}: expected true or false`);

function checkFields(value: unknown, path: string, fields: Record<string, Check>): string | null {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return `${path}: expected an object`;
  const obj = value as Record<string, unknown>;
  if (obj.v !== recordFormatVersion) return `${path}.v: unsupported format version ${String(obj.v)}`;
  for (const [key, check] of Object.entries(fields)) {
    const problem = check(obj[key], `${path}.${key}`);
    if (problem !== null) return problem;
  }
  return null;
}

const isVmEpochList: Check = (v, p) => {
  if (!Array.isArray(v)) return `${p}: expected a list`;
  for (const [i, item] of v.entries()) {
    if (typeof item !== "object" || item === null) return `${p}[${i}]: expected an object`;
    const it = item as Record<string, unknown>;
    const problem = isString(it.vm, `${p}[${i}].vm`) ?? isNat(it.epoch, `${p}[${i}].epoch`);
    if (problem !== null) return problem;
  }
  return null;
};

const isProof: Check = (v, p) =>
  typeof v === "string" && v in restartProofs
    ? null
    : `${p}: expected one of ${Object.keys(restartProofs).join(", ")}`;
const isPoweredOffReason: Check = (v, p) =>
  v === "isolation" || v === "stopped" || v === "lostLease" || v === "startFailed" || v === "maintenance"
    ? null
    : `${p}: unknown reason`;

/** Validators return null when the record is well formed, else the path and problem. */
export const validateRecord = {
  hostHeartbeat: (v: unknown, path = "hb") =>
    checkFields(v, path, {
      host: isString,
      incarnation: isNat,
      counter: isNat,
      isolated: isBool,
      vms: isVmEpochList,
    }),
  lease: (v: unknown, path = "lease") =>
    checkFields(v, path, { vm: isString, epoch: isNat, holder: isString, proof: isProof }),
  poweredOff: (v: unknown, path = "poweredoff") =>
    checkFields(v, path, { vm: isString, epoch: isNat, host: isString, reason: isPoweredOffReason }),
  masterLease: (v: unknown, path = "master.lease") =>
    checkFields(v, path, { holder: isString, counter: isNat, isolated: isBool }),
};
