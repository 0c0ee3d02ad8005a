// The contract every hypervisor driver passes (process, the simulated test double, later QEMU and
// libvirt), so the agent runtime can rely on one behaviour and the simulated driver stays honest.
// A driver's test file calls hypervisorContract(name, make) with a factory for a fresh host.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DriverListedVm, DriverVmSpec, HypervisorDriver } from "../../src/drivers/driver.ts";

/** The VM programs a contract host must be able to run (how is the driver's business). */
export type ContractVmKind =
  /** Runs until stopped. */
  | "runs"
  /** Runs until stopped, with child processes (a kill must take them too). */
  | "group"
  /** Sends guest heartbeats for about 1.5 s after it runs, then none; it keeps running. */
  | "heartbeatsThenHangs"
  /** Runs and ignores a shutdown request. */
  | "ignoresShutdown"
  /** Runs for about 0.5 s after its start succeeded, then its main process exits (a guest crash). */
  | "exitsSoon"
  /** Exits within 0.1 s: the start fails. */
  | "exitsAtOnce"
  /** Its program does not exist: the start fails. */
  | "missingBinary";

export interface ContractHost {
  driver: HypervisorDriver;
  /** The clock the driver was given. */
  now(): number;
  vm(name: string, kind: ContractVmKind): DriverVmSpec;
  /** Closes `driver` and returns (and makes `driver`) a new instance on the same host: an agent restart. */
  reopen(): Promise<HypervisorDriver>;
  /** Captures the VM's processes now; the result counts those still alive. Absent: not processes. */
  processCount?(vm: string): () => Promise<number>;
  /** A second host of the same fabric, when the driver migrates live. */
  migrationTarget?: { name: string; driver: HypervisorDriver };
  /** Kills whatever the test left and releases the host. */
  cleanup(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function one(driver: HypervisorDriver, vm: string): Promise<DriverListedVm | undefined> {
  return (await driver.list()).find((v) => v.vm === vm);
}

/** Polls `read` until `ok` holds of it or `timeoutMs` passed; returns the last value read. */
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value) || performance.now() > deadline) return value;
    await sleep(25);
  }
}

