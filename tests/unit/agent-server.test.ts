// The agent's side of the server (no root needed): enrollment, the first configuration cached and
// read back by the agents' own loader, commands turned into engine inputs, events kept while the
// server is down and delivered once it is back, and configurations the agent must refuse.
import assert from "node:assert/strict";
import { existsSync, statSync } from "node:fs";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { stringify } from "yaml";
import type { AgentStatus } from "../../src/agent/agent-status.ts";
import { loadAgentFiles, parseAgentFile, serverCacheDir } from "../../src/agent/config.ts";
import { storeServerConfig } from "../../src/agent/server-cache.ts";
import { ServerLink } from "../../src/agent/server-link.ts";
import { readCachedMeta } from "../../src/agent/server-meta.ts";
import { fetchFirstConfig, ServerSync } from "../../src/agent/server-sync.ts";
import type { AgentInput } from "../../src/core/io.ts";
import { ScenarioError } from "../../src/sim/scenario.ts";
import { type RunningServer, removeDataDir, startTestServer } from "../server/client.ts";

describe("agent with a server", { timeout: 120_000 }, () => {
  let s: RunningServer;
  let dir: string;
  let agentFile: string;
  const quiet = () => {};

  before(async () => {
    s = await startTestServer({ database: null });
    dir = await mkdtemp(join(tmpdir(), "vigil-agent-server-"));
    const ok = async (method: string, path: string, body: unknown) => {
      const a = await s.call(method, path, body);
      assert.ok(a.status < 300, `${method} ${path}: ${a.status} ${JSON.stringify(a.body)}`);
      return a.body;
    };
    await ok("POST", "/api/v1/zones", { name: "z1" });
    // No admission control: these hosts report no capacity, and power-ons must reach the agent.
    await ok("POST", "/api/v1/clusters", {
      name: "c1",
      zone: "z1",
      settings: { admissionControl: { policy: "disabled" } },
    });
    await ok("POST", "/api/v1/datastores", { name: "ds1", cluster: "c1", path: "/srv/ds1" });
    await ok("POST", "/api/v1/datastores", { name: "ds2", cluster: "c1", path: "/srv/ds2" });
    let token = "";
    for (const [i, h] of ["h1", "h2"].entries()) {
      const host = await ok("POST", "/api/v1/hosts", {
        name: h,
        cluster: "c1",
        address: `198.18.0.${11 + i}`,
        cpus: 8,
        memoryMiB: 16384,
      });
      if (h === "h1") token = host.enrollmentToken;
    }
    await writeFile(join(dir, "enroll.token"), token);
    agentFile = join(dir, "agent.yaml");
    await writeFile(
      agentFile,
      stringify({
        host: "h1",
        stateDir: join(dir, "state"),
        server: { url: s.url, enrollTokenFile: join(dir, "enroll.token") },
        datastores: { ds1: join(dir, "mnt-ds1") },
      }),
    );
  });

  after(async () => {
    await s.stop();
    removeDataDir(s.dataDir);
  });

  it("enrolls once, caches the first configuration, and the agents' loader reads it", async () => {
    const agent = parseAgentFile(agentFile);
    const cacheDir = serverCacheDir(agent.stateDir);
    const link = new ServerLink(agent.server!, "h1", cacheDir);
    const cluster = await fetchFirstConfig(link, cacheDir, "h1", quiet);
    assert.deepEqual(
      cluster.spec.hosts.map((h) => h.name),
      ["h1", "h2"],
    );
    assert.equal(statSync(join(cacheDir, "credential")).mode & 0o777, 0o600);
    assert.equal(statSync(join(cacheDir, "cluster.secret")).mode & 0o777, 0o600);
    const loaded = loadAgentFiles(agentFile);
    // The host's own path wins; the other datastore's comes from the server.
    assert.deepEqual(loaded.agent.datastores, { ds1: join(dir, "mnt-ds1"), ds2: "/srv/ds2" });
    assert.equal(loaded.agent.secretFile, join(cacheDir, "cluster.secret"));
    // The token worked once: a second enrollment with it is refused.
    const again = await s.call("POST", "/api/v1/agent/enroll", {
      host: "h1",
      token: (await readFile(join(dir, "enroll.token"), "utf8")).trim(),
    });
    assert.equal(again.status, 401);
  });

  it("syncs: commands become engine inputs; events wait while the server is down", async () => {
    const agent = parseAgentFile(agentFile);
    const cacheDir = serverCacheDir(agent.stateDir);
    const link = new ServerLink(agent.server!, "h1", cacheDir);
    // A test double of the runtime: a fixed status (h1 is master) and a record of what is fed to it.
    const status: AgentStatus = {
      host: "h1",
      role: "master",
      master: "h1",
      isolated: false,
      maintenance: false,
      vms: [],
      hosts: { h1: "master", h2: "connected" },
      placement: {},
    };
    const fed: AgentInput[] = [];
    const applied: string[][] = [];
    const sync = new ServerSync({
      link,
      cacheDir,
      configVersion: readCachedMeta(cacheDir)!.version,
      status: () => status,
      feed: (input) => fed.push(input),
      applyConfig: (cluster) => applied.push(cluster.spec.vms.map((v) => v.name)),
      log: quiet,
    });
    sync.stop(); // no background loop: the test drives each sync with once()
    const vm = await s.call("POST", "/api/v1/vms", {
      name: "web1",
      cluster: "c1",
      host: "h1",
      cpus: 1,
      memoryMiB: 512,
    });
    assert.equal(vm.status, 201, JSON.stringify(vm.body));
    await sync.once();
    assert.deepEqual(applied, [["web1"]]);
    assert.deepEqual(fed, [{ type: "powerOnRequested", vm: "web1", host: "h1" }]);
    assert.equal((await s.call("GET", "/api/v1/hosts/h1")).body.state, "master");

    await s.stop();
    sync.record({ type: "vmStarted", host: "h1", vm: "web1", epoch: 1, proof: "initialPowerOn" });
    await sync.once(); // the server is down: nothing lost, nothing thrown
    const port = Number(new URL(s.url).port);
    s = await startTestServer({ database: null, dataDir: s.dataDir, port });
    await sync.once();
    const events = await s.call("GET", "/api/v1/events?type=vmStarted");
    assert.equal(events.body.items.length, 1, JSON.stringify(events.body));
    assert.equal(events.body.items[0].vm, "web1");
    assert.equal(events.body.items[0].data.proof, "initialPowerOn");
    // The command was acknowledged: the next sync brings nothing new.
    await sync.once();
    assert.equal(fed.length, 1);
  });

  it("refuses a configuration its own parser refuses, or with unsafe file names, and writes nothing", async () => {
    const cacheDir = join(dir, "other-cache");
    const base = { version: 9, secrets: {}, isolationAddresses: [], datastorePaths: {} };
    await assert.rejects(
      storeServerConfig(cacheDir, { ...base, clusterYaml: "hosts: 3\n" }),
      (e: unknown) => e instanceof ScenarioError && /name: required key is missing/.test(e.message),
    );
    await assert.rejects(
      storeServerConfig(cacheDir, {
        ...base,
        clusterYaml: "",
        secrets: { "../../etc/passwd": "x" },
      }),
      (e: unknown) => e instanceof ScenarioError && /not an acceptable file name/.test(e.message),
    );
    assert.equal(existsSync(cacheDir), false);
  });
});
