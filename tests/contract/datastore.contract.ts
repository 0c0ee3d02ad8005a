// One contract suite for every Datastore implementation (DESIGN sections 3 and 5), so the in-memory
// double stays honest against the files on a real datastore.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { type Datastore, DatastoreError } from "../../src/agent/datastore/datastore.ts";
import {
  type HostHeartbeatRecord,
  type LeaseRecord,
  type MasterLeaseRecord,
  type PoweredOffRecord,
  recordFormatVersion as v,
} from "../../src/core/records.ts";

export interface DatastoreHarness {
  ds: Datastore;
  /** Replaces the content at a relative path (DESIGN section 5), by default with garbage bytes. */
  corrupt(path: string, content?: string | Uint8Array): Promise<void>;
  /** Makes every later call fail as a lost datastore does (the I/O-failure case is skipped without it). */
  breakStorage?(): Promise<void>;
  cleanup(): Promise<void>;
}

export const hb = (
  host: string,
  counter: number,
  vms: HostHeartbeatRecord["vms"] = [],
): HostHeartbeatRecord => ({
  v,
  host,
  incarnation: 7,
  counter,
  isolated: false,
  vms,
});
export const lease = (vm: string, epoch: number, holder = "h1"): LeaseRecord => ({
  v,
  vm,
  epoch,
  holder,
  proof: "initialPowerOn",
});
export const off = (vm: string, epoch: number, host = "h1"): PoweredOffRecord => ({
  v,
  vm,
  epoch,
  host,
  reason: "stopped",
});
export const master = (holder: string, counter: number): MasterLeaseRecord => ({
  v,
  holder,
  counter,
  isolated: false,
});

/** Bad contents for a record: the same record broken in each way a reader must survive. */
function badContents(record: object, field: string): [string, string | Uint8Array][] {
  const text = JSON.stringify(record);
  return [
    ["garbage bytes", new Uint8Array([0xff, 0x00, 0x7b, 0xfe, 0x22, 0x0a])],
    ["a truncated record", text.slice(0, Math.floor(text.length / 2))],
    ["a wrong format version", JSON.stringify({ ...record, v: v + 1 })],
    [`a wrong type for ${field}`, JSON.stringify({ ...record, [field]: "7" })],
  ];
}

