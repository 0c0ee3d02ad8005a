// The engine's per-tick caches (docs/performance.md, "Simulator") must never show anything but what a
// fresh computation would: after every simulated step of fuzzed runs, each agent's cached VM lists
// and its "nothing to do" verdict are checked against its local VMs.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AgentState } from "../../src/core/agent-state.ts";
import type { VmEpoch } from "../../src/core/records.ts";
import { fuzzScenario } from "../../src/sim/fuzz.ts";
import { runScenario } from "../../src/sim/runner.ts";
import type { World } from "../../src/sim/world.ts";

function freshHeartbeatList(state: AgentState): VmEpoch[] {
  const vms: VmEpoch[] = [];
  for (const [name, vm] of state.local) {
    if (vm.state === "down") continue;
    const entry: VmEpoch = { vm: name, epoch: vm.epoch };
    if (vm.state === "starting") entry.starting = true;
    if (vm.lastGuestHeartbeatMs !== null) entry.guestOk = true;
    vms.push(entry);
  }
  return vms;
}

function auditAgent(state: AgentState, atMs: number): void {
  const where = `${state.self} at ${atMs} ms`;
  const fresh = freshHeartbeatList(state);
  if (state.vmLists.heartbeatVersion === state.localVersion) {
    assert.deepEqual(state.vmLists.heartbeat, fresh, `stale heartbeat list on ${where}`);
  }
  if (state.vmLists.keeperVersion === state.localVersion) {
    const keeper = fresh.map((v) => ({ vm: v.vm, epoch: v.epoch }));
    assert.deepEqual(state.vmLists.keeper, keeper, `stale keeper list on ${where}`);
  }
  if (state.quietLocalVersion === state.localVersion) {
    for (const [name, vm] of state.local) {
      assert.ok(vm.state === "running" && vm.localRestarts === 0, `${name} not quiet on ${where}`);
    }
  }
}

/** Audits every agent after every step: the runner pops the queue once per step. */
function auditEveryStep(world: World): void {
  const pop = world.queue.pop.bind(world.queue);
  world.queue.pop = () => {
    for (const host of world.hosts.values()) if (host.agent !== null) auditAgent(host.agent, world.nowMs);
    return pop();
  };
}

describe("engine caches", () => {
  it("match a fresh computation after every step of fuzzed runs", () => {
    for (let seed = 1; seed <= 12; seed++) {
      const scenario = fuzzScenario(seed, { hosts: 5, vms: 30, durationMs: 60_000 });
      const result = runScenario(scenario, { quiet: true, prepare: auditEveryStep });
      assert.deepEqual(result.violations, [], `seed ${seed}`);
    }
  });
});
