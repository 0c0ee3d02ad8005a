// The placement planner decides where VMs restart after a failure; each case here would fail if
// the rule it names were dropped. A brute-force reference checks the fast bucket path on random
// clusters, because that path only pays off if it agrees with the obvious full scan.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AdmissionControl, RestartPriority, Rule } from "../../src/core/cluster.ts";
import { restartPriorityOrder } from "../../src/core/cluster.ts";
import {
  type PlacementHost,
  type PlacementInput,
  type PlacementPlan,
  type PlacementVm,
  planPlacement,
} from "../../src/core/placement.ts";

const GiB = 1024;

function host(name: string, over: Partial<PlacementHost> = {}): PlacementHost {
  return {
    name,
    cpus: 16,
    memoryMiB: 64 * GiB,
    usedCpus: 0,
    usedMemoryMiB: 0,
    datastores: ["ds1"],
    faultDomain: "fd1",
    tags: [],
    vms: [],
    eligible: true,
    ...over,
  };
}

function vm(name: string, over: Partial<PlacementVm> = {}): PlacementVm {
  return { name, cpus: 2, memoryMiB: 4 * GiB, datastore: "ds1", restartPriority: "medium", ...over };
}

function plan(hosts: PlacementHost[], vms: PlacementVm[], over: Partial<PlacementInput> = {}): PlacementPlan {
  return planPlacement({
    hosts,
    vms,
    rules: [],
    haTag: "",
    admissionControl: { policy: "disabled" },
    ...over,
  });
}

function where(p: PlacementPlan): Record<string, string> {
  return Object.fromEntries(p.placements.map((x) => [x.vm, x.host]));
}

function reasonOf(p: PlacementPlan, name: string): string {
  const u = p.unplaced.find((x) => x.vm === name);
  assert.ok(u, `${name} should be unplaced`);
  return u.reason;
}

describe("planPlacement: order and candidates", () => {
  it("plans higher restart priority first, then by name, and never places disabled VMs", () => {
    const hosts = [host("h1", { cpus: 2 })];
    const p = plan(hosts, [
      vm("a-low", { restartPriority: "low" }),
      vm("z-high", { restartPriority: "high" }),
      vm("off", { restartPriority: "disabled" }),
    ]);
    assert.deepEqual(p.placements, [{ vm: "z-high", host: "h1" }]);
    assert.match(reasonOf(p, "a-low"), /not enough free capacity/);
    assert.match(reasonOf(p, "off"), /disabled/);
    const byName = plan([host("h1", { cpus: 2 })], [vm("b"), vm("a")]);
    assert.deepEqual(byName.placements, [{ vm: "a", host: "h1" }]);
  });

  it("uses only eligible hosts that see the VM's datastore", () => {
    const hosts = [
      host("big-dead", { memoryMiB: 512 * GiB, eligible: false }),
      host("big-other-ds", { memoryMiB: 512 * GiB, datastores: ["ds2"] }),
      host("small"),
    ];
    assert.deepEqual(where(plan(hosts, [vm("v")])), { v: "small" });
    const p = plan(hosts, [vm("w", { datastore: "ds9" })]);
    assert.match(reasonOf(p, "w"), /no eligible host that sees datastore ds9/);
    const none = plan([host("h", { eligible: false })], [vm("v")]);
    assert.match(reasonOf(none, "v"), /no host is eligible/);
  });

  it("requires both CPU and memory to fit, and earlier placements consume capacity", () => {
    const hosts = [
      host("cpu-poor", { cpus: 4, usedCpus: 3, memoryMiB: 512 * GiB }),
      host("mem-poor", { memoryMiB: 8 * GiB, usedMemoryMiB: 6 * GiB }),
      host("ok", { memoryMiB: 10 * GiB }),
    ];
    const p = plan(hosts, [vm("a"), vm("b"), vm("c")]);
    assert.deepEqual(where(p), { a: "ok", b: "ok" });
    assert.match(reasonOf(p, "c"), /not enough free capacity: it needs 2 CPUs\/4096 MiB/);
  });

  it("spreads load: most free memory, then most free CPUs, then host name", () => {
    const hosts = [
      host("c", { memoryMiB: 32 * GiB }),
      host("b", { memoryMiB: 64 * GiB, cpus: 8 }),
      host("a", { memoryMiB: 64 * GiB, cpus: 8 }),
      host("d", { memoryMiB: 64 * GiB, cpus: 16 }),
    ];
    assert.deepEqual(where(plan(hosts, [vm("v")])), { v: "d" });
    assert.deepEqual(where(plan(hosts.slice(0, 3), [vm("v")])), { v: "a" });
    // Two VMs go to the two roomiest hosts rather than stacking.
    const two = plan([host("x"), host("y")], [vm("v1", { memoryMiB: 8 * GiB }), vm("v2")]);
    assert.deepEqual(where(two), { v1: "x", v2: "y" });
  });

  it("is deterministic whatever the input order", () => {
    const hosts = [host("h1"), host("h2", { faultDomain: "fd2" }), host("h3")];
    const vms = [vm("v3"), vm("v1", { restartPriority: "high" }), vm("v2")];
    const rules: Rule[] = [{ type: "vmAntiAffinity", vms: ["v1", "v2", "v3"] }];
    const a = plan(hosts, vms, { rules });
    const b = plan([...hosts].reverse(), [...vms].reverse(), { rules });
    assert.deepEqual(a, b);
  });
});

