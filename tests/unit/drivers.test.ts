// Runs the hypervisor contract against the process driver and the simulated driver, plus what only
// the process driver has: log files, probe and HTTP heartbeats, cgroup limits, refusing foreign pids.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { VmSpec } from "../../src/core/cluster.ts";
import type { DriverVmSpec } from "../../src/drivers/driver.ts";
import { bootId, groupMembers, isLive, readStat } from "../../src/drivers/process/proc.ts";
import { ProcessDriver, type ProcessDriverOptions } from "../../src/drivers/process/process-driver.ts";
import { SimDriver, SimHypervisorHost, type SimVmBehaviour } from "../../src/drivers/sim/sim-driver.ts";
import {
  type ContractHost,
  type ContractVmKind,
  hypervisorContract,
} from "../contract/hypervisor.contract.ts";

const root = mkdtempSync(join(tmpdir(), "vigil-drivers-"));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => {
  const dir = join(root, `d${dirs++}`);
  mkdirSync(dir);
  return dir;
};
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function base(name: string): VmSpec {
  return {
    name,
    cpus: 1,
    memoryMiB: 64,
    datastore: "ds1",
    ha: true,
    restartPriority: "medium",
    guestHeartbeat: false,
  };
}

function processVm(dir: string, name: string, kind: ContractVmKind): DriverVmSpec {
  const sh = (script: string): DriverVmSpec => ({ ...base(name), command: ["sh", "-c", script] });
  switch (kind) {
    case "runs":
      return { ...base(name), command: ["sleep", "1000"] };
    case "group":
      return sh("sleep 1000 & sleep 1000 & wait");
    case "heartbeatsThenHangs": {
      const file = join(dir, `${name}.hb`);
      return {
        ...sh('i=0; while [ $i -lt 8 ]; do touch "$HB"; sleep 0.2; i=$((i+1)); done; exec sleep 1000'),
        env: { HB: file },
        guestHeartbeat: true,
        guestHeartbeatProbe: { file },
      };
    }
    case "ignoresShutdown":
      return sh("trap '' TERM; while :; do sleep 0.1; done");
    case "exitsSoon":
      return sh("sleep 1000 & sleep 0.8; exit 3");
    case "exitsAtOnce":
      return sh("sleep 0.1; echo boom >&2; exit 3");
    case "missingBinary":
      return { ...base(name), command: ["/nonexistent/vigil-no-such-program"] };
  }
}

const processOptions = (stateDir: string): ProcessDriverOptions => ({
  stateDir,
  startGraceMs: 250,
  shutdownWaitMs: 400,
  pollIntervalMs: 100,
  cgroupRoot: null,
});

function processHost(): ContractHost {
  const stateDir = freshDir();
  let driver = new ProcessDriver(processOptions(stateDir));
  const host: ContractHost = {
    driver,
    now: () => performance.now(),
    vm: (name, kind) => processVm(stateDir, name, kind),
    reopen: async () => {
      await driver.close();
      driver = new ProcessDriver(processOptions(stateDir));
      host.driver = driver;
      return driver;
    },
    processCount: (vm) => {
      const pgid = driver.pidOf(vm);
      assert.ok(pgid !== null, `${vm} has no pid`);
      return async () => (await groupMembers(pgid)).length;
    },
    cleanup: async () => {
      await driver.close();
      const sweeper = new ProcessDriver(processOptions(stateDir));
      for (const vm of await sweeper.list()) await sweeper.stop(vm.vm, "kill");
      await sweeper.close();
    },
  };
  return host;
}

const simBehaviours: Record<ContractVmKind, SimVmBehaviour> = {
  runs: {},
  group: {},
  heartbeatsThenHangs: { hangAfterMs: 1500 },
  ignoresShutdown: { hangAfterMs: 0 },
  exitsSoon: { exitAfterMs: 500 },
  exitsAtOnce: { failStart: "exited at once (exit code 3)" },
  missingBinary: { failStart: "cannot run /nonexistent/vigil-no-such-program" },
};

