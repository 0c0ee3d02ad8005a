// The cluster file's `bmcs` section picks a power driver per host (ipmitool or redfish), refuses
// mistakes with the field's path, and the master's fencer built from it really fences a Redfish BMC.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseClusterFile } from "../../src/agent/config.ts";
import { makeFencer } from "../../src/agent/fencing.ts";
import { opensslInstalled, RedfishSim } from "../../src/power/redfish/redfish-sim.ts";
import { ScenarioError } from "../../src/sim/scenario.ts";

const cluster = (bmcs: string) => `name: c
clusterId: c1
datastores: [ds1]
hosts:
  - { name: h1, cpus: 8, memoryMiB: 8192 }
  - { name: h2, cpus: 8, memoryMiB: 8192 }
vms: []
network:
  h1: { address: 198.18.0.11 }
  h2: { address: 198.18.0.12 }
commands:
  default: { command: [sleep, infinity] }
bmcs:
${bmcs}`;

function refused(text: string, path: string, detail: RegExp): void {
  assert.throws(
    () => parseClusterFile(text, "/etc/vigil/cluster.yaml"),
    (e: unknown) => e instanceof ScenarioError && e.path === path && detail.test(e.detail),
  );
}

describe("cluster.yaml bmcs: driver", () => {
  it("defaults to ipmitool on port 623; redfish defaults to port 443 with certificate checks", () => {
    const c = parseClusterFile(
      cluster(`  h1: { address: 198.18.0.1, user: admin, passwordFile: bmc.pw }
  h2: { driver: redfish, address: 198.18.0.1, user: admin, passwordFile: /s/bmc.pw, systemId: "1" }
`),
      "/etc/vigil/cluster.yaml",
    );
    assert.deepEqual(c.bmcs.h1, {
      driver: "ipmitool",
      address: "198.18.0.1",
      port: 623,
      user: "admin",
      passwordFile: "/etc/vigil/bmc.pw",
    });
    assert.deepEqual(c.bmcs.h2, {
      driver: "redfish",
      address: "198.18.0.1",
      port: 443,
      user: "admin",
      passwordFile: "/s/bmc.pw",
      insecureTls: false,
      systemId: "1",
    });
  });

  it("redfish takes insecureTls and a caFile beside the cluster file", () => {
    const c = parseClusterFile(
      cluster(`  h1: { driver: redfish, address: 198.18.0.1, port: 9101, user: a, passwordFile: p, insecureTls: true, caFile: ca.pem }
`),
      "/etc/vigil/cluster.yaml",
    );
    const h1 = c.bmcs.h1;
    assert.ok(h1?.driver === "redfish", "not redfish");
    assert.equal(h1.insecureTls, true);
    assert.equal(h1.caFile, "/etc/vigil/ca.pem");
    assert.equal(h1.port, 9101);
  });

  it("refuses an unknown driver, naming the field and the known ones", () => {
    refused(
      cluster("  h1: { driver: snmp, address: 198.18.0.1, user: a, passwordFile: p }\n"),
      "bmcs.h1.driver",
      /unknown BMC driver "snmp"; known: ipmitool, redfish/,
    );
  });

  it("refuses Redfish-only keys for ipmitool, and a bad insecureTls or systemId", () => {
    refused(
      cluster("  h1: { address: 198.18.0.1, user: a, passwordFile: p, insecureTls: true }\n"),
      "bmcs.h1.insecureTls",
      /unknown key/,
    );
    refused(
      cluster("  h1: { driver: redfish, address: 198.18.0.1, user: a, passwordFile: p, insecureTls: yes }\n"),
      "bmcs.h1.insecureTls",
      /true or false/,
    );
    refused(
      cluster("  h1: { driver: redfish, address: 198.18.0.1, user: a, passwordFile: p, systemId: a/b }\n"),
      "bmcs.h1.systemId",
      /plain Redfish Id/,
    );
  });
});

describe("the master's fencer for a redfish BMC", {
  skip: (await opensslInstalled()) ? false : "no openssl",
}, () => {
  let bmc: RedfishSim;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "vigil-fencer-"));
    bmc = new RedfishSim({ password: "fencer-Pw-6620" });
    await bmc.start();
  });
  after(async () => {
    await bmc?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const settings = (passwordFile: string, insecureTls: boolean) => ({
    driver: "redfish" as const,
    address: bmc.address,
    port: bmc.port,
    user: bmc.user,
    passwordFile,
    insecureTls,
  });

  it("powers the host off and confirms it", async () => {
    await writeFile(join(dir, "bmc.pw"), `${bmc.password}\n`);
    const result = await makeFencer(settings(join(dir, "bmc.pw"), true))?.fence();
    assert.equal(result?.poweredOff, true, result?.detail);
    assert.match(result.detail, /^redfish admin@127\.0\.0\.1:\d+: powered off, status confirmed off/);
    assert.equal(await bmc.powerState(), "off");
  });

  it("does not fence through a self-signed certificate without insecureTls, and says why", async () => {
    await bmc.driver().on();
    const result = await makeFencer(settings(join(dir, "bmc.pw"), false))?.fence();
    assert.equal(result?.poweredOff, false);
    assert.match(result.detail, /certificate is not trusted/);
    assert.equal(await bmc.powerState(), "on");
  });

  it("reports an unreadable password file", async () => {
    const result = await makeFencer(settings(join(dir, "missing.pw"), true))?.fence();
    assert.equal(result?.poweredOff, false);
    assert.match(result.detail, /cannot read the BMC password file/);
  });
});