describe("planPlacement: ha.tag and failover hosts", () => {
  it("with ha.tag set, restarts only onto hosts carrying it", () => {
    const hosts = [host("plain", { memoryMiB: 512 * GiB }), host("tagged", { tags: ["ha"] })];
    assert.deepEqual(where(plan(hosts, [vm("v")], { haTag: "ha" })), { v: "tagged" });
    assert.deepEqual(where(plan(hosts, [vm("v")])), { v: "plain" });
  });

  it("with ha.tag set and no eligible host carrying it, leaves every VM unplaced", () => {
    const hosts = [host("plain"), host("tagged-dead", { tags: ["ha"], eligible: false })];
    const p = plan(hosts, [vm("v1"), vm("v2")], { haTag: "ha" });
    assert.equal(p.placements.length, 0);
    for (const v of ["v1", "v2"]) assert.match(reasonOf(p, v), /no eligible host carries ha\.tag ha/);
  });

  it("prefers dedicated failover hosts, and falls back to others when they are full", () => {
    const hosts = [host("big", { memoryMiB: 512 * GiB }), host("spare", { cpus: 4 })];
    const admissionControl: AdmissionControl = { policy: "failoverHosts", hosts: ["spare"] };
    const p = plan(hosts, [vm("v1"), vm("v2"), vm("v3")], { admissionControl });
    assert.deepEqual(where(p), { v1: "spare", v2: "spare", v3: "big" });
  });
});

