// The `vigil` CLI against a real management server (SQLite in a temporary directory, loopback port
// 0): every command runs as a child process, as people run it, and is judged by what it printed and
// its exit code.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type RunningServer, removeDataDir, startTestServer } from "../server/client.ts";

const bin = join(import.meta.dirname, "..", "..", "bin", "vigil.js");

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe("vigil CLI against a running server", { timeout: 240_000 }, () => {
  let s: RunningServer;
  let home: string;
  /** The environment every run starts from: no token, no config, no server data directory. */
  let bareEnv: NodeJS.ProcessEnv;

  before(async () => {
    s = await startTestServer({ database: null });
    home = mkdtempSync(join(tmpdir(), "vigil-cli-"));
    mkdirSync(join(home, "no-server-data"));
    bareEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("VIGIL_")));
    Object.assign(bareEnv, {
      HOME: home,
      XDG_CONFIG_HOME: join(home, ".config"),
      VIGIL_DATA_DIR: join(home, "no-server-data"),
      VIGIL_CLI_CONFIG: join(home, "cli.json"),
    });
  });
  after(async () => {
    for (const child of running) child.kill();
    await s?.stop();
    removeDataDir(s?.dataDir ?? "");
    if (home !== undefined) rmSync(home, { recursive: true, force: true });
  });

  /** Children still running; a failed test must not leave a watch behind. */
  const running = new Set<ChildProcess>();
  const start = (args: string[], env: NodeJS.ProcessEnv): ChildProcess => {
    const child = spawn(process.execPath, [bin, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    running.add(child);
    child.on("exit", () => running.delete(child));
    return child;
  };

  /** Runs to the end; the in-process server keeps answering meanwhile (no spawnSync). */
  const finish = (child: ChildProcess): Promise<Ran> =>
    new Promise((resolve, reject) => {
      let stdout = "";
      let stderr = "";
      child.stdout!.on("data", (d) => {
        stdout += String(d);
      });
      child.stderr!.on("data", (d) => {
        stderr += String(d);
      });
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    });

  const adminEnv = () => ({ ...bareEnv, VIGIL_URL: s.url, VIGIL_TOKEN: s.adminToken });
  const vigil = (args: string[], env: NodeJS.ProcessEnv = adminEnv()) => finish(start(args, env));
  const ok = (r: Ran) => {
    assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  };
  const json = async (args: string[], env?: NodeJS.ProcessEnv) =>
    JSON.parse(ok(await vigil([...args, "--json"], env)).stdout);

  /** Resolves once the child's stderr matches, so a test can act after the child is listening. */
  const stderrMatches = (child: ChildProcess, pattern: RegExp, timeoutMs = 15_000) =>
    new Promise<void>((resolve, reject) => {
      let text = "";
      const timer = setTimeout(
        () => reject(new Error(`stderr never matched ${pattern}: ${text}`)),
        timeoutMs,
      );
      child.stderr!.on("data", (d) => {
        text += String(d);
        if (pattern.test(text)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });

  it("builds an inventory: zone, cluster, hosts, datastores, offering, VM", async () => {
    assert.match(ok(await vigil(["zone", "create", "z1"])).stdout, /^name\s+z1$/m);
    ok(await vigil(["cluster", "create", "c1", "--zone", "z1"]));
    for (const [i, h] of ["h1", "h2", "h3"].entries()) {
      const created = ok(
        await vigil([
          "host",
          "create",
          h,
          "--cluster",
          "c1",
          "--address",
          `198.18.1.${i + 1}`,
          "--cpus",
          "16",
          "--memory-mib",
          "32768",
          // h3 without a fault domain: the rendered cluster file must still be one agents accept.
          ...(i < 2 ? ["--fault-domain", `rack-${i}`] : []),
          ...(i === 0 ? ["--tags", "ssd,gpu"] : []),
        ]),
      );
      assert.match(
        created.stdout,
        new RegExp(`enrollment token for ${h} \\(shown once, works once\\): vgl_enroll_`),
      );
    }
    ok(await vigil(["datastore", "create", "ds1", "--cluster", "c1", "--path", "/srv/ds1"]));
    ok(await vigil(["datastore", "create", "ds2", "--cluster", "c1", "--path", "/srv/ds2"]));
    const offering = await json([
      "offering",
      "create",
      "small-ha",
      "--cpus",
      "2",
      "--memory-mib",
      "2048",
      "--ha",
    ]);
    assert.equal(offering.cpus, 2, "numbers go to the server as numbers");
    assert.equal(offering.offerHa, true);
    const vm = await json([
      "vm",
      "create",
      "web1",
      "--cluster",
      "c1",
      "--offering",
      "small-ha",
      "--no-start",
    ]);
    assert.equal(vm.memoryMiB, 2048);
    assert.equal(vm.ha, true);
    const inServer = await s.call("GET", "/api/v1/hosts/h1");
    assert.deepEqual(inServer.body.tags, ["ssd", "gpu"]);
    assert.equal(inServer.body.faultDomain, "rack-0");
  });

  it("lists as aligned tables and as the API's JSON, every page or one", async () => {
    const table = ok(await vigil(["host", "list"]))
      .stdout.trimEnd()
      .split("\n");
    assert.equal(table.length, 4, table.join("\n"));
    assert.match(table[0]!, /^NAME\s+CLUSTER\s+ADDRESS\s+STATE\s+HA\s+HA_STATE/);
    assert.deepEqual(
      table.slice(1).map((l) => l.split(/\s+/)[0]),
      ["h1", "h2", "h3"],
    );
    const stateAt = table[0]!.indexOf("STATE");
    for (const line of table.slice(1)) assert.equal(line.slice(stateAt).split(/\s+/)[0], "unknown", line);
    const all = await json(["host", "list"]);
    assert.equal(all.total, 3);
    assert.deepEqual(
      all.items.map((h: { name: string }) => h.name),
      ["h1", "h2", "h3"],
    );
    const page = await json(["host", "list", "--limit", "2", "--offset", "1"]);
    assert.deepEqual(
      page.items.map((h: { name: string }) => h.name),
      ["h2", "h3"],
    );
    assert.equal(page.total, 3);
    const vms = ok(await vigil(["vm", "list", "--cluster", "c1"])).stdout;
    assert.match(vms, /^NAME\s+STATE\s+HOST\s+CPUS\s+MEMORY_MIB/m);
    assert.match(vms, /^web1\s+\S+\s+-\s+2\s+2048\s+yes/m);
    assert.match(ok(await vigil(["offering", "list"])).stdout, /^small-ha\s+2\s+2048\s+yes/m);
    assert.match(ok(await vigil(["datastore", "list", "--cluster", "c1"])).stdout, /^ds2\s+c1\s+\/srv\/ds2/m);
    assert.match(ok(await vigil(["zone", "list", "--name", "nowhere"])).stdout, /^no zones$/m);
  });

  it("enables HA on the zone, the cluster with all its hosts, and a host", async () => {
    assert.match(ok(await vigil(["zone", "ha", "z1", "--enable"])).stdout, /^haEnabled\s+yes$/m);
    const cluster = await json(["cluster", "ha", "c1", "--enable", "--hosts"]);
    assert.equal(cluster.haEnabled, true);
    const h1 = await json(["host", "show", "h1"]);
    assert.equal(h1.haEnabled, true, "--hosts enabled HA on every host");
    assert.equal(h1.haState, "Ineligible", "no out-of-band management yet");
    ok(await vigil(["host", "ha", "h3", "--disable"]));
    assert.equal((await s.call("GET", "/api/v1/hosts/h3")).body.haState, "Disabled");
    ok(await vigil(["host", "ha", "h3", "--enable"]));
    const usage = await vigil(["zone", "ha", "z1"]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--enable.*--disable/);
  });

  it("shows the server's message naming the field, exit 1; bad usage exits 2", async () => {
    const wrongType = await vigil(["offering", "create", "x", "--cpus", "four", "--memory-mib", "1024"]);
    assert.equal(wrongType.code, 1, wrongType.stderr);
    assert.match(wrongType.stderr, /400 invalidInput.*body\.cpus/);
    const unknownCluster = await vigil([
      "vm",
      "create",
      "v9",
      "--cluster",
      "nope",
      "--cpus",
      "1",
      "--memory-mib",
      "64",
    ]);
    assert.equal(unknownCluster.code, 1);
    assert.match(unknownCluster.stderr, /body\.cluster: no cluster "nope"/);
    const unknownId = await vigil(["zone", "show", "nowhere"]);
    assert.equal(unknownId.code, 1);
    assert.match(unknownId.stderr, /404 notFound.*no zone "nowhere"/);
    const badSetting = await vigil(["cluster", "settings", "c1", "responses.isolation=sideways"]);
    assert.equal(badSetting.code, 1);
    assert.match(badSetting.stderr, /body\.responses\.isolation/);
    assert.equal(await s.call("GET", "/api/v1/offerings/x").then((a) => a.status), 404, "nothing was made");
    for (const args of [
      ["host", "list", "--limit", "0"],
      ["zone", "frobnicate"],
      ["oobm", "power", "h1", "explode"],
    ]) {
      const r = await vigil(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    }
  });

  it("says clearly when there is no token, naming how to give one", async () => {
    const r = await vigil(["zone", "list"], { ...bareEnv, VIGIL_URL: s.url });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no API token for http:\/\/127\.0\.0\.1:\d+/);
    assert.match(r.stderr, /--token.*VIGIL_TOKEN.*vigil login/);
    assert.equal(r.stdout, "");
    // On the server host, the server's own admin.token will do.
    const onServer = await vigil(["zone", "list"], {
      ...bareEnv,
      VIGIL_URL: s.url,
      VIGIL_DATA_DIR: s.dataDir,
    });
    assert.match(ok(onServer).stdout, /^z1\s/m);
  });

  it("names the URL of a server it cannot reach", async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const url = `http://127.0.0.1:${port}`;
    const r = await vigil(["zone", "list"], { ...adminEnv(), VIGIL_URL: url });
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(`cannot reach the server at ${url} (ECONNREFUSED)`), r.stderr);
  });

  it("refuses a viewer's write naming the role; a viewer still reads", async () => {
    const created = await json(["token", "create", "ro", "--role", "viewer"]);
    assert.match(created.token, /\S{16,}/);
    const list = ok(await vigil(["token", "list"])).stdout;
    assert.match(list, /^ro\s+viewer/m);
    assert.ok(!list.includes(created.token), "token secrets are never listed");
    const viewer = { ...adminEnv(), VIGIL_TOKEN: created.token };
    const denied = await vigil(["zone", "create", "z2"], viewer);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /403 forbidden.*needs the admin role; token ro is viewer/);
    assert.match(ok(await vigil(["zone", "list"], viewer)).stdout, /^z1\s+yes/m);
    const unknown = await vigil(["zone", "list"], { ...adminEnv(), VIGIL_TOKEN: "made-up-token-123456" });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /401 unauthenticated.*token from VIGIL_TOKEN was not accepted/);
  });

  it("logs in to a config file (0600) that later commands use", async () => {
    const config = join(home, "login", "cli.json");
    const env = { ...bareEnv, VIGIL_CLI_CONFIG: config };
    const refused = await vigil(["login", "--url", s.url, "--token", "made-up-token-123456"], env);
    assert.equal(refused.code, 1, "login checks the token");
    assert.throws(() => statSync(config), "nothing is written for a refused token");
    const tokenFile = join(home, "admin-token");
    writeFileSync(tokenFile, `${s.adminToken}\n`, { mode: 0o600 });
    assert.match(
      ok(await vigil(["login", "--url", s.url, "--token-file", tokenFile], env)).stdout,
      /logged in/,
    );
    assert.equal(statSync(config).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(readFileSync(config, "utf8")), { url: s.url, token: s.adminToken });
    const zones = await json(["zone", "list"], env);
    assert.deepEqual(
      zones.items.map((z: { name: string }) => z.name),
      ["z1"],
    );
    // The stored token belongs to the stored server: another URL does not get it.
    const elsewhere = await vigil(["zone", "list", "--url", "http://127.0.0.1:9"], env);
    assert.equal(elsewhere.code, 2);
    assert.match(elsewhere.stderr, /no API token for http:\/\/127\.0\.0\.1:9/);
    ok(await vigil(["logout"], env));
    assert.equal((await vigil(["zone", "list"], env)).code, 2, "no token after logout");
  });

  let credential = "";
  it("waits for a host to enter maintenance, with progress on stderr", async () => {
    const enroll = await s.call("POST", "/api/v1/hosts/h1/enrollment-token", {});
    const got = await s.call(
      "POST",
      "/api/v1/agent/enroll",
      { host: "h1", token: enroll.body.enrollmentToken },
      null,
    );
    assert.equal(got.status, 200);
    credential = got.body.credential as string;
    const masterReport = (h2: string) => ({
      configVersion: 0,
      role: "master",
      master: "h1",
      isolated: false,
      maintenance: false,
      vms: [],
      hosts: { h1: "master", h2, h3: "connected" },
      placement: {},
      events: [],
      done: [],
    });
    assert.equal(
      (await s.call("POST", "/api/v1/agent/sync", masterReport("connected"), credential)).status,
      200,
    );
    const child = start(["host", "maintenance", "h2", "--enable", "--wait", "--timeout", "30s"], adminEnv());
    const result = finish(child);
    await stderrMatches(child, /waiting for h2 to enter maintenance: state connected/);
    const requested = await s.call("GET", "/api/v1/events?type=maintenanceRequested&host=h2");
    assert.equal(requested.body.items.length, 1, "the CLI's request reached the server");
    // The master now reports h2 in maintenance, as it would once h2's agent has evacuated it.
    assert.equal(
      (await s.call("POST", "/api/v1/agent/sync", masterReport("maintenance"), credential)).status,
      200,
    );
    const r = ok(await result);
    assert.match(r.stderr, /enter maintenance requested for h2/);
    assert.match(r.stderr, /done: h2 to enter maintenance after \d+s/);
    assert.match(r.stdout, /^h2: state maintenance/m);
  });

  it("starts a VM and waits until the master reports it running", async () => {
    const child = start(["vm", "start", "web1", "--wait", "--timeout", "30s", "--json"], adminEnv());
    const result = finish(child);
    await stderrMatches(child, /waiting for web1 to run: (down|unknown)/);
    const report = {
      configVersion: 0,
      role: "master",
      master: "h1",
      isolated: false,
      maintenance: false,
      vms: [],
      hosts: { h1: "master", h2: "maintenance", h3: "connected" },
      placement: { web1: "h3" },
      events: [],
      done: [],
    };
    assert.equal((await s.call("POST", "/api/v1/agent/sync", report, credential)).status, 200);
    const r = ok(await result);
    assert.match(r.stderr, /done: web1 to run after \d+s/);
    const vm = JSON.parse(r.stdout);
    assert.equal(vm.state, "running");
    assert.equal(vm.host, "h3");
  });

  it("follows the event stream", async () => {
    const child = start(["event", "watch", "--type", "zoneCreated", "--count", "1", "--json"], adminEnv());
    const result = finish(child);
    await stderrMatches(child, /watching events at http:\/\/127\.0\.0\.1:\d+/);
    assert.equal((await s.call("POST", "/api/v1/zones", { name: "z-watched" })).status, 201);
    const r = ok(await result);
    const event = JSON.parse(r.stdout.trim());
    assert.equal(event.type, "zoneCreated");
    assert.match(event.message, /z-watched/);
    const listed = ok(await vigil(["event", "list", "--type", "zoneCreated"])).stdout;
    assert.match(listed, /^\s*\d+\s+\S+\s+info\s+zoneCreated\s+-\s+-\s+zone z-watched created$/m);
  });

  it("configures out-of-band management with the password from a file, never shown", async () => {
    const password = "s3cret-bmc-pass";
    const file = join(home, "bmc-password");
    writeFileSync(file, `${password}\n`, { mode: 0o600 });
    const configured = ok(
      await vigil([
        "oobm",
        "configure",
        "h1",
        "--driver",
        "ipmitool",
        "--address",
        "127.0.0.1",
        "--port",
        "9",
        "--user",
        "admin",
        "--password-file",
        file,
      ]),
    );
    assert.match(configured.stdout, /^passwordSet\s+yes$/m);
    const disabled = await vigil(["oobm", "power", "h1", "status"]);
    assert.equal(disabled.code, 1);
    assert.match(disabled.stderr, /409 refused.*out-of-band management of h1 is disabled/);
    assert.match(
      ok(await vigil(["oobm", "enable", "--cluster", "c1"])).stdout,
      /enabled on h1\nnot configured, skipped: h2, h3/,
    );
    const list = ok(await vigil(["oobm", "list"])).stdout;
    assert.match(list, /^h1\s+c1\s+ipmitool\s+127\.0\.0\.1\s+yes/m);
    ok(await vigil(["oobm", "disable", "h1"]));
    assert.equal((await s.call("GET", "/api/v1/hosts/h1")).body.oobm.enabled, false);
    for (const path of ["/api/v1/hosts", "/api/v1/events?limit=1000"])
      assert.ok(!JSON.stringify((await s.call("GET", path)).body).includes(password));
  });

  it("changes availability settings with key=value, keeping the other nested fields", async () => {
    const changed = await json([
      "cluster",
      "settings",
      "c1",
      "hostMonitoring=false",
      "responses.isolation=leaveOn",
      "timing.leaseTtlMs=40000",
    ]);
    assert.equal(changed.hostMonitoring, false);
    assert.equal(changed.responses.isolation, "leaveOn");
    assert.equal(changed.responses.hostFailure, "restart", "the rest of responses is kept");
    ok(await vigil(["cluster", "settings", "c1", "timing.renewPeriodMs=1500"]));
    const stored = (await s.call("GET", "/api/v1/clusters/c1/settings")).body;
    assert.deepEqual(
      stored.timing,
      { leaseTtlMs: 40000, renewPeriodMs: 1500 },
      "a dotted key keeps its siblings",
    );
    assert.match(ok(await vigil(["cluster", "settings", "c1"])).stdout, /^timing\.leaseTtlMs\s+40000$/m);
  });

  it("keeps watching events across a server restart, missing none", { timeout: 30_000 }, async () => {
    const child = start(["event", "watch", "--type", "zoneCreated", "--count", "2"], adminEnv());
    const result = finish(child);
    await stderrMatches(child, /watching events at/);
    assert.equal((await s.call("POST", "/api/v1/zones", { name: "z-before" })).status, 201);
    const reconnecting = stderrMatches(child, /reconnecting from event \d+/);
    const { dataDir } = s;
    const port = Number(new URL(s.url).port);
    await s.stop();
    await reconnecting;
    s = await startTestServer({ database: null, dataDir, port });
    assert.equal((await s.call("POST", "/api/v1/zones", { name: "z-after" })).status, 201);
    const r = ok(await result);
    assert.match(r.stdout, /zoneCreated {2}zone z-before created\n.*zoneCreated {2}zone z-after created\n$/);
  });
});
