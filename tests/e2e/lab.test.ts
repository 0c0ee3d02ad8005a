// End to end on the lab (root only): real namespaces, agents, keepers, process-driver VMs and
// ipmi_sim BMCs, fast timing profile. Each test injects one fault, checks where every VM ends up, and
// an independent observer polling every namespace's processes every 100 ms asserts no VM ran twice.
import assert from "node:assert/strict";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as lab from "../../src/lab/lab.ts";
import { DoubleRunObserver, sleep, takeLabLock, waitFor } from "./helpers.ts";
import { allPlaced, masterOf, placement } from "./lab-helpers.ts";

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

/** The slave with the most VMs (after a failure its VMs stay where they went: there is no failback). */
async function busiestSlave(state: lab.LabState): Promise<string> {
  const master = await waitFor("one master", () => masterOf(state), 20_000);
  let best = "";
  let count = -1;
  for (const h of state.hosts) {
    if (h.name === master) continue;
    const n = (await lab.vmsRunningOn(h.name)).length;
    if (n > count) {
      best = h.name;
      count = n;
    }
  }
  return best;
}

/** A lab with its double-run observer, once every VM runs once. */
let releaseLock: () => void = () => {};

async function startLab(
  prefix: string,
  options: Omit<lab.UpOptions, "dir">,
): Promise<{ state: lab.LabState; observer: DoubleRunObserver }> {
  releaseLock = await takeLabLock();
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const state = await lab.up({ dir, ...options }, () => {});
  const observer = new DoubleRunObserver(() => placement(state));
  observer.start();
  await waitFor("every VM running once", () => allPlaced(state), 60_000, 250);
  return { state, observer };
}

async function stopLab(
  state: lab.LabState | undefined,
  observer: DoubleRunObserver | undefined,
): Promise<void> {
  observer?.stop();
  if (state !== undefined) await lab.down(state.dir, () => {});
  releaseLock();
}