describe("planPlacement: rules", () => {
  it("vmAntiAffinity keeps group members on different hosts, counting running members", () => {
    const hosts = [host("big", { memoryMiB: 512 * GiB, vms: ["web0"] }), host("h2"), host("h3")];
    const rules: Rule[] = [{ type: "vmAntiAffinity", vms: ["web0", "web1", "web2", "web3"] }];
    const p = plan(hosts, [vm("web1"), vm("web2"), vm("web3"), vm("other")], { rules });
    assert.deepEqual(where(p), { web1: "h2", web2: "h3", other: "big" });
    assert.match(reasonOf(p, "web3"), /vmAntiAffinity rule with web0, web1, web2 leaves no host/);
  });

  it("vmAntiAffinity prefers the fault domain with fewest group members", () => {
    const hosts = [
      host("a1", { faultDomain: "A", memoryMiB: 512 * GiB }),
      host("a2", { faultDomain: "A", memoryMiB: 256 * GiB }),
      host("b1", { faultDomain: "B" }),
    ];
    const rules: Rule[] = [{ type: "vmAntiAffinity", vms: ["db1", "db2"] }];
    assert.deepEqual(where(plan(hosts, [vm("db1"), vm("db2")], { rules })), { db1: "a1", db2: "b1" });
    // Without the rule both follow free memory inside domain A.
    assert.deepEqual(where(plan(hosts, [vm("db1"), vm("db2")])), { db1: "a1", db2: "a1" });
  });

  it("vmAntiAffinity prefers the less crowded domain when every domain already has members", () => {
    const hosts = [
      host("c1", { faultDomain: "C", vms: ["m1"] }),
      host("c2", { faultDomain: "C" }),
      host("z1", { faultDomain: "Z", vms: ["m2"] }),
      host("z2", { faultDomain: "Z", vms: ["m3"] }),
      host("z3", { faultDomain: "Z", memoryMiB: 512 * GiB }),
    ];
    const rules: Rule[] = [{ type: "vmAntiAffinity", vms: ["x", "m1", "m2", "m3"] }];
    assert.deepEqual(where(plan(hosts, [vm("x")], { rules })), { x: "c2" });
  });

  it("vmAffinity prefers the host of a running or already placed member", () => {
    const hosts = [host("roomy", { memoryMiB: 512 * GiB }), host("mate", { vms: ["app0"] })];
    const rules: Rule[] = [{ type: "vmAffinity", vms: ["app0", "app1"] }];
    assert.deepEqual(where(plan(hosts, [vm("app1")], { rules })), { app1: "mate" });
    const fresh = [host("x", { memoryMiB: 128 * GiB }), host("y", { memoryMiB: 120 * GiB })];
    const together: Rule[] = [{ type: "vmAffinity", vms: ["p", "q"] }];
    const p = plan(fresh, [vm("p", { memoryMiB: 16 * GiB }), vm("q")], { rules: together });
    assert.deepEqual(where(p), { p: "x", q: "x" });
    // Not strict: a full mate host does not block the VM.
    const full = [host("roomy"), host("mate", { cpus: 1, vms: ["app0"] })];
    assert.deepEqual(where(plan(full, [vm("app1")], { rules })), { app1: "roomy" });
  });

  it("strict vmHostAffinity allows only its hosts and leaves the VM unplaced with a reason", () => {
    const hosts = [host("free", { memoryMiB: 512 * GiB }), host("lic1"), host("lic2", { cpus: 1 })];
    const rules: Rule[] = [
      { type: "vmHostAffinity", vms: ["v1", "v2", "v3"], hosts: ["lic1", "lic2"], strict: true },
    ];
    const p = plan(hosts, [vm("v1", { cpus: 8 }), vm("v2", { cpus: 8 }), vm("v3", { cpus: 8 })], { rules });
    assert.deepEqual(where(p), { v1: "lic1", v2: "lic1" });
    assert.match(reasonOf(p, "v3"), /not enough free capacity/);
    const gone = plan([host("free"), host("lic1", { eligible: false })], [vm("v1")], { rules });
    assert.match(reasonOf(gone, "v1"), /strict vmHostAffinity rule allows only lic1, lic2/);
  });

  it("preferred vmHostAffinity prefers its hosts but falls back to others", () => {
    const hosts = [host("free", { memoryMiB: 512 * GiB }), host("pref", { cpus: 2 })];
    const rules: Rule[] = [{ type: "vmHostAffinity", vms: ["v1", "v2"], hosts: ["pref"], strict: false }];
    assert.deepEqual(where(plan(hosts, [vm("v1"), vm("v2")], { rules })), { v1: "pref", v2: "free" });
  });

  it("strict vmHostAntiAffinity never uses its hosts; preferred only avoids them", () => {
    const hosts = [host("banned", { memoryMiB: 512 * GiB }), host("ok", { cpus: 2 })];
    const strict: Rule[] = [
      { type: "vmHostAntiAffinity", vms: ["v1", "v2"], hosts: ["banned"], strict: true },
    ];
    const p = plan(hosts, [vm("v1"), vm("v2")], { rules: strict });
    assert.deepEqual(where(p), { v1: "ok" });
    assert.match(reasonOf(p, "v2"), /not enough free capacity/);
    const only = plan([hosts[0]!], [vm("v1")], { rules: strict });
    assert.match(reasonOf(only, "v1"), /strict vmHostAntiAffinity rule excludes every eligible host/);
    const soft: Rule[] = [
      { type: "vmHostAntiAffinity", vms: ["v1", "v2"], hosts: ["banned"], strict: false },
    ];
    assert.deepEqual(where(plan(hosts, [vm("v1"), vm("v2")], { rules: soft })), { v1: "ok", v2: "banned" });
  });

  it("ignores startAfter rules", () => {
    const rules: Rule[] = [{ type: "startAfter", vm: "a", after: ["b"] }];
    assert.deepEqual(plan([host("h")], [vm("a"), vm("b")], { rules }).placements, [
      { vm: "a", host: "h" },
      { vm: "b", host: "h" },
    ]);
  });
});

