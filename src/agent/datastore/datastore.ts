// The agent's datastore I/O behind one interface (DESIGN sections 3 and 5), so the runtime can run on
// real files (FileDatastore) or an in-memory double (MemoryDatastore). The record semantics live here
// once, in RecordStore, so the two cannot drift: only the file primitives differ.
import type { VmRecords } from "../../core/io.ts";
import {
  type HostHeartbeatRecord,
  type LeaseRecord,
  type MasterLeaseRecord,
  type PoweredOffRecord,
  validateRecord,
} from "../../core/records.ts";

export interface HeartbeatsRead {
  /** Valid heartbeats, sorted by host. */
  hosts: HostHeartbeatRecord[];
  masterLease: MasterLeaseRecord | null;
  /** Relative paths of records that failed validation or could not be a record; each is an alarm. */
  corrupt: string[];
}

export interface VmRecordsRead {
  /** One per requested VM, in request order, except VMs whose highest lease is corrupt. */
  records: VmRecords[];
  corrupt: string[];
}

/** One datastore of one cluster. Every call rejects with a DatastoreError on I/O failure. */
export interface Datastore {
  readHeartbeats(): Promise<HeartbeatsRead>;
  /** Atomic replace of hosts/<host>.hb. */
  writeHeartbeat(record: HostHeartbeatRecord): Promise<void>;
  /** Atomic replace of master.lease. */
  writeMasterLease(record: MasterLeaseRecord): Promise<void>;
  /** The highest lease of each VM and the poweredoff record of that epoch. */
  readVmRecords(vms: string[]): Promise<VmRecordsRead>;
  /** Exclusive create of exactly vms/<vm>/lease.<epoch>: true if created, false if it exists. */
  createLease(record: LeaseRecord): Promise<boolean>;
  /** Atomic replace of poweredoff/<vm>.<epoch>. */
  writePoweredOff(record: PoweredOffRecord): Promise<void>;
}

