// Election rules at the engine level: most datastores, then priority, then name; hosts being fenced,
// in maintenance or isolated never stand.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { agentStep, initAgent } from "../../src/core/agent.ts";
import type { AgentState } from "../../src/core/agent-state.ts";
import { type ClusterSpec, defaultTiming, type HostSpec } from "../../src/core/cluster.ts";
import type { HeartbeatMsg } from "../../src/core/records.ts";

function host(name: string, datastores: string[], electionPriority = 0): HostSpec {
  return {
    name,
    cpus: 8,
    memoryMiB: 16384,
    datastores,
    bmc: true,
    faultDomain: name,
    tags: [],
    electionPriority,
  };
}

function cluster(hosts: HostSpec[]): ClusterSpec {
  return {
    clusterId: "c1",
    isolationResponse: "powerOff",
    admissionControl: { policy: "disabled" },
    haTag: "",
    monitoring: { failureIntervalMs: 30_000, minUptimeMs: 120_000, maxResets: 3, resetWindowMs: 3_600_000 },
    monitoringEnabled: false,
    startCondition: "poweredOn",
    timing: defaultTiming,
    datastores: ["ds1", "ds2"],
    hosts,
    vms: [],
    rules: [],
  };
}

function heartbeat(from: string, over: Partial<HeartbeatMsg> = {}): HeartbeatMsg {
  return {
    type: "heartbeat",
    from,
    role: "election",
    master: null,
    datastoresSeen: 2,
    electionPriority: 0,
    eligible: true,
    isolated: false,
    maintenance: false,
    standby: false,
    fencing: [],
    vms: [],
    ...over,
  };
}

/** Runs the election window with the given peers' heartbeats, all datastores readable. */
function elect(self: AgentState, peers: HeartbeatMsg[]): void {
  const ds = self.hostSpecs.get(self.self)!.datastores;
  agentStep(self, {
    type: "keeperReport",
    fencedDatastores: [],
    renewedAtMs: Object.fromEntries(ds.map((d) => [d, 0])),
    fenceCounts: {},
  });
  for (let t = 0; t <= 3000; t += 500) {
    for (const p of peers) agentStep(self, { type: "message", msg: p });
    agentStep(self, { type: "tick", nowMs: t });
  }
}

describe("election", () => {
  const spec = cluster([host("h1", ["ds1"]), host("h2", ["ds1", "ds2"]), host("h3", ["ds1", "ds2"], 5)]);

  it("the host seeing the most datastores wins over a lower name", () => {
    const h1 = initAgent("h1", spec, 0);
    elect(h1, [heartbeat("h2", { datastoresSeen: 2 })]);
    assert.equal(h1.role, "election", "h1 sees one datastore and must wait for h2");
    const h2 = initAgent("h2", cluster([host("h1", ["ds1"]), host("h2", ["ds1", "ds2"])]), 0);
    elect(h2, [heartbeat("h1", { datastoresSeen: 1 })]);
    assert.equal(h2.role, "master");
  });

  it("with equal datastores the higher priority wins", () => {
    const h2 = initAgent("h2", spec, 0);
    elect(h2, [heartbeat("h3", { datastoresSeen: 2, electionPriority: 5 })]);
    assert.equal(h2.role, "election");
    const h3 = initAgent("h3", spec, 0);
    elect(h3, [heartbeat("h2", { datastoresSeen: 2 })]);
    assert.equal(h3.role, "master");
  });

  it("a host the last master was fencing never becomes master", () => {
    const solo = cluster([host("h1", ["ds1", "ds2"]), host("h2", ["ds1", "ds2"])]);
    const h1 = initAgent("h1", solo, 0);
    // The old master h2 announced it is fencing h1, then went silent.
    agentStep(h1, {
      type: "message",
      msg: heartbeat("h2", { role: "master", master: "h2", fencing: ["h1"] }),
    });
    for (let t = 0; t <= 20_000; t += 500) agentStep(h1, { type: "tick", nowMs: t });
    assert.notEqual(h1.role, "master");
    const control = initAgent("h1", solo, 0);
    agentStep(control, {
      type: "message",
      msg: heartbeat("h2", { role: "master", master: "h2", fencing: [] }),
    });
    for (let t = 0; t <= 20_000; t += 500) agentStep(control, { type: "tick", nowMs: t });
    assert.equal(control.role, "master");
  });

  it("a host in maintenance does not stand", () => {
    const h3 = initAgent("h3", spec, 0);
    agentStep(h3, { type: "maintenanceRequested", enable: true });
    elect(h3, []);
    assert.notEqual(h3.role, "master");
  });
});
