// Scenario files are a public format: these tests pin what a valid file parses into, and that each
// kind of mistake is refused at the right path with a message naming the problem.

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { type Document, parseDocument } from "yaml";
import {
  defaultTiming,
  fastTiming,
  type HostSpec,
  monitoringPresets,
  type VmSpec,
} from "../../src/core/cluster.ts";
import { checkTiming } from "../../src/core/timing-check.ts";
import { formatDuration, parseDuration } from "../../src/sim/duration.ts";
import { loadScenarioFile, parseScenario, ScenarioError } from "../../src/sim/scenario.ts";
import type { Scenario } from "../../src/sim/scenario-types.ts";

const FULL = `name: host crash restarts its VMs elsewhere
description: h1 crashes; its VMs restart on h2 and h3
seed: 7
duration: 120s
cluster:
  isolationResponse: shutdown
  admissionControl: { policy: hostFailures, hostFailuresToTolerate: 1 }
  haTag: ha_host
  timing: { heartbeatIntervalMs: 500, shutdownTimeoutMs: 5s }
  monitoring: custom
  monitoringCustom: { failureIntervalMs: 30s, minUptimeMs: 2m, maxResets: 3, resetWindowMs: 1h }
  startCondition: guestHeartbeat
datastores: [ds1, ds2]
hosts:
  - { name: h1, cpus: 16, memoryMiB: 65536, datastores: [ds1, ds2], bmc: true, faultDomain: rack-a, tags: [ha_host], electionPriority: 2 }
  - { name: h2, cpus: 16, memoryMiB: 65536 }
  - { name: h3, cpus: 8, memoryMiB: 32768, datastores: [ds1], bmc: false }
vms:
  - { name: web1, host: h1, cpus: 2, memoryMiB: 4096, datastore: ds1, ha: true, restartPriority: high, guestHeartbeat: true }
  - { name: web2, host: h2, cpus: 2, memoryMiB: 4096 }
  - { name: db1, host: h2, cpus: 4, memoryMiB: 8192, datastore: ds2 }
  - { name: app1, cpus: 1, memoryMiB: 1024, ha: false }
rules:
  - { type: vmAntiAffinity, vms: [web1, web2] }
  - { type: vmHostAffinity, vms: [db1], hosts: [h1, h2], strict: true }
  - { type: startAfter, vm: app1, after: [db1] }
sim:
  networkLatencyMs: 2ms
  networkLossPercent: 1.5
  vmStartMs: 1.5s
  clockDrift: { h1: 0.005 }
events:
  - { at: 30s, crash: h1 }
  - { at: 40s, partition: [[h2], [h3]] }
  - { at: 50s, heal: all }
  - { at: 55s, powerOnVm: { name: x, cpus: 2, memoryMiB: 2048 } }
  - { at: 5s, addHost: { name: h9, cpus: 16, memoryMiB: 65536 } }
  - { at: 60s, pause: { host: h9, for: 5s } }
  - { at: 61s, vmCrash: x }
  - { at: 62s, storageLoss: { host: h3 } }
  - { at: 63s, maintenance: { host: h2, enable: false } }
  - { at: 64s, vmStartFailures: { host: h2, count: 2 } }
expect:
  - { at: 45s, vm: web1, state: running, notOn: [h1] }
  - { by: 60s, vm: web1, on: [h2, h3] }
  - { at: 45s, host: h1, state: dead }
  - { at: 45s, master: { not: h1 } }
  - { always: { vm: db1, notOn: h1 } }
  - { event: { type: powerOnRefused, vm: x }, by: 60s, count: 1 }
  - { never: { event: { type: vmStarted, vm: x } } }
  - { order: [db1, app1], of: vmStarted }
  - { by: 1m, master: h2 }
`;

const host = (name: string, over: Partial<HostSpec> = {}): HostSpec => ({
  name,
  cpus: 16,
  memoryMiB: 65536,
  datastores: ["ds1", "ds2"],
  bmc: true,
  faultDomain: name,
  tags: [],
  electionPriority: 0,
  ...over,
});
const vm = (name: string, cpus: number, memoryMiB: number, over: Partial<VmSpec> = {}): VmSpec => ({
  name,
  cpus,
  memoryMiB,
  datastore: "ds1",
  ha: true,
  restartPriority: "medium",
  guestHeartbeat: false,
  ...over,
});

