// Runs the Datastore contract against FileDatastore (in a temp directory) and MemoryDatastore, then
// checks what only the files have: DESIGN section 5's layout on disk, uncached reads shared between
// hosts, leftovers of crashed writers, a missing mount and the I/O timeout.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { type Datastore, DatastoreError } from "../../src/agent/datastore/datastore.ts";
import { FileDatastore } from "../../src/agent/datastore/file-datastore.ts";
import { MemoryDatastore } from "../../src/agent/datastore/memory-datastore.ts";
import { datastoreContract, hb, lease, master, off } from "../contract/datastore.contract.ts";

const garbage = new Uint8Array([0xff, 0x00, 0x7b, 0xfe]);

async function tempRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), "vigil-datastore-"));
}

datastoreContract("FileDatastore", async () => {
  const root = await tempRoot();
  const dir = join(root, ".vigil", "c1");
  return {
    ds: new FileDatastore({ root, clusterId: "c1", ioTimeoutMs: 10_000 }),
    async corrupt(path, content = garbage) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), content);
    },
    async breakStorage() {
      // The cluster directory becomes a plain file: every path under it fails with ENOTDIR.
      await rm(dir, { recursive: true, force: true });
      await writeFile(dir, "not a directory");
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});

datastoreContract("MemoryDatastore", async () => {
  const ds = new MemoryDatastore();
  return {
    ds,
    corrupt: async (path, content) => ds.corruptPath(path, content),
    breakStorage: async () => {
      ds.failing = true;
    },
    cleanup: async () => {},
  };
});

/** Every file under dir, as sorted paths relative to it. */
async function filesUnder(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const path = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(...(await filesUnder(dir, path)));
    else out.push(path);
  }
  return out.sort();
}

async function writeOneOfEach(ds: Datastore): Promise<void> {
  await ds.writeHeartbeat(hb("h1", 1));
  await ds.writeMasterLease(master("h1", 1));
  assert.equal(await ds.createLease(lease("vm1", 1, "h1")), true);
  assert.equal(await ds.createLease(lease("vm1", 1, "h2")), false);
  await ds.writePoweredOff(off("vm1", 1, "h1"));
  await ds.writePoweredOff(off("vm1", 1, "h1"));
}