/** The documented order, computed the obvious way: every host, every key, for every VM. */
function reference(input: PlacementInput): Record<string, string> {
  const free = new Map(
    input.hosts.map((h) => [h.name, { cpus: h.cpus - h.usedCpus, mem: h.memoryMiB - h.usedMemoryMiB }]),
  );
  const planned = new Set(input.vms.map((v) => v.name));
  const at = new Map<string, string>();
  for (const h of input.hosts) if (h.eligible) for (const v of h.vms) if (!planned.has(v)) at.set(v, h.name);
  const domain = new Map(input.hosts.map((h) => [h.name, h.faultDomain]));
  const failover = new Set(
    input.admissionControl.policy === "failoverHosts" ? input.admissionControl.hosts : [],
  );
  const rank = (p: RestartPriority) => restartPriorityOrder.indexOf(p);
  const vms = input.vms
    .filter((v) => rank(v.restartPriority) >= 0)
    .sort((a, b) => rank(a.restartPriority) - rank(b.restartPriority) || (a.name < b.name ? -1 : 1));
  const out: Record<string, string> = {};
  for (const v of vms) {
    const mine = input.rules.flatMap((r) => (r.type !== "startAfter" && r.vms.includes(v.name) ? [r] : []));
    const mates = (type: Rule["type"]) =>
      mine.flatMap((r) => (r.type === type ? r.vms : [])).flatMap((m) => (at.has(m) ? [at.get(m)!] : []));
    const antiHosts = mates("vmAntiAffinity");
    const affHosts = mates("vmAffinity");
    let best: { name: string; key: number[] } | null = null;
    for (const h of input.hosts) {
      const f = free.get(h.name)!;
      if (
        !h.eligible ||
        (input.haTag && !h.tags.includes(input.haTag)) ||
        !h.datastores.includes(v.datastore)
      )
        continue;
      if (f.cpus < v.cpus || f.mem < v.memoryMiB || antiHosts.includes(h.name)) continue;
      const misses = mine.flatMap((r) =>
        (r.type === "vmHostAffinity" && !r.hosts.includes(h.name)) ||
        (r.type === "vmHostAntiAffinity" && r.hosts.includes(h.name))
          ? [r.strict]
          : [],
      );
      if (misses.includes(true)) continue;
      const pen = misses.length;
      const dom = antiHosts.filter((x) => domain.get(x) === h.faultDomain).length;
      const key = [
        pen,
        affHosts.includes(h.name) ? 0 : 1,
        failover.has(h.name) ? 0 : 1,
        dom,
        -f.mem,
        -f.cpus,
      ];
      const better = () => {
        for (let k = 0; k < key.length; k++) if (key[k] !== best!.key[k]) return key[k]! < best!.key[k]!;
        return h.name < best!.name;
      };
      if (!best || better()) best = { name: h.name, key };
    }
    if (!best) continue;
    const f = free.get(best.name)!;
    f.cpus -= v.cpus;
    f.mem -= v.memoryMiB;
    at.set(v.name, best.name);
    out[v.name] = best.name;
  }
  return out;
}

describe("planPlacement: agrees with a brute-force reference", () => {
  it("on 400 random clusters with rules, tags, failover hosts and fault domains", () => {
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return (seed >>> 16) % n;
    };
    const priorities: RestartPriority[] = [...restartPriorityOrder, "disabled"];
    for (let t = 0; t < 400; t++) {
      const nh = 1 + rand(12);
      const hosts = Array.from({ length: nh }, (_, i) =>
        host(`h${i}`, {
          cpus: 4 + rand(12),
          memoryMiB: GiB * (4 + rand(12)),
          usedCpus: rand(3),
          datastores: [`d${rand(3)}`, `d${rand(3)}`],
          faultDomain: `f${rand(3)}`,
          tags: rand(3) ? ["ha"] : [],
          eligible: rand(6) > 0,
          vms: rand(2) ? [`run${i}`] : [],
        }),
      );
      const vms = Array.from({ length: rand(25) }, (_, i) =>
        vm(`v${i}`, {
          cpus: 1 + rand(4),
          memoryMiB: GiB * (1 + rand(4)),
          datastore: `d${rand(3)}`,
          restartPriority: priorities[rand(6)]!,
        }),
      );
      const names = [...vms.map((v) => v.name), ...hosts.map((_, i) => `run${i}`)];
      const pick = (k: number) => [...new Set(Array.from({ length: k }, () => names[rand(names.length)]!))];
      const hostNames = () => [...new Set(Array.from({ length: 1 + rand(3) }, () => `h${rand(nh)}`))];
      const rules: Rule[] = [];
      for (let g = rand(4); g > 0; g--)
        rules.push({ type: rand(3) ? "vmAntiAffinity" : "vmAffinity", vms: pick(2 + rand(3)) });
      for (let g = rand(3); g > 0; g--) {
        const type = rand(2) ? "vmHostAffinity" : "vmHostAntiAffinity";
        rules.push({ type, vms: pick(1 + rand(3)), hosts: hostNames(), strict: rand(2) === 0 });
      }
      const input: PlacementInput = {
        hosts,
        vms,
        rules,
        haTag: rand(4) ? "" : "ha",
        admissionControl: rand(2) ? { policy: "failoverHosts", hosts: hostNames() } : { policy: "disabled" },
      };
      const p = planPlacement(input);
      assert.deepEqual(where(p), reference(input), `case ${t}`);
      assert.equal(p.placements.length + p.unplaced.length, vms.length, `case ${t}`);
    }
  });
});
