// Swarm fuzzing in the style of TigerBeetle's VOPR: each seed draws a cluster and a random mix of
// faults (a safety phase), then heals everything and checks that every protected VM runs again
// within the liveness bound (a liveness phase). One seed reproduces one run exactly.
import type { AgentOptions } from "../core/agent-state.ts";
import { type ClusterSpec, defaultTiming, type HostSpec, type VmSpec } from "../core/cluster.ts";
import type { Violation } from "./checkers.ts";
import { runningHosts } from "./observe.ts";
import { Rng } from "./rng.ts";
import { runScenario } from "./runner.ts";
import { defaultSimSettings, type Scenario, type ScenarioEvent } from "./scenario-types.ts";

export interface FuzzOptions {
  hosts: number;
  vms: number;
  /** Length of the fault phase. */
  durationMs: number;
  agentOptions?: AgentOptions;
}

/**
 * Once faults stop, every protected VM runs again within this bound: detection (3 s) plus
 * election (2 s) plus lease expiry (6 s) plus the restart backoff of a VM that failed to start
 * during the faults (up to 30 s) plus starts and slack.
 */
export const livenessBoundMs = 90_000;

export interface FuzzRun {
  seed: number;
  ok: boolean;
  violations: Violation[];
  eventsProcessed: number;
  simulatedMs: number;
}

export function fuzzScenario(seed: number, options: FuzzOptions): Scenario {
  const rng = new Rng(seed);
  const datastores = ["ds1", "ds2"];
  const vmsPerHost = Math.ceil(options.vms / options.hosts);
  const hosts: HostSpec[] = [];
  for (let i = 1; i <= options.hosts; i++) {
    hosts.push({
      name: `h${i}`,
      // Room for every VM on roughly half the hosts, so restarts fit while several hosts are down.
      cpus: vmsPerHost * 2 * 2 + 4,
      memoryMiB: (vmsPerHost * 2 + 2) * 2048,
      datastores,
      bmc: rng.chance(0.8),
      faultDomain: `rack-${i % 3}`,
      tags: [],
      electionPriority: 0,
    });
  }
  const vms: VmSpec[] = [];
  const initialPlacement: Record<string, string | null> = {};
  const priorities = ["highest", "high", "medium", "low", "lowest"] as const;
  for (let i = 1; i <= options.vms; i++) {
    const name = `vm${i}`;
    vms.push({
      name,
      cpus: rng.int(1, 2),
      memoryMiB: 2048,
      datastore: rng.pick(datastores),
      ha: rng.chance(0.9),
      restartPriority: rng.pick(priorities),
      guestHeartbeat: rng.chance(0.3),
    });
    initialPlacement[name] = hosts[(i - 1) % options.hosts]!.name;
  }
  const isolationResponse = rng.pick(["leaveOn", "powerOff", "shutdown"] as const);
  const cluster: ClusterSpec = {
    clusterId: "fuzz",
    isolationResponse,
    admissionControl: { policy: "disabled" },
    haTag: "",
    monitoring: { failureIntervalMs: 30_000, minUptimeMs: 60_000, maxResets: 3, resetWindowMs: 3_600_000 },
    monitoringEnabled: rng.chance(0.5),
    startCondition: "poweredOn",
    timing: { ...defaultTiming, shutdownTimeoutMs: 5000 },
    datastores,
    hosts,
    vms,
    rules: [],
  };
  const clockDrift: Record<string, number> = {};
  for (const h of hosts) clockDrift[h.name] = (rng.next() * 2 - 1) * 0.009;
  const events: ScenarioEvent[] = [];
  const faultCount = rng.int(2, 12);
  for (let i = 0; i < faultCount; i++) {
    const atMs = rng.int(5_000, options.durationMs);
    events.push(randomFault(rng, atMs, hosts, vms));
  }
  const healAt = options.durationMs + 1;
  events.push({ kind: "heal", atMs: healAt, index: events.length, host: "all" });
  for (const h of hosts) {
    events.push({ kind: "powerOn", atMs: healAt, index: events.length, host: h.name });
    events.push({ kind: "agentStart", atMs: healAt, index: events.length, host: h.name });
    events.push({ kind: "maintenance", atMs: healAt, index: events.length, host: h.name, enable: false });
  }
  events.sort((a, b) => a.atMs - b.atMs || a.index - b.index);
  return {
    name: `fuzz seed ${seed}`,
    description: "random faults, then heal and check liveness",
    sourceName: `fuzz:${seed}`,
    seed,
    durationMs: healAt + livenessBoundMs,
    cluster,
    sim: {
      ...defaultSimSettings,
      networkLossPercent: rng.chance(0.3) ? rng.int(1, 5) : 0,
      storageLatencyMs: rng.int(1, 50),
      clockDrift,
    },
    initialPlacement,
    events,
    expectations: [],
  };
}