export function datastoreContract(name: string, make: () => Promise<DatastoreHarness>): void {
  describe(`Datastore contract: ${name}`, () => {
    let h: DatastoreHarness;
    let ds: Datastore;
    beforeEach(async () => {
      h = await make();
      ds = h.ds;
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it("reads an empty datastore as empty", async () => {
      assert.deepEqual(await ds.readHeartbeats(), { hosts: [], masterLease: null, corrupt: [] });
      assert.deepEqual(await ds.readVmRecords(["vm1"]), {
        records: [{ vm: "vm1", lease: null, poweredOff: null }],
        corrupt: [],
      });
    });

    it("round-trips the heartbeats of several hosts, sorted by host, latest write winning", async () => {
      const vms = [
        { vm: "vm1", epoch: 3, starting: true },
        { vm: "vm2", epoch: 1 },
      ];
      await ds.writeHeartbeat(hb("h3", 1));
      await ds.writeHeartbeat(hb("h1", 5, vms));
      await ds.writeHeartbeat(hb("h2", 1));
      await ds.writeHeartbeat({ ...hb("h2", 2), isolated: true });
      const read = await ds.readHeartbeats();
      assert.deepEqual(read.hosts, [hb("h1", 5, vms), { ...hb("h2", 2), isolated: true }, hb("h3", 1)]);
      assert.deepEqual(read.corrupt, []);
      assert.equal(read.masterLease, null);
    });

    it("round-trips the master lease, latest write winning", async () => {
      await ds.writeMasterLease(master("h1", 1));
      assert.deepEqual((await ds.readHeartbeats()).masterLease, master("h1", 1));
      await ds.writeMasterLease({ ...master("h2", 9), isolated: true });
      assert.deepEqual((await ds.readHeartbeats()).masterLease, { ...master("h2", 9), isolated: true });
    });

    it("creates a lease exclusively: a second create of the same epoch is false and changes nothing", async () => {
      assert.equal(await ds.createLease(lease("vm1", 1, "h1")), true);
      assert.equal(await ds.createLease(lease("vm1", 1, "h2")), false);
      const [record] = (await ds.readVmRecords(["vm1"])).records;
      assert.deepEqual(record?.lease, lease("vm1", 1, "h1"));
    });

    it("lets exactly one of 20 concurrent creates of the same epoch win", async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => ds.createLease(lease("vm1", 4, `h${i}`))),
      );
      const winners = results.flatMap((created, i) => (created ? [i] : []));
      assert.equal(winners.length, 1, `winners: ${winners.join(", ")}`);
      const [record] = (await ds.readVmRecords(["vm1"])).records;
      assert.deepEqual(record?.lease, lease("vm1", 4, `h${winners[0]}`));
    });

    it("creates exactly the epoch asked for, and reads the numerically highest lease", async () => {
      assert.equal(await ds.createLease(lease("vm1", 10, "h10")), true);
      assert.equal(await ds.createLease(lease("vm1", 9, "h9")), true);
      assert.equal(await ds.createLease(lease("vm1", 2, "h2")), true);
      const [record] = (await ds.readVmRecords(["vm1"])).records;
      assert.deepEqual(record?.lease, lease("vm1", 10, "h10"));
    });

    it("reads the poweredoff record of the highest epoch only", async () => {
      await ds.createLease(lease("vm1", 1, "h1"));
      await ds.writePoweredOff(off("vm1", 1, "h1"));
      let [record] = (await ds.readVmRecords(["vm1"])).records;
      assert.deepEqual(record, { vm: "vm1", lease: lease("vm1", 1, "h1"), poweredOff: off("vm1", 1, "h1") });

      await ds.createLease(lease("vm1", 2, "h2"));
      [record] = (await ds.readVmRecords(["vm1"])).records;
      assert.deepEqual(record, { vm: "vm1", lease: lease("vm1", 2, "h2"), poweredOff: null });

      // A late write for the old epoch lands after the newer lease: it must not show.
      await ds.writePoweredOff({ ...off("vm1", 1, "h1"), reason: "isolation" });
      [record] = (await ds.readVmRecords(["vm1"])).records;
      assert.equal(record?.poweredOff, null);

      await ds.writePoweredOff(off("vm1", 2, "h2"));
      [record] = (await ds.readVmRecords(["vm1"])).records;
      assert.deepEqual(record?.poweredOff, off("vm1", 2, "h2"));
    });

    it("answers several VMs in request order, each with its own records", async () => {
      await ds.createLease(lease("vm2", 3, "h2"));
      await ds.createLease(lease("vm1", 1, "h1"));
      await ds.writePoweredOff(off("vm1", 1, "h1"));
      const read = await ds.readVmRecords(["vm2", "vm3", "vm1"]);
      assert.deepEqual(read, {
        records: [
          { vm: "vm2", lease: lease("vm2", 3, "h2"), poweredOff: null },
          { vm: "vm3", lease: null, poweredOff: null },
          { vm: "vm1", lease: lease("vm1", 1, "h1"), poweredOff: off("vm1", 1, "h1") },
        ],
        corrupt: [],
      });
    });

    for (const [what, content] of badContents(hb("h2", 3), "counter")) {
      it(`reports a heartbeat holding ${what} as corrupt and ignores it`, async () => {
        await ds.writeHeartbeat(hb("h1", 1));
        await ds.writeHeartbeat(hb("h2", 1));
        await ds.writeHeartbeat(hb("h3", 1));
        await h.corrupt("hosts/h2.hb", content);
        const read = await ds.readHeartbeats();
        assert.deepEqual(read.corrupt, ["hosts/h2.hb"]);
        assert.deepEqual(read.hosts, [hb("h1", 1), hb("h3", 1)]);
      });
    }

    for (const [what, content] of badContents(master("h1", 2), "isolated")) {
      it(`reports a master lease holding ${what} as corrupt and ignores it`, async () => {
        await ds.writeMasterLease(master("h1", 1));
        await ds.writeHeartbeat(hb("h1", 1));
        await h.corrupt("master.lease", content);
        assert.deepEqual(await ds.readHeartbeats(), {
          hosts: [hb("h1", 1)],
          masterLease: null,
          corrupt: ["master.lease"],
        });
      });
    }

    for (const [what, content] of badContents(lease("vm1", 2), "epoch")) {
      it(`leaves out a VM whose highest lease holds ${what}, never falling back to a lower one`, async () => {
        await ds.createLease(lease("vm1", 1, "h1"));
        await ds.createLease(lease("vm1", 2, "h2"));
        await ds.createLease(lease("vm2", 1, "h1"));
        await h.corrupt("vms/vm1/lease.2", content);
        assert.deepEqual(await ds.readVmRecords(["vm1", "vm2"]), {
          records: [{ vm: "vm2", lease: lease("vm2", 1, "h1"), poweredOff: null }],
          corrupt: ["vms/vm1/lease.2"],
        });
      });
    }

    for (const [what, content] of badContents(off("vm1", 1), "reason")) {
      it(`reports a poweredoff record holding ${what} as corrupt and reads no poweredoff`, async () => {
        await ds.createLease(lease("vm1", 1, "h1"));
        await ds.writePoweredOff(off("vm1", 1, "h1"));
        await h.corrupt("poweredoff/vm1.1", content);
        assert.deepEqual(await ds.readVmRecords(["vm1"]), {
          records: [{ vm: "vm1", lease: lease("vm1", 1, "h1"), poweredOff: null }],
          corrupt: ["poweredoff/vm1.1"],
        });
      });
    }

    it("reports a valid record stored under another record's path as corrupt", async () => {
      await ds.writeHeartbeat(hb("h1", 1));
      await ds.createLease(lease("vm1", 1, "h1"));
      await ds.writePoweredOff(off("vm1", 1, "h1"));
      await h.corrupt("hosts/h1.hb", JSON.stringify(hb("h9", 1)));
      await h.corrupt("poweredoff/vm1.1", JSON.stringify(off("vm1", 5, "h1")));
      await h.corrupt("vms/vm2/lease.3", JSON.stringify(lease("vm2", 4, "h1")));
      assert.deepEqual((await ds.readHeartbeats()).corrupt, ["hosts/h1.hb"]);
      assert.deepEqual(await ds.readVmRecords(["vm1", "vm2"]), {
        records: [{ vm: "vm1", lease: lease("vm1", 1, "h1"), poweredOff: null }],
        corrupt: ["poweredoff/vm1.1", "vms/vm2/lease.3"],
      });
    });

    it("refuses to write invalid records or unsafe names, with a DatastoreError", async () => {
      const refused = [
        ds.writeHeartbeat({ ...hb("h1", 1), counter: -1 }),
        ds.writeHeartbeat(hb("../h1", 1)),
        ds.writeMasterLease({ ...master("h1", 1), v: v + 1 }),
        ds.createLease(lease("vm/../x", 1)),
        ds.writePoweredOff({ ...off("vm1", 1), reason: "bored" as PoweredOffRecord["reason"] }),
        ds.readVmRecords(["../hosts"]),
      ];
      for (const call of refused) await assert.rejects(call, DatastoreError);
      assert.deepEqual(await ds.readHeartbeats(), { hosts: [], masterLease: null, corrupt: [] });
      assert.deepEqual((await ds.readVmRecords(["vm1"])).records[0]?.lease, null);
    });

    it("never shows a reader a partial record while 200 writes race it", async () => {
      const vms = Array.from({ length: 3000 }, (_, i) => ({ vm: `vm-${i}`, epoch: i }));
      await ds.writeHeartbeat(hb("h1", 0, vms));
      let done = false;
      const writer = (async () => {
        for (let counter = 1; counter <= 200; counter++) await ds.writeHeartbeat(hb("h1", counter, vms));
        done = true;
      })();
      let reads = 0;
      let last = 0;
      while (!done) {
        const read = await ds.readHeartbeats();
        reads += 1;
        assert.deepEqual(read.corrupt, [], `read ${reads} saw a partial record`);
        const [record] = read.hosts;
        assert.ok(record !== undefined, `read ${reads} saw no heartbeat`);
        assert.equal(record.vms.length, vms.length);
        assert.ok(record.counter >= last, `counter went back from ${last} to ${record.counter}`);
        last = record.counter;
      }
      await writer;
      assert.ok(reads > 1, `only ${reads} reads raced the writes`);
      assert.equal((await ds.readHeartbeats()).hosts[0]?.counter, 200);
    });

    it("rejects every call with a DatastoreError when the storage fails", async (t) => {
      if (h.breakStorage === undefined) return t.skip("the harness cannot break its storage");
      await ds.writeHeartbeat(hb("h1", 1));
      await h.breakStorage();
      await assert.rejects(ds.readHeartbeats(), DatastoreError);
      await assert.rejects(ds.writeHeartbeat(hb("h1", 2)), DatastoreError);
      await assert.rejects(ds.writeMasterLease(master("h1", 1)), DatastoreError);
      await assert.rejects(ds.readVmRecords(["vm1"]), DatastoreError);
      await assert.rejects(ds.createLease(lease("vm1", 1)), DatastoreError);
      await assert.rejects(ds.writePoweredOff(off("vm1", 1)), DatastoreError);
    });
  });
}
