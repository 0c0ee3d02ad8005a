// Runs one scenario: builds the world, starts every host, plays the events, runs the checkers on
// every step and judges the expectations.
import type { AgentOptions } from "../core/agent-state.ts";
import { recordFormatVersion } from "../core/records.ts";
import { attachCheckers, type Violation } from "./checkers.ts";
import { type ExpectationResult, ExpectationTracker } from "./expect.ts";
import { applyEvent } from "./faults.ts";
import type { Scenario } from "./scenario-types.ts";
import { type TimelineEntry, World } from "./world.ts";

/** Runs go on this long past the last event or expectation when the scenario sets no duration. */
export const runMarginMs = 30_000;

export interface RunOptions {
  agentOptions?: AgentOptions;
  /** Keep only safety-relevant timeline entries (for fuzzing and benchmarks). */
  quiet?: boolean;
  /** Stop at the first violation. */
  stopOnViolation?: boolean;
  /** Called once the world exists, before the run (the fuzzer adds its own faults here). */
  prepare?: (world: World) => void;
  durationMs?: number;
}

export interface RunResult {
  scenario: string;
  seed: number;
  endMs: number;
  ok: boolean;
  expectations: ExpectationResult[];
  violations: Violation[];
  timeline: TimelineEntry[];
  eventsProcessed: number;
  world: World;
}

export function scenarioDurationMs(scenario: Scenario): number {
  if (scenario.durationMs !== undefined) return scenario.durationMs;
  let last = 0;
  for (const e of scenario.events) last = Math.max(last, e.atMs);
  for (const e of scenario.expectations) {
    if (e.kind === "at") last = Math.max(last, e.atMs);
    if (e.kind === "by") last = Math.max(last, e.byMs);
    if (e.kind === "event" && e.byMs !== undefined) last = Math.max(last, e.byMs);
  }
  return last + runMarginMs;
}

/** Builds the world at time 0: hosts powered on, initial VMs running under lease epoch 1. */
export function buildWorld(scenario: Scenario, options: RunOptions = {}): World {
  const world = new World(scenario.cluster, scenario.sim, scenario.seed, options.agentOptions ?? {});
  world.recordTimeline = options.quiet !== true;
  for (const vm of scenario.cluster.vms) {
    const host = scenario.initialPlacement[vm.name];
    if (host === null || host === undefined) continue;
    const copy = world.addCopy(host, vm, 1, "running");
    copy.startedAtMs = -3_600_000;
    const ds = world.datastores.get(vm.datastore)!;
    ds.leases.set(
      vm.name,
      new Map([
        [1, { v: recordFormatVersion, vm: vm.name, epoch: 1, holder: host, proof: "initialPowerOn" }],
      ]),
    );
  }
  for (const host of scenario.cluster.hosts) world.powerOnHost(host.name, true);
  return world;
}

export function runScenario(scenario: Scenario, options: RunOptions = {}): RunResult {
  const world = buildWorld(scenario, options);
  const violations: Violation[] = [];
  attachCheckers(world, violations);
  for (const event of scenario.events) world.queue.push(event.atMs, () => applyEvent(world, event));
  const tracker = new ExpectationTracker(world, scenario.expectations);
  options.prepare?.(world);
  const endMs = options.durationMs ?? scenarioDurationMs(scenario);
  let processed = 0;
  const watchConditions = scenario.expectations.some((e) => e.kind === "by" || e.kind === "always");
  while (world.queue.peekTime() <= endMs) {
    const item = world.queue.pop()!;
    world.nowMs = item.atMs;
    item.run();
    processed += 1;
    if (watchConditions) tracker.afterStep();
    if (options.stopOnViolation === true && violations.length > 0) break;
  }
  world.nowMs = Math.max(world.nowMs, endMs);
  const expectations = tracker.finish(world.timeline, endMs);
  return {
    scenario: scenario.name,
    seed: scenario.seed,
    endMs,
    ok: violations.length === 0 && expectations.every((e) => e.ok),
    expectations,
    violations,
    timeline: world.timeline,
    eventsProcessed: processed,
    world,
  };
}