function randomFault(rng: Rng, atMs: number, hosts: HostSpec[], vms: VmSpec[]): ScenarioEvent {
  const host = rng.pick(hosts).name;
  const index = 0;
  switch (rng.int(0, 14)) {
    case 0:
    case 1:
      return { kind: "crash", atMs, index, host };
    case 2:
      return { kind: "powerOn", atMs, index, host };
    case 3:
      return { kind: "isolate", atMs, index, host };
    case 4: {
      const offset = rng.int(0, hosts.length - 1);
      const rotated = hosts.map((_, i) => hosts[(i + offset) % hosts.length]!.name);
      const cut = rng.int(1, Math.max(1, rotated.length - 1));
      return { kind: "partition", atMs, index, groups: [rotated.slice(0, cut), rotated.slice(cut)] };
    }
    case 5:
      return { kind: "storageLoss", atMs, index, host, datastores: rng.chance(0.5) ? ["ds1"] : [] };
    case 6:
      return { kind: "vmCrash", atMs, index, vm: rng.pick(vms).name };
    case 7:
      return { kind: "guestHang", atMs, index, vm: rng.pick(vms).name };
    case 8:
      return { kind: "agentCrash", atMs, index, host };
    case 9:
      return { kind: "agentStart", atMs, index, host };
    case 10:
      return { kind: "bmcFail", atMs, index, host };
    case 11:
      return { kind: "pause", atMs, index, host, forMs: rng.int(500, 15_000) };
    case 12:
      return { kind: "vmStartFailures", atMs, index, host, count: rng.int(1, 3) };
    case 13:
      return { kind: "migrate", atMs, index, vm: rng.pick(vms).name, to: host };
    default:
      return { kind: "heal", atMs, index, host };
  }
}

export function runFuzzSeed(seed: number, options: FuzzOptions): FuzzRun {
  const scenario = fuzzScenario(seed, options);
  const result = runScenario(scenario, {
    quiet: true,
    stopOnViolation: true,
    // Moves go the cold way (a clean stop, then a restart with a proof), as with the process
    // driver, the only real one so far. Live migration onto a host whose processes then pause can
    // leave a copy there after its lease expires (seed 197 with live migration): the target takes
    // no part in the move. To be solved with the QEMU driver, which migrates live.
    agentOptions: { liveMigration: false, ...options.agentOptions },
  });
  const violations = [...result.violations];
  if (violations.length === 0) {
    const world = result.world;
    for (const vm of world.spec.vms) {
      if (!vm.ha || vm.restartPriority === "disabled") continue;
      const ds = world.datastores.get(vm.datastore)!;
      if (!ds.leases.has(vm.name)) continue;
      if (runningHosts(world, vm.name).length === 0) {
        violations.push({
          atMs: result.endMs,
          checker: "liveness",
          message: `${vm.name} is not running ${livenessBoundMs} ms after the faults stopped`,
        });
      }
    }
  }
  return {
    seed,
    ok: violations.length === 0,
    violations,
    eventsProcessed: result.eventsProcessed,
    simulatedMs: result.endMs,
  };
}