export class DatastoreError extends Error {
  override readonly name = "DatastoreError";
  constructor(
    message: string,
    /** The Datastore method that failed. */
    readonly op: string,
    /** The relative path it was working on. */
    readonly path: string,
    /** The call took longer than ioTimeoutMs; its write may still land later. */
    readonly timedOut = false,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Host, VM and cluster names become path segments: no slashes, no leading dot, no "..". */
export const safeNamePattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
export function isSafeName(name: string): boolean {
  return safeNamePattern.test(name);
}

/** DESIGN section 5, relative to <datastore>/.vigil/<clusterId>/. */
export const layout = {
  hostsDir: "hosts",
  vmsDir: "vms",
  poweredOffDir: "poweredoff",
  masterLease: "master.lease",
  heartbeat: (host: string) => `hosts/${host}.hb`,
  vmDir: (vm: string) => `vms/${vm}`,
  lease: (vm: string, epoch: number) => `vms/${vm}/lease.${epoch}`,
  poweredOff: (vm: string, epoch: number) => `poweredoff/${vm}.${epoch}`,
} as const;

/** What a backend found at a path. "unreadable": something is there that cannot be a record. */
export type ReadResult = { kind: "text"; text: string } | { kind: "missing" } | { kind: "unreadable" };

const leaseName = /^lease\.(0|[1-9][0-9]*)$/;

/**
 * The Datastore semantics on top of four file primitives. Temporary files start with "." and are
 * never read as records.
 */
export abstract class RecordStore implements Datastore {
  /** Entry names of a directory; null when it does not exist. */
  protected abstract list(dir: string): Promise<string[] | null>;
  /** A fresh read, never cached. Rejects only on I/O failure. */
  protected abstract read(path: string): Promise<ReadResult>;
  /** Atomic replace: a reader sees the old record or the new one, never a mix. */
  protected abstract replace(path: string, text: string): Promise<void>;
  /** Atomic exclusive create: false when the path exists. */
  protected abstract createExclusive(path: string, text: string): Promise<boolean>;
  /** Runs one call: implementations add timeouts and turn failures into DatastoreError. */
  protected abstract call<T>(op: string, path: string, work: () => Promise<T>): Promise<T>;

  readHeartbeats(): Promise<HeartbeatsRead> {
    return this.call("readHeartbeats", layout.hostsDir, async () => {
      const names = await this.list(layout.hostsDir);
      if (names === null) throw new Error(`the directory ${layout.hostsDir}/ is missing`);
      const corrupt: string[] = [];
      const hosts: HostHeartbeatRecord[] = [];
      const reads = names
        .filter((name) => !name.startsWith(".") && name.endsWith(".hb"))
        .map(async (name) => {
          const host = name.slice(0, -".hb".length);
          const path = `${layout.hostsDir}/${name}`;
          if (!isSafeName(host)) return corrupt.push(path);
          const found = await this.read(path);
          if (found.kind === "missing") return;
          const record = decode<HostHeartbeatRecord>(found, validateRecord.hostHeartbeat);
          if (record === null || record.host !== host) corrupt.push(path);
          else hosts.push(record);
        });
      const masterRead = this.read(layout.masterLease);
      await Promise.all(reads);
      const found = await masterRead;
      let masterLease: MasterLeaseRecord | null = null;
      if (found.kind !== "missing") {
        masterLease = decode<MasterLeaseRecord>(found, validateRecord.masterLease);
        if (masterLease === null) corrupt.push(layout.masterLease);
      }
      hosts.sort((a, b) => compare(a.host, b.host));
      return { hosts, masterLease, corrupt: corrupt.sort(compare) };
    });
  }

  writeHeartbeat(record: HostHeartbeatRecord): Promise<void> {
    const path = isSafeName(record.host) ? layout.heartbeat(record.host) : layout.hostsDir;
    return this.call("writeHeartbeat", path, () =>
      this.replace(path, encode(record, validateRecord.hostHeartbeat, [record.host])),
    );
  }

  writeMasterLease(record: MasterLeaseRecord): Promise<void> {
    return this.call("writeMasterLease", layout.masterLease, () =>
      this.replace(layout.masterLease, encode(record, validateRecord.masterLease, [record.holder])),
    );
  }

  readVmRecords(vms: string[]): Promise<VmRecordsRead> {
    return this.call("readVmRecords", layout.vmsDir, async () => {
      const bad = vms.find((vm) => !isSafeName(vm));
      if (bad !== undefined) throw new Error(`unsafe VM name ${JSON.stringify(bad)}`);
      const corrupt: string[] = [];
      const found = await Promise.all(vms.map((vm) => this.readVm(vm, corrupt)));
      const records = found.filter((r): r is VmRecords => r !== null);
      return { records, corrupt: corrupt.sort(compare) };
    });
  }

  createLease(record: LeaseRecord): Promise<boolean> {
    const path = isSafeName(record.vm) ? layout.lease(record.vm, record.epoch) : layout.vmsDir;
    return this.call("createLease", path, () =>
      this.createExclusive(path, encode(record, validateRecord.lease, [record.vm, record.holder])),
    );
  }

  writePoweredOff(record: PoweredOffRecord): Promise<void> {
    const path = isSafeName(record.vm) ? layout.poweredOff(record.vm, record.epoch) : layout.poweredOffDir;
    return this.call("writePoweredOff", path, () =>
      this.replace(path, encode(record, validateRecord.poweredOff, [record.vm, record.host])),
    );
  }

  /** Null when the highest lease is corrupt: never fall back to a lower epoch. */
  private async readVm(vm: string, corrupt: string[]): Promise<VmRecords | null> {
    const names = (await this.list(layout.vmDir(vm))) ?? [];
    let epoch = -1;
    for (const name of names) {
      const match = leaseName.exec(name);
      const value = match === null ? Number.NaN : Number(match[1]);
      if (Number.isSafeInteger(value)) epoch = Math.max(epoch, value);
      else if (name.startsWith("lease.")) corrupt.push(`${layout.vmDir(vm)}/${name}`);
    }
    if (epoch < 0) return { vm, lease: null, poweredOff: null };
    const leasePath = layout.lease(vm, epoch);
    const leaseRead = await this.read(leasePath);
    if (leaseRead.kind === "missing") throw new Error(`${leasePath} vanished while being read`);
    const lease = decode<LeaseRecord>(leaseRead, validateRecord.lease);
    if (lease === null || lease.vm !== vm || lease.epoch !== epoch) {
      corrupt.push(leasePath);
      return null;
    }
    const offPath = layout.poweredOff(vm, epoch);
    const offRead = await this.read(offPath);
    let poweredOff: PoweredOffRecord | null = null;
    if (offRead.kind !== "missing") {
      poweredOff = decode<PoweredOffRecord>(offRead, validateRecord.poweredOff);
      if (poweredOff === null || poweredOff.vm !== vm || poweredOff.epoch !== epoch) {
        corrupt.push(offPath);
        poweredOff = null;
      }
    }
    return { vm, lease, poweredOff };
  }
}

function decode<T>(found: ReadResult, check: (value: unknown) => string | null): T | null {
  if (found.kind !== "text") return null;
  let value: unknown;
  try {
    value = JSON.parse(found.text);
  } catch {
    return null;
  }
  return check(value) === null ? (value as T) : null;
}

/** Refuses to write a record the readers would reject, or one whose names cannot be paths. */
function encode(record: object, check: (value: unknown) => string | null, names: string[]): string {
  const problem = check(record);
  if (problem !== null) throw new Error(`refusing to write an invalid record: ${problem}`);
  const bad = names.find((name) => !isSafeName(name));
  if (bad !== undefined)
    throw new Error(`refusing to write a record with unsafe name ${JSON.stringify(bad)}`);
  return `${JSON.stringify(record)}\n`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