/** FULL with edits made through the YAML document (which reflows it: lines move). */
function edited(edit: (doc: Document) => void): string {
  const doc = parseDocument(FULL);
  edit(doc);
  return doc.toString();
}

function assertRejects(text: string, path: string, message: string | RegExp, line?: number): ScenarioError {
  let error: unknown;
  try {
    parseScenario(text, "test.yaml");
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof ScenarioError, `expected a ScenarioError, got ${String(error)}`);
  assert.equal(error.path, path, error.message);
  if (typeof message === "string") assert.equal(error.message, message);
  else assert.match(error.message, message);
  assert.equal(error.sourceName, "test.yaml");
  if (line !== undefined) assert.equal(error.line, line);
  return error;
}

describe("parseScenario: valid files", () => {
  test("a full scenario parses into the expected structure", () => {
    const expected: Scenario = {
      name: "host crash restarts its VMs elsewhere",
      description: "h1 crashes; its VMs restart on h2 and h3",
      sourceName: "full.yaml",
      seed: 7,
      durationMs: 120_000,
      cluster: {
        clusterId: "c1",
        isolationResponse: "shutdown",
        admissionControl: { policy: "hostFailures", hostFailuresToTolerate: 1 },
        haTag: "ha_host",
        timing: { ...defaultTiming, heartbeatIntervalMs: 500, shutdownTimeoutMs: 5000 },
        monitoring: {
          failureIntervalMs: 30_000,
          minUptimeMs: 120_000,
          maxResets: 3,
          resetWindowMs: 3_600_000,
        },
        monitoringEnabled: true,
        startCondition: "guestHeartbeat",
        datastores: ["ds1", "ds2"],
        hosts: [
          host("h1", { faultDomain: "rack-a", tags: ["ha_host"], electionPriority: 2 }),
          host("h2"),
          host("h3", { cpus: 8, memoryMiB: 32768, datastores: ["ds1"], bmc: false }),
        ],
        vms: [
          vm("web1", 2, 4096, { restartPriority: "high", guestHeartbeat: true }),
          vm("web2", 2, 4096),
          vm("db1", 4, 8192, { datastore: "ds2" }),
          vm("app1", 1, 1024, { ha: false }),
        ],
        rules: [
          { type: "vmAntiAffinity", vms: ["web1", "web2"] },
          { type: "vmHostAffinity", vms: ["db1"], hosts: ["h1", "h2"], strict: true },
          { type: "startAfter", vm: "app1", after: ["db1"] },
        ],
      },
      sim: {
        networkLatencyMs: 2,
        networkLossPercent: 1.5,
        storageLatencyMs: 2,
        vmStartMs: 1500,
        vmStopMs: 500,
        migrateMs: 3000,
        bmcActionMs: 1000,
        clockDrift: { h1: 0.005, h2: 0, h3: 0, h9: 0 },
      },
      initialPlacement: { web1: "h1", web2: "h2", db1: "h2", app1: null },
      events: [
        { kind: "addHost", atMs: 5000, index: 4, spec: host("h9") },
        { kind: "crash", atMs: 30_000, index: 0, host: "h1" },
        { kind: "partition", atMs: 40_000, index: 1, groups: [["h2"], ["h3"]] },
        { kind: "heal", atMs: 50_000, index: 2, host: "all" },
        { kind: "powerOnVm", atMs: 55_000, index: 3, spec: vm("x", 2, 2048), host: null },
        { kind: "pause", atMs: 60_000, index: 5, host: "h9", forMs: 5000 },
        { kind: "vmCrash", atMs: 61_000, index: 6, vm: "x" },
        { kind: "storageLoss", atMs: 62_000, index: 7, host: "h3", datastores: ["ds1"] },
        { kind: "maintenance", atMs: 63_000, index: 8, host: "h2", enable: false },
        { kind: "vmStartFailures", atMs: 64_000, index: 9, host: "h2", count: 2 },
      ],
      expectations: [
        {
          kind: "at",
          index: 0,
          atMs: 45_000,
          condition: { subject: "vm", vm: "web1", state: "running", notOn: ["h1"] },
        },
        { kind: "by", index: 1, byMs: 60_000, condition: { subject: "vm", vm: "web1", on: ["h2", "h3"] } },
        { kind: "at", index: 2, atMs: 45_000, condition: { subject: "host", host: "h1", state: "dead" } },
        { kind: "at", index: 3, atMs: 45_000, condition: { subject: "master", master: { notIn: ["h1"] } } },
        { kind: "always", index: 4, condition: { subject: "vm", vm: "db1", notOn: ["h1"] } },
        {
          kind: "event",
          index: 5,
          match: { type: "powerOnRefused", fields: { vm: "x" } },
          byMs: 60_000,
          count: 1,
        },
        { kind: "never", index: 6, match: { type: "vmStarted", fields: { vm: "x" } } },
        { kind: "order", index: 7, vms: ["db1", "app1"], of: "vmStarted" },
        { kind: "by", index: 8, byMs: 60_000, condition: { subject: "master", master: { in: ["h2"] } } },
      ],
    };
    assert.deepEqual(parseScenario(FULL, "full.yaml"), expected);
  });

  test("a minimal scenario gets every default", () => {
    const s = parseScenario(
      `name: minimal
datastores: [ds1, ds2]
hosts: [{ name: h1, cpus: 4, memoryMiB: 8192 }, { name: h2, cpus: 4, memoryMiB: 8192 }]
vms: [{ name: v1, cpus: 1, memoryMiB: 512, host: h1 }, { name: v2, cpus: 1, memoryMiB: 512 }]
`,
      "min.yaml",
    );
    assert.equal(s.description, "");
    assert.equal(s.seed, 1);
    assert.equal("durationMs" in s, false);
    assert.deepEqual(s.cluster.hosts[0], host("h1", { cpus: 4, memoryMiB: 8192 }));
    assert.deepEqual(s.cluster.vms[1], vm("v2", 1, 512));
    assert.deepEqual(s.initialPlacement, { v1: "h1", v2: null });
    assert.equal(s.cluster.clusterId, "c1");
    assert.equal(s.cluster.isolationResponse, "powerOff");
    assert.deepEqual(s.cluster.admissionControl, { policy: "disabled" });
    assert.equal(s.cluster.haTag, "");
    assert.deepEqual(s.cluster.timing, defaultTiming);
    assert.deepEqual(s.cluster.monitoring, monitoringPresets.medium);
    assert.equal(s.cluster.monitoringEnabled, true);
    assert.equal(s.cluster.startCondition, "poweredOn");
    assert.deepEqual(s.sim, {
      networkLatencyMs: 1,
      networkLossPercent: 0,
      storageLatencyMs: 2,
      vmStartMs: 2000,
      vmStopMs: 500,
      migrateMs: 3000,
      bmcActionMs: 1000,
      clockDrift: { h1: 0, h2: 0 },
    });
    assert.deepEqual([s.cluster.rules, s.events, s.expectations], [[], [], []]);
  });

  test("monitoring off disables monitoring; other admission policies parse", () => {
    const s = parseScenario(
      edited((d) => {
        d.setIn(["cluster", "monitoring"], "off");
        d.deleteIn(["cluster", "monitoringCustom"]);
        d.setIn(["cluster", "admissionControl"], { policy: "slots", hostFailuresToTolerate: 2, slotCpus: 2 });
      }),
      "t.yaml",
    );
    assert.equal(s.cluster.monitoringEnabled, false);
    assert.deepEqual(s.cluster.admissionControl, { policy: "slots", hostFailuresToTolerate: 2, slotCpus: 2 });
  });
});

