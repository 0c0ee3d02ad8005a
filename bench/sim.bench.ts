// Benchmark (not a test): simulated seconds per wall second for a 100-host, 2,000-VM cluster that
// loses a host and restarts its VMs. Goal: at least 1,000 simulated seconds per wall second.
import { defaultTiming, type HostSpec, type VmSpec } from "../src/core/cluster.ts";
import { runScenario } from "../src/sim/runner.ts";
import { defaultSimSettings, type Scenario } from "../src/sim/scenario-types.ts";

const hostCount = 100;
const vmCount = 2000;
const simulatedMs = 600_000;

function scenario(seed: number): Scenario {
  const datastores = ["ds1", "ds2"];
  const hosts: HostSpec[] = Array.from({ length: hostCount }, (_, i) => ({
    name: `h${i + 1}`,
    cpus: 64,
    memoryMiB: 262_144,
    datastores,
    bmc: true,
    faultDomain: `rack-${i % 10}`,
    tags: [],
    electionPriority: 0,
  }));
  const vms: VmSpec[] = Array.from({ length: vmCount }, (_, i) => ({
    name: `vm${i + 1}`,
    cpus: 2,
    memoryMiB: 4096,
    datastore: datastores[i % 2]!,
    ha: true,
    restartPriority: "medium",
    guestHeartbeat: false,
  }));
  const initialPlacement: Record<string, string> = {};
  vms.forEach((vm, i) => {
    initialPlacement[vm.name] = hosts[i % hostCount]!.name;
  });
  return {
    name: "bench",
    description: "100 hosts, 2000 VMs, one host crash",
    sourceName: "bench",
    seed,
    durationMs: simulatedMs,
    cluster: {
      clusterId: "bench",
      isolationResponse: "powerOff",
      admissionControl: { policy: "hostFailures", hostFailuresToTolerate: 1 },
      haTag: "",
      monitoring: { failureIntervalMs: 30_000, minUptimeMs: 120_000, maxResets: 3, resetWindowMs: 3_600_000 },
      monitoringEnabled: false,
      startCondition: "poweredOn",
      timing: defaultTiming,
      datastores,
      hosts,
      vms,
      rules: [],
    },
    sim: { ...defaultSimSettings, clockDrift: {} },
    initialPlacement,
    events: [{ kind: "crash", atMs: 60_000, index: 0, host: "h7" }],
    expectations: [],
  };
}

const started = performance.now();
const result = runScenario(scenario(1), { quiet: true });
const wallMs = performance.now() - started;
const restarted = result.timeline.filter((t) => t.event?.type === "vmStarted").length;
console.log(
  `simulator: ${hostCount} hosts, ${vmCount} VMs, ${simulatedMs / 1000} simulated s in ${(wallMs / 1000).toFixed(2)} s wall: ` +
    `${Math.round(simulatedMs / wallMs)} simulated s per wall s (goal >= 1000); ` +
    `${result.eventsProcessed} events, ${restarted} VMs restarted, ${result.violations.length} violations`,
);