describe("lab: 3 hosts, 9 VMs, fast profile", {
  skip: isRoot ? false : "needs root (network namespaces)",
  timeout: 600_000,
}, () => {
  let state: lab.LabState;
  let observer: DoubleRunObserver;

  before(async () => {
    ({ state, observer } = await startLab("vigil-lab-test-", {
      hosts: 3,
      vms: 9,
      datastores: 2,
      bmc: true,
      fast: true,
    }));
  });

  after(() => stopLab(state, observer));

  /** Heals everything and powers every host on, then waits until the cluster is whole again. */
  async function restore(): Promise<void> {
    await lab.heal(state, null);
    for (const h of state.hosts) await lab.power(state, h.name, true);
    for (const h of state.hosts) await lab.agentStart(state, h.name);
    await waitFor(
      "one master, every VM once",
      async () => (await masterOf(state)) !== null && (await allPlaced(state)),
      60_000,
      250,
    );
  }

  it("slave crash: its VMs are fenced over IPMI and restarted elsewhere", async () => {
    const victim = await busiestSlave(state);
    const had = await lab.vmsRunningOn(victim);
    assert.ok(had.length > 0, `${victim} runs VMs`);
    await lab.crash(state, victim);
    const p = await waitFor("the victim's VMs elsewhere", () => allPlaced(state, [victim]), 30_000);
    for (const vm of had) assert.notEqual(p.get(vm)?.[0], victim);
    assert.deepEqual(observer.violations, []);
    await restore();
  });

  it("master crash: a new master fences it and restarts its VMs", async () => {
    const master = (await masterOf(state))!;
    await lab.crash(state, master);
    await waitFor(
      "another master",
      async () => {
        const m = await masterOf(state);
        return m !== null && m !== master ? m : null;
      },
      20_000,
    );
    await waitFor("the old master's VMs elsewhere", () => allPlaced(state, [master]), 30_000);
    assert.deepEqual(observer.violations, []);
    await restore();
  });

  for (const response of ["powerOff", "shutdown"] as const) {
    it(`isolation with ${response}: the isolated host stops its VMs and they restart elsewhere`, async () => {
      state = await lab.setIsolationResponse(state, response);
      await waitFor("one master", () => masterOf(state), 20_000);
      const victim = await busiestSlave(state);
      assert.ok((await lab.vmsRunningOn(victim)).length > 0, `${victim} runs VMs`);
      await lab.isolate(state, victim);
      await waitFor("the isolated host's VMs elsewhere", () => allPlaced(state, [victim]), 40_000);
      assert.deepEqual(observer.violations, []);
      await restore();
    });
  }

  it("isolation with leaveOn: the isolated host keeps its VMs and nothing restarts", async () => {
    state = await lab.setIsolationResponse(state, "leaveOn");
    await waitFor("one master", () => masterOf(state), 20_000);
    const victim = await busiestSlave(state);
    const before = await placement(state);
    await lab.isolate(state, victim);
    await sleep(10_000);
    assert.deepEqual(await placement(state), before, "no VM moved or stopped");
    assert.deepEqual(observer.violations, []);
    await restore();
    state = await lab.setIsolationResponse(state, "powerOff");
  });

  it("a 2|1 partition moves nothing and heals to one master", async () => {
    await waitFor("one master", () => masterOf(state), 20_000);
    const before = await placement(state);
    const names = state.hosts.map((h) => h.name);
    await lab.partition(state, [names.slice(0, 2), names.slice(2)]);
    await sleep(8000);
    const statuses = await lab.status(state);
    assert.equal(statuses.filter((h) => h.role === "master").length, 2, "each side has its master");
    assert.deepEqual(await placement(state), before, "no VM moved during the partition");
    await lab.heal(state, null);
    await waitFor("one master", () => masterOf(state), 20_000);
    assert.deepEqual(await placement(state), before);
    assert.deepEqual(observer.violations, []);
  });

  it("storage cut on one host: its VMs on that datastore are killed and restarted elsewhere", async () => {
    const victim = await busiestSlave(state);
    await lab.storageCut(state, victim, []);
    await waitFor("the cut host's VMs elsewhere", () => allPlaced(state, [victim]), 40_000);
    assert.deepEqual(observer.violations, []);
    await restore();
  });

  it("agent kill: VMs keep running, nothing starts twice", async () => {
    const victim = await busiestSlave(state);
    const before = await placement(state);
    await lab.agentKill(state, victim);
    await sleep(8000);
    assert.deepEqual(await placement(state), before, "no VM moved while the agent was dead");
    await lab.agentStart(state, victim);
    await sleep(3000);
    assert.deepEqual(await placement(state), before);
    assert.deepEqual(observer.violations, []);
  });

  it("BMC failure then crash: the lease path restarts the VMs", async () => {
    const victim = await busiestSlave(state);
    await lab.bmcFail(state, victim, true);
    await lab.crash(state, victim);
    await waitFor("the victim's VMs elsewhere by lease expiry", () => allPlaced(state, [victim]), 60_000);
    assert.deepEqual(observer.violations, []);
    await restore();
  });
});

describe("lab without BMCs: lease path only", {
  skip: isRoot ? false : "needs root (network namespaces)",
  timeout: 300_000,
}, () => {
  let state: lab.LabState;
  let observer: DoubleRunObserver;

  before(async () => {
    ({ state, observer } = await startLab("vigil-lab-nobmc-", {
      hosts: 3,
      vms: 6,
      datastores: 2,
      bmc: false,
      fast: true,
    }));
  });

  after(() => stopLab(state, observer));

  it("a crashed host's VMs restart elsewhere once its leases expire", async () => {
    const victim = await busiestSlave(state);
    await lab.crash(state, victim);
    await waitFor("the victim's VMs elsewhere", () => allPlaced(state, [victim]), 40_000);
    const logs = async () =>
      (
        await Promise.all(
          state.hosts.map((h) => readFile(join(lab.hostDir(state, h.name), "agent.log"), "utf8")),
        )
      ).join("\n");
    await waitFor(
      "a restart by lease expiry in the logs",
      async () => /"proof":"leaseExpired"/.test(await logs()),
      10_000,
    );
    assert.doesNotMatch(await logs(), /"fenceSucceeded"/);
    assert.deepEqual(observer.violations, []);
  });
});