describe("parseScenario: refusals", () => {
  test("YAML syntax errors give the line", () => {
    const text = "name: x\nseed: 7\n  nested: [\n";
    assertRejects(text, "", /^YAML syntax error at line 2, column \d+: /, 2);
    assertRejects(
      "name: a\nname: b\n",
      "",
      /^YAML syntax error at line 2, column 1: Map keys must be unique/,
      2,
    );
  });

  test("unknown top-level keys are named, with the closest valid key", () => {
    assertRejects(
      FULL.replace("\nhosts:", "\nhsots:"),
      "hsots",
      'hsots: unknown key "hsots"; did you mean "hosts"?',
      14,
    );
    assertRejects(
      FULL.replace("\nseed: 7", "\nflavour: 7"),
      "flavour",
      /unknown key "flavour"; expected one of name, /,
    );
  });

  test("unknown nested keys are named, with the closest valid key", () => {
    assertRejects(
      FULL.replace("cpus: 4, memoryMiB: 8192", "cpus: 4, memoryMib: 8192"),
      "vms[2].memoryMib",
      'vms[2].memoryMib: unknown key "memoryMib"; did you mean "memoryMiB"?',
      21,
    );
    assertRejects(
      edited((d) => d.setIn(["cluster", "timing", "heartbeatInterval"], 100)),
      "cluster.timing.heartbeatInterval",
      /did you mean "heartbeatIntervalMs"\?/,
    );
    assertRejects(
      edited((d) => d.setIn(["events", 0, "crsh"], "h1")),
      "events[0].crsh",
      /did you mean "crash"\?/,
    );
    assertRejects(
      edited((d) => d.setIn(["cluster", "admissionControl", "cpuPercent"], 10)),
      "cluster.admissionControl.cpuPercent",
      /unknown key "cpuPercent"/,
    );
  });

  test("wrong types say what was expected and what was found", () => {
    assertRejects(
      FULL.replace("memoryMiB: 8192", "memoryMiB: lots"),
      "vms[2].memoryMiB",
      'vms[2].memoryMiB: must be a positive integer, got "lots"',
      21,
    );
    assertRejects(
      edited((d) => d.setIn(["hosts", 0, "bmc"], "yes")),
      "hosts[0].bmc",
      /must be true or false, got "yes"/,
    );
    assertRejects(
      edited((d) => d.setIn(["hosts"], "h1")),
      "hosts",
      'hosts: must be a list, got "h1"',
    );
    assertRejects(
      edited((d) => d.setIn(["cluster", "isolationResponse"], "poweroff")),
      "cluster.isolationResponse",
      /must be one of leaveOn, powerOff, shutdown, got "poweroff"; did you mean "powerOff"\?/,
    );
    assertRejects(
      edited((d) => d.setIn(["sim", "networkLossPercent"], 150)),
      "sim.networkLossPercent",
      /from 0 to 100/,
    );
    assertRejects(
      edited((d) => d.deleteIn(["hosts", 1, "cpus"])),
      "hosts[1].cpus",
      /required key is missing/,
    );
    assertRejects(
      edited((d) => d.setIn(["expect", 2, "state"], "ded")),
      "expect[2].state",
      /got "ded"; did you mean "dead"\?/,
    );
    assertRejects(
      edited((d) => d.setIn(["expect", 5, "event", "type"], "powerOnRefsed")),
      "expect[5].event.type",
      /got "powerOnRefsed"; did you mean "powerOnRefused"\?/,
    );
  });

  test("unknown host, VM and datastore names are refused wherever they appear", () => {
    const cases: [(d: Document) => void, string, RegExp][] = [
      [
        (d) => d.setIn(["events", 0, "crash"], "h7"),
        "events[0].crash",
        /unknown host "h7"; hosts are h1, h2, h3, h9/,
      ],
      [
        (d) => d.setIn(["events", 1, "partition", 1, 0], "h7"),
        "events[1].partition[1][0]",
        /unknown host "h7"/,
      ],
      [(d) => d.setIn(["events", 2, "heal"], "h7"), "events[2].heal", /unknown host "h7"/],
      [(d) => d.setIn(["events", 6, "vmCrash"], "y"), "events[6].vmCrash", /unknown VM "y"/],
      [
        (d) => d.setIn(["events", 7, "storageLoss", "datastores"], ["ds9"]),
        "events[7].storageLoss.datastores[0]",
        /unknown datastore "ds9"/,
      ],
      [(d) => d.setIn(["rules", 0, "vms", 1], "web9"), "rules[0].vms[1]", /unknown VM "web9"/],
      [(d) => d.setIn(["rules", 1, "hosts", 0], "h7"), "rules[1].hosts[0]", /unknown host "h7"/],
      [(d) => d.setIn(["rules", 2, "after", 0], "db9"), "rules[2].after[0]", /unknown VM "db9"/],
      [(d) => d.setIn(["expect", 0, "vm"], "web9"), "expect[0].vm", /unknown VM "web9"/],
      [(d) => d.setIn(["expect", 1, "on", 1], "h7"), "expect[1].on[1]", /unknown host "h7"/],
      [(d) => d.setIn(["expect", 3, "master", "not"], "h7"), "expect[3].master.not", /unknown host "h7"/],
      [
        (d) => d.setIn(["expect", 6, "never", "event", "vm"], "y"),
        "expect[6].never.event.vm",
        /unknown VM "y"/,
      ],
      [(d) => d.setIn(["vms", 0, "host"], "h9"), "vms[0].host", /unknown host "h9"; hosts are h1, h2, h3$/],
      [
        (d) => d.setIn(["vms", 0, "datastore"], "ds3"),
        "vms[0].datastore",
        /unknown datastore "ds3"; datastores are ds1, ds2/,
      ],
      [
        (d) => d.setIn(["hosts", 1, "datastores"], ["ds1", "ds3"]),
        "hosts[1].datastores[1]",
        /unknown datastore "ds3"/,
      ],
      [(d) => d.setIn(["sim", "clockDrift", "h7"], 0.1), "sim.clockDrift.h7", /unknown host "h7"/],
      [
        (d) => d.setIn(["cluster", "admissionControl"], { policy: "failoverHosts", hosts: ["h7"] }),
        "cluster.admissionControl.hosts[0]",
        /unknown host "h7"/,
      ],
    ];
    for (const [edit, path, message] of cases) assertRejects(edited(edit), path, message);
  });

  test("events may name added hosts and VMs only once they exist", () => {
    assertRejects(
      edited((d) => d.setIn(["events", 4, "at"], "70s")),
      "events[5].pause.host",
      'events[5].pause.host: host "h9" does not exist yet at 1m; events[4].addHost creates it at 70s',
    );
    assertRejects(
      edited((d) => d.setIn(["events", 6, "at"], "50s")),
      "events[6].vmCrash",
      /VM "x" does not exist yet at 50s; events\[3\].powerOnVm creates it at 55s/,
    );
  });

  test("duplicate names are refused", () => {
    assertRejects(
      FULL.replace("- { name: h2, cpus: 16", "- { name: h1, cpus: 16"),
      "hosts[1].name",
      'hosts[1].name: duplicate host name "h1" (hosts[0])',
      16,
    );
    assertRejects(
      edited((d) => d.setIn(["vms", 3, "name"], "web1")),
      "vms[3].name",
      /duplicate VM name "web1" \(vms\[0\]\)/,
    );
    assertRejects(
      edited((d) => d.setIn(["datastores", 1], "ds1")),
      "datastores[1]",
      /datastore "ds1" is listed twice/,
    );
    assertRejects(
      edited((d) => d.setIn(["events", 3, "powerOnVm", "name"], "db1")),
      "events[3].powerOnVm.name",
      /duplicate VM name "db1" \(vms\[2\]\)/,
    );
    assertRejects(
      edited((d) => d.setIn(["events", 4, "addHost", "name"], "h3")),
      "events[4].addHost.name",
      /duplicate host name "h3" \(hosts\[2\]\)/,
    );
  });

  test("a VM on a host that does not see its datastore is refused", () => {
    assertRejects(
      edited((d) => d.setIn(["vms", 2, "host"], "h3")),
      "vms[2].datastore",
      'vms[2].datastore: host "h3" does not see datastore "ds2" (it sees ds1)',
    );
    assertRejects(
      edited((d) => {
        d.setIn(["events", 3, "powerOnVm", "host"], "h3");
        d.setIn(["events", 3, "powerOnVm", "datastore"], "ds2");
      }),
      "events[3].powerOnVm.datastore",
      /host "h3" does not see datastore "ds2"/,
    );
  });

  test("a VM placed on a host without room for it is refused", () => {
    assertRejects(
      edited((d) => d.setIn(["vms", 2, "cpus"], 15)),
      "vms[2].host",
      'vms[2].host: host "h2" lacks capacity for db1 (needs 15 CPUs, 8192 MiB; 14 CPUs, 61440 MiB free)',
    );
    assertRejects(
      edited((d) => d.setIn(["vms", 0, "memoryMiB"], 65537)),
      "vms[0].host",
      /lacks capacity for web1/,
    );
  });

  test("startAfter cycles are refused, naming the cycle", () => {
    assertRejects(
      edited((d) => d.addIn(["rules"], { type: "startAfter", vm: "db1", after: ["app1"] })),
      "rules[3]",
      "rules[3]: startAfter cycle db1 -> app1 -> db1",
    );
    assertRejects(
      edited((d) => {
        d.addIn(["rules"], { type: "startAfter", vm: "db1", after: ["web1"] });
        d.addIn(["rules"], { type: "startAfter", vm: "web1", after: ["web2", "app1"] });
      }),
      "rules[4]",
      "rules[4]: startAfter cycle web1 -> app1 -> db1 -> web1",
    );
    assertRejects(
      edited((d) => d.setIn(["rules", 2, "after"], ["app1"])),
      "rules[2].after",
      /VM "app1" cannot start after itself/,
    );
  });

  test("contradicting affinity rules are refused", () => {
    assertRejects(
      edited((d) => d.addIn(["rules"], { type: "vmAffinity", vms: ["web2", "web1"] })),
      "rules[3]",
      "rules[3]: vmAffinity on web2 and web1 contradicts rules[0] (vmAntiAffinity)",
    );
  });

  test("invalid durations are refused", () => {
    assertRejects(
      edited((d) => d.setIn(["events", 0, "at"], "5 sec")),
      "events[0].at",
      'events[0].at: must be a duration like 500ms, 30s, 2m, 1h or a number of ms, got "5 sec"',
    );
    assertRejects(
      edited((d) => d.setIn(["sim", "vmStartMs"], "fast")),
      "sim.vmStartMs",
      /must be a duration/,
    );
    assertRejects(
      edited((d) => d.setIn(["cluster", "timing", "killMs"], -5)),
      "cluster.timing.killMs",
      /must be a duration/,
    );
    assertRejects(
      edited((d) => d.setIn(["duration"], "0s")),
      "duration",
      "duration: must be longer than 0, got 0ms",
    );
    assertRejects(
      edited((d) => d.setIn(["expect", 2, "at"], "145s")),
      "expect[2].at",
      "expect[2].at: 145s is after the end of the scenario (duration: 2m)",
    );
  });

  test("an event must do exactly one thing", () => {
    assertRejects(
      edited((d) => d.deleteIn(["events", 0, "crash"])),
      "events[0]",
      /^events\[0\]: has no action; give one of crash, isolate, /,
    );
    assertRejects(
      edited((d) => d.setIn(["events", 0, "isolate"], "h2")),
      "events[0]",
      'events[0]: has two actions, "crash" and "isolate"; an event does exactly one thing',
    );
    assertRejects(
      edited((d) => d.deleteIn(["events", 0, "at"])),
      "events[0].at",
      /required key is missing/,
    );
  });

  test("events check their own arguments", () => {
    assertRejects(
      edited((d) => d.setIn(["events", 1, "partition"], [["h2"], ["h3", "h2"]])),
      "events[1].partition[1][1]",
      /host "h2" is in two groups/,
    );
    assertRejects(
      edited((d) => d.setIn(["events", 0], { at: "1s", bmcFail: "h3" })),
      "events[0].bmcFail",
      /no BMC/,
    );
    assertRejects(
      edited((d) => d.setIn(["events", 7, "storageLoss", "datastores"], ["ds2"])),
      "events[7].storageLoss.datastores[0]",
      /host "h3" does not see datastore "ds2"/,
    );
    assertRejects(
      edited((d) => d.setIn(["events", 5, "pause", "for"], 0)),
      "events[5].pause.for",
      /longer than 0/,
    );
  });

  test("expectations must say what and when, consistently", () => {
    const cases: [unknown, string, RegExp][] = [
      [{ vm: "web1", state: "running" }, "expect[1]", /says what but not when/],
      [{ at: "1s", by: "2s", vm: "web1", state: "running" }, "expect[1].by", /either at or by/],
      [{ by: "2s", vm: "web1" }, "expect[1]", /says nothing about VM "web1"/],
      [{ by: "2s", vm: "web1", state: "down", on: ["h2"] }, "expect[1].on", /contradicts state: down/],
      [{ by: "2s", vm: "web1", host: "h1", state: "dead" }, "expect[1].host", /checks one thing/],
      [{ by: "2s", host: "h1", on: ["h2"], state: "dead" }, "expect[1].on", /does not apply to a host/],
      [{ event: { type: "vmStarted" }, at: "2s" }, "expect[1].at", /does not go with "event"/],
      [{ event: { type: "vmStarted", colour: "red" } }, "expect[1].event.colour", /unknown key "colour"/],
      [{ order: ["db1"] }, "expect[1].order", /at least 2 items/],
      [{ count: 2 }, "expect[1]", /checks nothing; give one of at, by, always, event, never, order/],
    ];
    for (const [value, path, message] of cases)
      assertRejects(
        edited((d) => d.setIn(["expect", 1], value)),
        path,
        message,
      );
  });

  test("cluster settings are cross-checked", () => {
    assertRejects(
      edited((d) => d.setIn(["cluster", "monitoring"], "high")),
      "cluster.monitoringCustom",
      /only goes with monitoring: custom \(monitoring is high\)/,
    );
    assertRejects(
      edited((d) => d.deleteIn(["cluster", "monitoringCustom"])),
      "cluster.monitoringCustom",
      /required key is missing/,
    );
    assertRejects(
      edited((d) => d.setIn(["cluster", "admissionControl", "hostFailuresToTolerate"], 3)),
      "cluster.admissionControl.hostFailuresToTolerate",
      /must be less than the number of hosts \(3\), got 3/,
    );
    assertRejects(
      edited((d) => d.setIn(["hosts", 2, "name"], "all")),
      "hosts[2].name",
      /"all" is reserved/,
    );
    assertRejects(
      edited((d) => d.setIn(["description"], "two\nlines")),
      "description",
      "description: must be one line",
    );
  });

  test("timing that breaks a safety inequality is refused at cluster.timing", () => {
    assertRejects(
      FULL.replace("heartbeatIntervalMs: 500,", "heartbeatIntervalMs: 500, selfFenceAfterMs: 5000,"),
      "cluster.timing",
      "cluster.timing: selfFenceAfterMs/(1-ρ) + killMs < leaseTtlMs/(1+ρ) does not hold: 5050.5 + 1000 >= 5940.6",
      9,
    );
  });

  test("an empty file and a file that is not a mapping are refused", () => {
    assertRejects("", "", /the file is empty/);
    assertRejects("- a\n- b\n", "", "a scenario must be a mapping (name:, hosts:, ...), got a list");
  });
});