describe("FileDatastore on disk", () => {
  let root: string;
  beforeEach(async () => {
    root = await tempRoot();
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("lays records out as DESIGN section 5 says, one JSON record per file, no temp files left", async () => {
    const ds = new FileDatastore({ root, clusterId: "c1", ioTimeoutMs: 10_000 });
    await writeOneOfEach(ds);
    const files = await filesUnder(root);
    assert.deepEqual(files, [
      ".vigil/c1/hosts/h1.hb",
      ".vigil/c1/master.lease",
      ".vigil/c1/poweredoff/vm1.1",
      ".vigil/c1/vms/vm1/lease.1",
    ]);
    const content = async (path: string) => JSON.parse(await readFile(join(root, path), "utf8")) as unknown;
    assert.deepEqual(await content(".vigil/c1/hosts/h1.hb"), hb("h1", 1));
    assert.deepEqual(await content(".vigil/c1/master.lease"), master("h1", 1));
    assert.deepEqual(await content(".vigil/c1/poweredoff/vm1.1"), off("vm1", 1, "h1"));
    assert.deepEqual(await content(".vigil/c1/vms/vm1/lease.1"), lease("vm1", 1, "h1"));

    // The test double keeps the same paths.
    const memory = new MemoryDatastore();
    await writeOneOfEach(memory);
    assert.deepEqual(
      memory.paths(),
      files.map((path) => path.slice(".vigil/c1/".length)),
    );
  });

  it("creates the cluster's directories on first use, even for a read", async () => {
    const ds = new FileDatastore({ root, clusterId: "c1", ioTimeoutMs: 10_000 });
    assert.deepEqual(await ds.readHeartbeats(), { hosts: [], masterLease: null, corrupt: [] });
    assert.deepEqual(await readdir(join(root, ".vigil", "c1")).then((n) => n.sort()), [
      "hosts",
      "poweredoff",
      "vms",
    ]);
  });

  it("reads fresh every time: two hosts on one datastore see each other's writes", async () => {
    const a = new FileDatastore({ root, clusterId: "c1", ioTimeoutMs: 10_000 });
    const b = new FileDatastore({ root, clusterId: "c1", ioTimeoutMs: 10_000 });
    await a.writeHeartbeat(hb("h1", 1));
    assert.equal((await b.readHeartbeats()).hosts[0]?.counter, 1);
    await a.writeHeartbeat(hb("h1", 2));
    assert.equal((await b.readHeartbeats()).hosts[0]?.counter, 2);
    assert.equal(await a.createLease(lease("vm1", 1, "h1")), true);
    assert.equal(await b.createLease(lease("vm1", 1, "h2")), false);
    assert.equal((await b.readVmRecords(["vm1"])).records[0]?.lease?.holder, "h1");
  });

  it("ignores the temp files a crashed writer leaves behind", async () => {
    const ds = new FileDatastore({ root, clusterId: "c1", ioTimeoutMs: 10_000 });
    await ds.writeHeartbeat(hb("h1", 1));
    await ds.createLease(lease("vm1", 1, "h1"));
    const dir = join(root, ".vigil", "c1");
    await writeFile(join(dir, "hosts", ".h2.hb.999.deadbeef.tmp"), '{"v":1,"ho');
    await writeFile(join(dir, "vms", "vm1", ".lease.2.999.deadbeef.tmp"), '{"v":1,"vm');
    assert.deepEqual(await ds.readHeartbeats(), { hosts: [hb("h1", 1)], masterLease: null, corrupt: [] });
    assert.deepEqual(await ds.readVmRecords(["vm1"]), {
      records: [{ vm: "vm1", lease: lease("vm1", 1, "h1"), poweredOff: null }],
      corrupt: [],
    });
  });

  it("rejects, and creates nothing, when the datastore root is not there (not mounted)", async () => {
    const absent = join(root, "absent");
    const ds = new FileDatastore({ root: absent, clusterId: "c1", ioTimeoutMs: 10_000 });
    await assert.rejects(ds.readHeartbeats(), (error: unknown) => {
      assert.ok(error instanceof DatastoreError);
      assert.equal(error.op, "readHeartbeats");
      assert.match(error.message, /not mounted/);
      return true;
    });
    await assert.rejects(ds.writeHeartbeat(hb("h1", 1)), DatastoreError);
    assert.equal(existsSync(absent), false);
  });

  it("refuses an unsafe cluster id or timeout", () => {
    assert.throws(() => new FileDatastore({ root, clusterId: "../c1", ioTimeoutMs: 1000 }), DatastoreError);
    assert.throws(() => new FileDatastore({ root, clusterId: "c1", ioTimeoutMs: 0 }), DatastoreError);
  });

  it("rejects a call that outlasts ioTimeoutMs (a hung read) with a timed-out DatastoreError", async () => {
    const ds = new FileDatastore({ root, clusterId: "c1", ioTimeoutMs: 200 });
    await ds.writeHeartbeat(hb("h2", 1));
    // Opening a FIFO for reading blocks until a writer comes: a stand-in for a hung NFS server.
    const fifo = join(root, ".vigil", "c1", "hosts", "h1.hb");
    execFileSync("mkfifo", [fifo]);
    const started = performance.now();
    // Whatever happens, a writer comes after 1 s: without a timeout the read then completes and
    // the expected rejection is missing.
    const unblock = new Promise((resolve) => setTimeout(resolve, 1000)).then(async () => {
      await (await open(fifo, "w")).close();
    });
    try {
      await assert.rejects(ds.readHeartbeats(), (error: unknown) => {
        assert.ok(error instanceof DatastoreError);
        assert.equal(error.timedOut, true);
        assert.match(error.message, /ioTimeoutMs 200 ms/);
        return true;
      });
      const tookMs = performance.now() - started;
      assert.ok(tookMs >= 190 && tookMs < 900, `rejected after ${tookMs} ms`);
    } finally {
      await unblock;
    }
    const after = new FileDatastore({ root, clusterId: "c1", ioTimeoutMs: 200 });
    await rm(fifo);
    assert.deepEqual((await after.readHeartbeats()).hosts, [hb("h2", 1)]);
  });
});