export function hypervisorContract(name: string, make: () => ContractHost | Promise<ContractHost>): void {
  const test = (title: string, body: (host: ContractHost) => Promise<void>) =>
    it(title, { timeout: 10_000 }, async () => {
      const host = await make();
      try {
        await body(host);
      } finally {
        await host.cleanup();
      }
    });

  // In order: a real driver's timings (kill within 1 s) are measured without neighbours.
  describe(`hypervisor contract: ${name}`, { concurrency: 1 }, () => {
    test("an empty host lists nothing", async ({ driver }) => {
      assert.deepEqual(await driver.list(), []);
    });

    test("a started VM is listed running with its epoch and start time", async (host) => {
      const before = host.now();
      await host.driver.start(host.vm("vm1", "runs"), 7);
      const after = host.now();
      const listed = await host.driver.list();
      assert.equal(listed.length, 1);
      const [vm] = listed;
      assert.equal(vm?.vm, "vm1");
      assert.equal(vm?.epoch, 7);
      assert.equal(vm?.state, "running");
      assert.ok(vm !== undefined && vm.startedAtMs >= before - 20 && vm.startedAtMs <= after, "startedAtMs");
      assert.equal(vm?.lastGuestHeartbeatMs, null, "no heartbeat source, no heartbeat");
    });

    test("list is sorted by name", async (host) => {
      await Promise.all(["vm-b", "vm-a", "vm-c"].map((n, i) => host.driver.start(host.vm(n, "runs"), i)));
      assert.deepEqual(
        (await host.driver.list()).map((v) => [v.vm, v.epoch]),
        [
          ["vm-a", 1],
          ["vm-b", 0],
          ["vm-c", 2],
        ],
      );
    });

    test("a second start with another epoch is refused; with the same epoch it succeeds", async (host) => {
      await host.driver.start(host.vm("vm1", "runs"), 1);
      await assert.rejects(host.driver.start(host.vm("vm1", "runs"), 2), /already present/);
      await host.driver.start(host.vm("vm1", "runs"), 1);
      assert.deepEqual(
        (await host.driver.list()).map((v) => [v.vm, v.epoch, v.state]),
        [["vm1", 1, "running"]],
      );
    });

    test("kill removes the VM within 1 s, every process of it included", async (host) => {
      await host.driver.start(host.vm("vm1", "group"), 1);
      const count = host.processCount?.("vm1");
      if (count !== undefined) assert.ok((await count()) >= 2, "the group VM runs child processes");
      const t0 = performance.now();
      await host.driver.stop("vm1", "kill");
      const listed = await host.driver.list();
      const elapsedMs = performance.now() - t0;
      assert.deepEqual(listed, []);
      assert.ok(elapsedMs < 1000, `kill took ${elapsedMs.toFixed(0)} ms`);
      if (count !== undefined) assert.equal(await count(), 0, "processes left after kill");
    });

    test("shutdown stops a VM that obeys", async (host) => {
      await host.driver.start(host.vm("vm1", "runs"), 1);
      await host.driver.stop("vm1", "shutdown");
      assert.deepEqual(await host.driver.list(), []);
    });

    test("shutdown ignored: stop rejects, the VM stays listed stopping, kill then removes it", async (host) => {
      await host.driver.start(host.vm("vm1", "ignoresShutdown"), 1);
      await assert.rejects(host.driver.stop("vm1", "shutdown"), /did not shut down/);
      assert.equal((await one(host.driver, "vm1"))?.state, "stopping");
      await host.driver.stop("vm1", "kill");
      assert.deepEqual(await host.driver.list(), []);
    });

    test("stop of an absent VM resolves; reset of one rejects", async ({ driver }) => {
      await driver.stop("nothing", "kill");
      await driver.stop("nothing", "shutdown");
      await assert.rejects(driver.reset("nothing"), /not present/);
    });

    test("reset keeps the epoch and restarts the VM (a new startedAtMs)", async (host) => {
      await host.driver.start(host.vm("vm1", "runs"), 5);
      const first = await one(host.driver, "vm1");
      await host.driver.reset("vm1");
      const second = await one(host.driver, "vm1");
      assert.equal(second?.epoch, 5);
      assert.equal(second?.state, "running");
      assert.ok(first !== undefined && second !== undefined && second.startedAtMs > first.startedAtMs);
    });

    for (const kind of ["exitsAtOnce", "missingBinary"] as const) {
      test(`a start that fails (${kind}) rejects with a reason and lists nothing`, async (host) => {
        const error = await host.driver.start(host.vm("bad", kind), 1).then(
          () => null,
          (e: unknown) => e,
        );
        assert.ok(error instanceof Error, "start must reject with an Error");
        assert.match(error.message, /^bad did not start: .+/);
        assert.deepEqual(await host.driver.list(), []);
      });
    }

    test("a VM that exits by itself disappears from the list and leaves no process", async (host) => {
      await host.driver.start(host.vm("vm1", "exitsSoon"), 1);
      assert.equal((await one(host.driver, "vm1"))?.state, "running");
      const count = host.processCount?.("vm1");
      const listed = await until(
        () => host.driver.list(),
        (l) => l.length === 0,
        3000,
      );
      assert.deepEqual(listed, []);
      // Left-over processes get SIGKILL when the exit is noticed; they die a moment later.
      if (count !== undefined) assert.equal(await until(count, (n) => n === 0, 1000), 0, "processes left");
    });

    test("guest heartbeats advance while the guest beats, then stop advancing", async (host) => {
      await host.driver.start(host.vm("vm1", "heartbeatsThenHangs"), 1);
      const read = async () => (await one(host.driver, "vm1"))?.lastGuestHeartbeatMs ?? null;
      const first = await until(read, (v) => v !== null, 2000);
      assert.notEqual(first, null, "no guest heartbeat");
      await sleep(400);
      const second = await read();
      assert.ok(second !== null && first !== null && second > first, "heartbeat did not advance");
      assert.ok(second <= host.now(), "a heartbeat from the future");
      // The guest stops beating about 1.5 s after it runs: wait until two reads agree.
      let previous: number | null = second;
      let settled: number | null = null;
      const deadline = performance.now() + 4000;
      while (settled === null && performance.now() < deadline) {
        await sleep(500);
        const now = await read();
        if (now === previous) settled = now;
        previous = now;
      }
      assert.notEqual(settled, null, "heartbeats never stopped");
      await sleep(600);
      const vm = await one(host.driver, "vm1");
      assert.equal(vm?.lastGuestHeartbeatMs, settled, "heartbeat advanced after the guest hung");
      assert.equal(vm?.state, "running", "a hung guest still runs");
    });

    test("a new driver instance adopts the running VMs with their epochs", async (host) => {
      await host.driver.start(host.vm("vm1", "runs"), 3);
      await host.driver.start(host.vm("vm2", "group"), 4);
      const before = await host.driver.list();
      const driver = await host.reopen();
      const after = await driver.list();
      assert.deepEqual(
        after.map((v) => [v.vm, v.epoch, v.state]),
        [
          ["vm1", 3, "running"],
          ["vm2", 4, "running"],
        ],
      );
      for (const [i, vm] of after.entries()) {
        const drift = Math.abs(vm.startedAtMs - (before[i]?.startedAtMs ?? Number.NaN));
        assert.ok(drift < 100, `${vm.vm} startedAtMs moved by ${drift} ms`);
      }
      const count = host.processCount?.("vm2");
      await driver.stop("vm2", "kill");
      await driver.stop("vm1", "shutdown");
      assert.deepEqual(await driver.list(), []);
      if (count !== undefined) assert.equal(await count(), 0, "processes left after kill");
    });

    test("migrate rejects when live migration is not supported, and the VM keeps running", async (host) => {
      await host.driver.start(host.vm("vm1", "runs"), 1);
      if (host.driver.capabilities().liveMigration) {
        const target = host.migrationTarget;
        assert.ok(
          target !== undefined,
          "a driver that migrates needs a migration target in its contract host",
        );
        await host.driver.migrate("vm1", target.name, 2);
        assert.deepEqual(await host.driver.list(), []);
        assert.deepEqual(
          (await target.driver.list()).map((v) => [v.vm, v.epoch, v.state]),
          [["vm1", 2, "running"]],
        );
        return;
      }
      await assert.rejects(host.driver.migrate("vm1", "elsewhere", 2), /not supported/);
      assert.deepEqual(
        (await host.driver.list()).map((v) => [v.vm, v.epoch, v.state]),
        [["vm1", 1, "running"]],
      );
    });
  });
}