describe("loadScenarioFile", () => {
  test("reads a file, and reports a missing one as a ScenarioError", () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-scenario-"));
    const file = join(dir, "s.yaml");
    writeFileSync(file, FULL);
    const s = loadScenarioFile(file);
    assert.equal(s.sourceName, file);
    assert.equal(s.events.length, 10);
    assert.throws(
      () => loadScenarioFile(join(dir, "missing.yaml")),
      (e: unknown) =>
        e instanceof ScenarioError && e.path === "" && /cannot read the file: ENOENT/.test(e.message),
    );
  });
});

describe("durations", () => {
  test("parse and format", () => {
    const cases: [unknown, number | undefined][] = [
      ["500ms", 500],
      ["30s", 30_000],
      ["2m", 120_000],
      ["1h", 3_600_000],
      ["1m30s", 90_000],
      ["1.1s", 1100],
      [250, 250],
      ["250", 250],
      ["5 sec", undefined],
      ["-1s", undefined],
      [-1, undefined],
      ["", undefined],
      [true, undefined],
    ];
    for (const [input, ms] of cases) assert.equal(parseDuration(input), ms, String(input));
    assert.deepEqual([500, 1500, 60_000, 90_000, 7_200_000].map(formatDuration), [
      "500ms",
      "1.5s",
      "1m",
      "90s",
      "2h",
    ]);
  });
});