function simHost(withFabric: boolean): ContractHost {
  const kinds = new Map<string, ContractVmKind>();
  const a = new SimHypervisorHost("a");
  const b = new SimHypervisorHost("b");
  const fabric = withFabric ? new Map([a, b].map((h) => [h.name, h])) : undefined;
  const make = (host: SimHypervisorHost) =>
    new SimDriver({
      host,
      startDelayMs: 100,
      stopDelayMs: 100,
      killDelayMs: 100,
      shutdownWaitMs: 400,
      migrateDelayMs: 100,
      behaviour: (vm) => simBehaviours[kinds.get(vm) ?? "runs"],
      ...(fabric === undefined ? {} : { fabric }),
    });
  const contract: ContractHost = {
    driver: make(a),
    now: () => performance.now(),
    vm: (name, kind) => {
      kinds.set(name, kind);
      return { ...base(name), command: [kind], guestHeartbeat: kind === "heartbeatsThenHangs" };
    },
    reopen: async () => {
      await contract.driver.close();
      contract.driver = make(a);
      return contract.driver;
    },
    ...(withFabric ? { migrationTarget: { name: "b", driver: make(b) } } : {}),
    cleanup: async () => {},
  };
  return contract;
}

// The suites run side by side (each one's tests in order): most of their time is waiting.
describe("hypervisor drivers", { concurrency: true }, () => {
  hypervisorContract("ProcessDriver", processHost);
  hypervisorContract("SimDriver", () => simHost(false));
  hypervisorContract("SimDriver with live migration", () => simHost(true));

  describe("ProcessDriver specifics", { concurrency: 1 }, () => {
    const withDriver = (
      title: string,
      options: Partial<ProcessDriverOptions>,
      body: (d: ProcessDriver, dir: string) => Promise<void>,
    ) =>
      it(title, { timeout: 10_000 }, async () => {
        const dir = freshDir();
        const driver = new ProcessDriver({ ...processOptions(dir), ...options });
        try {
          await body(driver, dir);
        } finally {
          for (const vm of await driver.list()) await driver.stop(vm.vm, "kill");
          await driver.close();
        }
      });

    withDriver(
      "a failed start says why (exit code and the program's last words)",
      {},
      async (driver, dir) => {
        await assert.rejects(driver.start(processVm(dir, "bad", "exitsAtOnce"), 1), /exit code 3.*boom/);
        await assert.rejects(driver.start(processVm(dir, "gone", "missingBinary"), 1), /ENOENT/);
      },
    );

    withDriver("stdout and stderr go to the VM's log; env reaches the program", {}, async (driver, dir) => {
      const spec = {
        ...base("vm1"),
        command: ["sh", "-c", 'echo "out $GREETING"; echo err >&2; exec sleep 1000'],
      };
      await driver.start({ ...spec, env: { GREETING: "hello" } }, 1);
      const log = readFileSync(join(dir, "vm1.log"), "utf8");
      assert.match(log, /vigil: start vm1 epoch 1/);
      assert.match(log, /out hello\nerr\n/);
    });

    withDriver("probe-command guest heartbeat and HTTP application heartbeat", {}, async (driver, dir) => {
      let status = 200;
      const server = createServer((_req, res) => res.writeHead(status).end());
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      try {
        const port = (server.address() as AddressInfo).port;
        const flag = join(dir, "alive");
        writeFileSync(flag, "");
        await driver.start(
          {
            ...base("vm1"),
            command: ["sleep", "1000"],
            guestHeartbeatProbe: { command: ["test", "-e", flag] },
            appHeartbeatProbe: { url: `http://127.0.0.1:${port}/health` },
          },
          1,
        );
        await sleep(400);
        const one = (await driver.list())[0];
        assert.ok(
          one?.lastGuestHeartbeatMs != null && one.lastAppHeartbeatMs != null,
          "both heartbeats seen",
        );
        unlinkSync(flag);
        status = 500;
        await sleep(300); // let probes in flight finish
        const two = (await driver.list())[0];
        await sleep(500);
        const three = (await driver.list())[0];
        assert.equal(three?.lastGuestHeartbeatMs, two?.lastGuestHeartbeatMs, "guest probe failing");
        assert.equal(three?.lastAppHeartbeatMs, two?.lastAppHeartbeatMs, "HTTP 500 is no heartbeat");
      } finally {
        server.close();
      }
    });

    withDriver("bad specs are refused before anything runs", {}, async (driver) => {
      const spec = { ...base("vm1"), command: ["sleep", "1000"] };
      await assert.rejects(
        driver.start({ ...spec, guestHeartbeatProbe: { url: "http://10.0.0.1/health" } }, 1),
        /not http on a loopback address/,
      );
      await assert.rejects(driver.start({ ...spec, name: "../etc" }, 1), /name must match/);
      await assert.rejects(driver.start({ ...spec, command: [] }, 1), /empty command/);
      assert.deepEqual(await driver.list(), []);
    });

    it("cgroup v2: limits written and the VM placed in vigil/<vm> before it runs", {
      timeout: 10_000,
    }, async () => {
      const fake = freshDir();
      writeFileSync(join(fake, "cgroup.controllers"), "cpuset cpu io memory pids\n");
      writeFileSync(join(fake, "cgroup.subtree_control"), "");
      const dir = freshDir();
      const driver = new ProcessDriver({ ...processOptions(dir), cgroupRoot: fake });
      try {
        assert.equal(driver.capabilities().cgroups, true, driver.capabilities().cgroupsReason);
        await driver.start({ ...base("vm1"), cpus: 2, memoryMiB: 128, command: ["sleep", "1000"] }, 1);
        const cg = join(fake, "vigil", "vm1");
        assert.equal(readFileSync(join(cg, "cpu.max"), "utf8"), "200000 100000");
        assert.equal(readFileSync(join(cg, "memory.max"), "utf8"), String(128 * 1024 * 1024));
        assert.equal(readFileSync(join(cg, "cgroup.procs"), "utf8").trim(), String(driver.pidOf("vm1")));
        assert.equal(readFileSync(join(fake, "cgroup.subtree_control"), "utf8"), "+cpu +memory");
        assert.equal((await driver.list())[0]?.state, "running", "exec'd into the command");
        await driver.stop("vm1", "kill");
      } finally {
        await driver.close();
      }
      writeFileSync(join(fake, "cgroup.controllers"), "cpu pids\n");
      const without = new ProcessDriver({ ...processOptions(freshDir()), cgroupRoot: fake });
      assert.equal(without.capabilities().cgroups, false);
      assert.match(without.capabilities().cgroupsReason, /lacks the memory controller/);
      await without.close();
    });

    it("adoption refuses a recorded pid that is not ours, and leaves that process alone", async () => {
      const stranger = spawn("sleep", ["1000"], { stdio: "ignore", detached: true });
      const pid = stranger.pid!;
      try {
        const dir = freshDir();
        const record = {
          version: 1,
          vm: "ghost",
          epoch: 9,
          pid,
          startTicks: (readStat(pid)?.startTicks ?? 0) + 1, // same pid, another process
          bootId: bootId(),
          startedAtWallMs: Date.now(),
          cgroup: null,
          spec: { ...base("ghost"), command: ["sleep", "1000"] },
        };
        writeFileSync(join(dir, "ghost.json"), JSON.stringify(record));
        const driver = new ProcessDriver(processOptions(dir));
        assert.deepEqual(await driver.list(), []);
        await driver.stop("ghost", "kill");
        await driver.close();
        assert.equal(existsSync(join(dir, "ghost.json")), false, "stale record removed");
        const stat = readStat(pid);
        assert.ok(stat !== null && isLive(stat), "the stranger was left alone");
      } finally {
        stranger.kill("SIGKILL");
      }
    });
  });
});
