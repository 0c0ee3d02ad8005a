// Bad agent and cluster files are refused with the path (and line) of the field and exit code 2.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseAgentConfig, parseClusterFile } from "../../src/agent/config.ts";
import { hostProbeTimeoutMs, isolationProbeTimeoutMs } from "../../src/agent/probe.ts";
import { ScenarioError } from "../../src/sim/scenario.ts";

const cluster = `name: c
clusterId: c1
datastores: [ds1]
hosts:
  - { name: h1, cpus: 8, memoryMiB: 8192 }
  - { name: h2, cpus: 8, memoryMiB: 8192 }
vms:
  - { name: web1, host: h1, cpus: 1, memoryMiB: 512 }
network:
  h1: { address: 198.18.0.11 }
  h2: { address: 198.18.0.12, port: 7410 }
commands:
  default: { command: [sleep, infinity] }
`;

function refused(run: () => unknown, path: string, detail: RegExp): ScenarioError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ScenarioError, `expected a ScenarioError, got ${String(error)}`);
    assert.equal(error.path, path);
    assert.match(error.detail, detail);
    return error;
  }
  assert.fail("the file was accepted");
}

describe("cluster.yaml", () => {
  it("accepts a good file and fills defaults", () => {
    const c = parseClusterFile(cluster, "cluster.yaml");
    assert.equal(c.spec.clusterId, "c1");
    assert.equal(c.network.h1?.port, 7410);
    assert.equal(c.placement.web1, "h1");
    assert.equal(c.spec.hosts[0]?.bmc, false, "a host without BMC settings is recovered by lease expiry");
  });

  it("names a bad port with its line", () => {
    const e = refused(
      () => parseClusterFile(cluster.replace("port: 7410", "port: 70000"), "cluster.yaml"),
      "network.h2.port",
      /port number/,
    );
    assert.equal(e.line, 11);
  });

  it("refuses an unknown host in network", () => {
    const text = cluster.replace("port: 7410 }\n", "port: 7410 }\n  h9: { address: 198.18.0.19 }\n");
    refused(() => parseClusterFile(text, "c.yaml"), "network.h9", /not a host of this cluster/);
  });

  it("refuses a VM without a command", () => {
    refused(
      () =>
        parseClusterFile(
          cluster.replace("commands:\n  default: { command: [sleep, infinity] }\n", ""),
          "c.yaml",
        ),
      "commands",
      /no command for VM web1/,
    );
  });

  it("refuses a host missing from network", () => {
    refused(
      () => parseClusterFile(cluster.replace("  h2: { address: 198.18.0.12, port: 7410 }\n", ""), "c.yaml"),
      "network",
      /h2/,
    );
  });
});

describe("probe timeouts follow the timing profile", () => {
  it("the fast profile probes hosts for a heartbeat interval, the default for a second", () => {
    const fast = parseClusterFile(`${cluster}timingProfile: fast\n`, "cluster.yaml").spec.timing;
    const standard = parseClusterFile(cluster, "cluster.yaml").spec.timing;
    assert.equal(hostProbeTimeoutMs(fast), 250);
    assert.equal(hostProbeTimeoutMs(standard), 1000);
  });

  it("isolation addresses keep at least a second in both profiles", () => {
    const fast = parseClusterFile(`${cluster}timingProfile: fast\n`, "cluster.yaml").spec.timing;
    assert.equal(isolationProbeTimeoutMs(fast), 1000);
    assert.equal(isolationProbeTimeoutMs(parseClusterFile(cluster, "cluster.yaml").spec.timing), 1000);
  });
});

describe("agent.yaml", () => {
  it("names a missing field", () => {
    refused(
      () => parseAgentConfig("host: h1\nclusterFile: c.yaml\nstateDir: s\nsecretFile: k\n", "agent.yaml"),
      "datastores",
      /required|missing/i,
    );
  });

  it("names an unknown field with a suggestion", () => {
    refused(
      () =>
        parseAgentConfig(
          "host: h1\nclusterFile: c\nstateDir: s\nsecretFile: k\ndatastores: {}\nisolationAdresses: []\n",
          "agent.yaml",
        ),
      "isolationAdresses",
      /isolationAddresses/,
    );
  });

  it("vigil agent exits 2 and prints the field", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vigil-badcfg-"));
    try {
      await writeFile(join(dir, "cluster.yaml"), cluster.replace("memoryMiB: 512", "memoryMiB: lots"));
      await writeFile(
        join(dir, "agent.yaml"),
        `host: h1\nclusterFile: cluster.yaml\nstateDir: s\nsecretFile: k\ndatastores: { ds1: ds1 }\n`,
      );
      const bin = join(import.meta.dirname, "..", "..", "bin", "vigil.js");
      const run = spawnSync(process.execPath, [bin, "agent", "--config", join(dir, "agent.yaml")], {
        encoding: "utf8",
      });
      assert.equal(run.status, 2, run.stderr);
      assert.match(run.stderr, /cluster\.yaml:8: vms\[0\]\.memoryMiB: /);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