describe("checkTiming", () => {
  test("the shipped timings pass", () => {
    assert.deepEqual(checkTiming(defaultTiming), []);
    assert.deepEqual(checkTiming(fastTiming), []);
  });

  test("each broken inequality gets a message with its numbers", () => {
    assert.deepEqual(checkTiming({ ...defaultTiming, selfFenceAfterMs: 5000 }), [
      "selfFenceAfterMs/(1-ρ) + killMs < leaseTtlMs/(1+ρ) does not hold: 5050.5 + 1000 >= 5940.6",
    ]);
    assert.deepEqual(checkTiming({ ...defaultTiming, renewPeriodMs: 2000, ioTimeoutMs: 2000 }), [
      "selfFenceAfterMs/(1+ρ) > renewPeriodMs + ioTimeoutMs does not hold: 3960.4 <= 2000 + 2000",
    ]);
    assert.deepEqual(checkTiming({ ...defaultTiming, heartbeatIntervalMs: 5000, restartAttemptsMax: 0 }), [
      "heartbeatIntervalMs <= slaveUnreachableAfterMs does not hold: 5000 > 3000",
      "restartAttemptsMax >= 1 does not hold: 0 < 1",
    ]);
    assert.deepEqual(checkTiming({ ...defaultTiming, fenceTimeoutMs: 0, isolationResponseDelayMs: -1 }), [
      "isolationResponseDelayMs >= 0 does not hold: -1 < 0",
      "fenceTimeoutMs > 0 does not hold: 0 <= 0",
    ]);
  });
});
