// Why: the Redfish driver's promises beyond the shared contract: a standard client (Debian's
// redfishtool) agrees with our BMC, so the BMC is not just shaped to our driver; wrong passwords,
// closed ports, frozen BMCs, untrusted certificates and bad replies map to the right PowerError kinds;
// AllowableValues are honoured; and the password never shows up.
// Every assert.ok carries a message (see power.test.ts: without one Node 20 + tsx can spin).
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { inspect, promisify } from "node:util";
import { PowerError } from "../../src/power/power.ts";
import { RedfishDriver } from "../../src/power/redfish/redfish-driver.ts";
import { freeTcpPort, opensslInstalled, RedfishSim } from "../../src/power/redfish/redfish-sim.ts";

const execFileP = promisify(execFile);
const skip = (await opensslInstalled())
  ? false
  : "openssl is not installed; the Redfish driver is NOT tested";
const skipRedfishtool =
  skip ||
  (spawnSync("sh", ["-c", "command -v redfishtool"], { stdio: "ignore" }).status === 0
    ? false
    : "redfishtool is not installed (apt-get install redfishtool); our BMC is NOT checked against it");

async function powerErrorOf(call: Promise<unknown>): Promise<PowerError> {
  const err = await call.then(
    () => assert.fail("the call succeeded"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof PowerError, `expected a PowerError, got ${String(err)}`);
  return err;
}

describe("RedfishSim checked with Debian's redfishtool", { skip: skipRedfishtool }, () => {
  const password = "Tool-Secret-5521";
  let bmc: RedfishSim;
  before(async () => {
    bmc = new RedfishSim({ password, power: "on" });
    await bmc.start();
  });
  after(async () => {
    await bmc?.stop();
  });

  /** redfishtool over HTTPS (`-S Always`; it does not verify certificates), JSON output parsed. */
  async function redfishtool(...args: string[]): Promise<string> {
    const { stdout } = await execFileP(
      "redfishtool",
      ["-r", `127.0.0.1:${bmc.port}`, "-u", bmc.user, "-p", password, "-S", "Always", "-T", "5", ...args],
      { timeout: 20_000 },
    );
    return stdout;
  }

  it("reads the Systems collection and the PowerState", async (t) => {
    const systems = JSON.parse(await redfishtool("Systems")) as { Members: { "@odata.id": string }[] };
    assert.deepEqual(systems.Members, [{ "@odata.id": "/redfish/v1/Systems/1" }]);
    const out = await redfishtool("-P", "PowerState", "Systems", "get");
    t.diagnostic(`redfishtool -P PowerState Systems get: ${out.replace(/\s+/g, " ").trim()}`);
    assert.deepEqual(JSON.parse(out), { PowerState: "On" });
  });

  it("powers the system off and on with Systems reset ForceOff / On, seen by the driver too", async () => {
    const driver = bmc.driver();
    assert.equal(await driver.status(), "on");
    await redfishtool("Systems", "reset", "ForceOff");
    assert.deepEqual(JSON.parse(await redfishtool("-P", "PowerState", "Systems", "get")), {
      PowerState: "Off",
    });
    assert.equal(await driver.status(), "off");
    assert.equal(await bmc.powerState(), "off");
    await redfishtool("Systems", "reset", "On");
    assert.deepEqual(JSON.parse(await redfishtool("-P", "PowerState", "Systems", "get")), {
      PowerState: "On",
    });
    assert.equal(await driver.status(), "on");
    const log = (await bmc.hookLog()).map((l) => l.replace(/^\S+ /, ""));
    assert.deepEqual(log.slice(-2), ["reset ForceOff", "reset On"]);
  });

  it("redfishtool is refused a ResetType outside AllowableValues and a wrong password", async () => {
    await assert.rejects(redfishtool("Systems", "reset", "Nmi"), /not supported by the remote service/);
    await assert.rejects(
      execFileP("redfishtool", [
        "-r",
        `127.0.0.1:${bmc.port}`,
        "-u",
        "admin",
        "-p",
        "nope",
        "-S",
        "Always",
        "Systems",
      ]),
      /401/,
    );
  });
});

describe("RedfishDriver failure kinds and options", { skip }, () => {
  const password = "Fence-Secret-7734";
  let bmc: RedfishSim;
  let markers: string;
  before(async () => {
    markers = await mkdtemp(join(tmpdir(), "vigil-redfish-test-"));
    bmc = new RedfishSim({
      password,
      onPowerOff: `echo off >> ${join(markers, "off.log")}`,
      onPowerOn: `echo on >> ${join(markers, "on.log")}`,
    });
    await bmc.start();
  });
  after(async () => {
    await bmc?.stop();
    await rm(markers, { recursive: true, force: true });
  });

  it("a wrong password is an auth PowerError that does not contain either password", async () => {
    const wrong = "Wrong-Pass-3318";
    const err = await powerErrorOf(bmc.driver({ password: wrong }).status());
    assert.equal(err.kind, "auth", err.message);
    assert.match(err.message, /authentication failed \(HTTP 401/);
    assert.ok(!err.message.includes(wrong) && !err.message.includes(password), err.message);
    assert.ok(!inspect(err).includes(wrong), "inspect(err) shows the password");
    const unknownUser = await powerErrorOf(bmc.driver({ user: "nobody" }).off());
    assert.equal(unknownUser.kind, "auth", unknownUser.message);
    assert.match(unknownUser.message, /power off: authentication failed/, "the message names the call");
  });

  it("the password is in no message, and inspect of the driver does not show it", async () => {
    const driver = bmc.driver();
    for (const shown of [
      inspect(driver, { showHidden: true, depth: 5 }),
      driver.target,
      JSON.stringify(driver),
    ])
      assert.ok(!shown.includes(password), `password shown: ${shown}`);
  });

  it("a closed port is unreachable, after the retry, well within the call timeout", async (t) => {
    const driver = new RedfishDriver({
      address: "127.0.0.1",
      port: await freeTcpPort(),
      user: "admin",
      password,
      insecureTls: true,
    });
    const startedAt = performance.now();
    const err = await powerErrorOf(driver.status());
    const tookMs = Math.round(performance.now() - startedAt);
    t.diagnostic(`closed port: ${err.kind} after ${tookMs} ms: ${err.message}`);
    assert.equal(err.kind, "unreachable", err.message);
    assert.match(err.message, /connection refused/);
    assert.ok(tookMs < 1000, `took ${tookMs} ms`);
  });

  it("a frozen BMC (SIGSTOP, as lab bmc-fail) is a timeout at callTimeoutMs", async () => {
    const frozen = new RedfishSim();
    await frozen.start();
    const pid = frozen.pid;
    assert.ok(pid !== undefined, "no pid");
    try {
      process.kill(-pid, "SIGSTOP");
      const startedAt = performance.now();
      const err = await powerErrorOf(frozen.driver({ callTimeoutMs: 400 }).off());
      const tookMs = performance.now() - startedAt;
      assert.equal(err.kind, "timeout", err.message);
      assert.ok(tookMs < 900, `took ${Math.round(tookMs)} ms`);
      const fence = await frozen
        .driver({ callTimeoutMs: 400 })
        .fence({ deadlineMs: 1000, pollIntervalMs: 50 });
      assert.equal(fence.poweredOff, false, fence.detail);
      process.kill(-pid, "SIGCONT");
      assert.equal(await frozen.driver().status(), "on", "it answers again once thawed");
    } finally {
      await frozen.stop();
    }
  });

  it("the certificate is checked unless insecureTls: untrusted is a config error, its own cert as ca works", async () => {
    const strict = bmc.driver({ insecureTls: false });
    const err = await powerErrorOf(strict.status());
    assert.equal(err.kind, "config", err.message);
    assert.match(err.message, /certificate is not trusted.*insecureTls/);
    const pinned = bmc.driver({ insecureTls: false, ca: await bmc.certificate() });
    assert.equal(await pinned.status(), "on");
  });

  it("fence runs the off hook before status says Off; on runs the on hook", async () => {
    const driver = bmc.driver();
    await driver.on();
    const result = await driver.fence({ pollIntervalMs: 50 });
    assert.equal(result.poweredOff, true, result.detail);
    assert.match(result.detail, /after 1 poll/);
    assert.match(await readFile(join(markers, "off.log"), "utf8"), /off\n$/);
    await driver.on();
    let onLog = "";
    for (let i = 0; i < 100 && onLog === ""; i++) {
      onLog = await readFile(join(markers, "on.log"), "utf8").catch(() => "");
      if (onLog === "") await sleep(20);
    }
    assert.equal(onLog, "on\n");
  });

  it("an unknown systemId is rejected with the BMC's 404 message", async () => {
    const err = await powerErrorOf(bmc.driver({ systemId: "9" }).status());
    assert.equal(err.kind, "rejected", err.message);
    assert.match(err.message, /system 9 power status: GET \/redfish\/v1\/Systems\/9: HTTP 404: no resource/);
  });

  it("measures ms per status call", async (t) => {
    const driver = bmc.driver();
    const runs = 10;
    const startedAt = performance.now();
    for (let i = 0; i < runs; i++) await driver.status();
    const perCallMs = (performance.now() - startedAt) / runs;
    t.diagnostic(
      `redfish status over HTTPS: ${perCallMs.toFixed(1)} ms per call (${runs} calls, new TLS connection each)`,
    );
    assert.ok(perCallMs < 1000, `${perCallMs} ms per call`);
  });
});

describe("RedfishSim process lifetime", { skip }, () => {
  it("keepAfterExit: the BMC outlives its Node process; by default it dies with it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vigil-redfish-owner-"));
    const script = join(dir, "owner.mts");
    const simModule = new URL("../../src/power/redfish/redfish-sim.ts", import.meta.url).href;
    await writeFile(
      script,
      `import { RedfishSim } from ${JSON.stringify(simModule)};
const bmc = new RedfishSim({ keepAfterExit: process.argv[2] === "keep", dir: process.argv[3] });
await bmc.start();
console.log(JSON.stringify({ port: bmc.port, pid: bmc.pid, password: bmc.password }));\n`,
    );
    try {
      for (const mode of ["keep", "default"] as const) {
        const bmcDir = join(dir, mode);
        const { stdout } = await execFileP(process.execPath, ["--import", "tsx", script, mode, bmcDir]);
        const { port, pid, password } = JSON.parse(stdout) as { port: number; pid: number; password: string };
        const driver = new RedfishDriver({
          address: "127.0.0.1",
          port,
          user: "admin",
          password,
          insecureTls: true,
        });
        if (mode === "keep") {
          assert.equal(await driver.status(), "on", "the kept BMC does not answer");
          assert.equal(Number(await readFile(join(bmcDir, "bmc.pid"), "utf8")), pid, "bmc.pid");
          process.kill(-pid, "SIGKILL");
        } else {
          let err: unknown;
          for (let i = 0; i < 50; i++) {
            err = await driver.status().catch((e: unknown) => e);
            if (err instanceof PowerError) break;
            await sleep(20);
          }
          assert.ok(
            err instanceof PowerError && err.kind === "unreachable",
            `the BMC still answers: ${String(err)}`,
          );
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("RedfishDriver honours ResetType@Redfish.AllowableValues", { skip }, () => {
  let bmc: RedfishSim;
  before(async () => {
    bmc = new RedfishSim({ resetTypes: ["On", "ForceOff"], cycleOffMs: 100 });
    await bmc.start();
  });
  after(async () => {
    await bmc?.stop();
  });

  it("cycle without PowerCycle is ForceOff, then On", async () => {
    const driver = bmc.driver({ cycleOffMs: 100 });
    await driver.on();
    const before = (await bmc.hookLog()).length;
    await driver.cycle();
    assert.equal(await driver.status(), "on");
    const log = (await bmc.hookLog()).slice(before).map((l) => l.replace(/^\S+ /, ""));
    assert.deepEqual(log, ["reset ForceOff", "reset On"]);
  });

  it("soft and reset, not allowed, are rejected naming what the BMC allows; nothing is sent", async () => {
    const driver = bmc.driver();
    const before = (await bmc.hookLog()).length;
    for (const call of [driver.soft(), driver.reset()]) {
      const err = await powerErrorOf(call);
      assert.equal(err.kind, "rejected", err.message);
      assert.match(err.message, /allows no ResetType for it \(wanted \w+; allowed: On, ForceOff\)/);
    }
    assert.equal((await bmc.hookLog()).length, before, "a reset was sent anyway");
  });
});

describe("RedfishDriver against hand-written Redfish replies (plain HTTP on 127.0.0.1)", () => {
  let server: Server;
  let port: number;
  let powerState: unknown = "On";
  let members = ["/redfish/v1/Systems/a"];
  const posted: unknown[] = [];
  before(async () => {
    server = createServer((req, res) => {
      const reply = (body: unknown, status = 200) => {
        res.writeHead(status, { "Content-Type": "application/json" });
        res.end(body === undefined ? "" : JSON.stringify(body));
      };
      if (req.url === "/redfish/v1/Systems")
        return reply({ Members: members.map((m) => ({ "@odata.id": m })) });
      if (req.url === "/redfish/v1/Systems/a")
        return reply({
          PowerState: powerState,
          Actions: { "#ComputerSystem.Reset": { target: "/reset/a", "@Redfish.ActionInfo": "/info/a" } },
        });
      if (req.url === "/info/a")
        return reply({ Parameters: [{ Name: "ResetType", AllowableValues: ["ForceOn", "ForceOff"] }] });
      if (req.url === "/reset/a" && req.method === "POST") {
        let body = "";
        req.on("data", (c: Buffer) => {
          body += c.toString();
        });
        req.on("end", () => {
          posted.push(JSON.parse(body));
          reply(undefined, 204);
        });
        return;
      }
      reply({ error: { message: "nope" } }, 404);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const bound = server.address();
    port = typeof bound === "object" && bound !== null ? bound.port : 0;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const driver = () =>
    new RedfishDriver({ address: "127.0.0.1", port, scheme: "http", user: "u", password: "p-1" });

  it("PoweringOff, PoweringOn and Paused are on (not yet safely off); an unknown PowerState is a protocol error", async () => {
    for (const state of ["PoweringOff", "PoweringOn", "Paused", "On"]) {
      powerState = state;
      assert.equal(await driver().status(), "on", state);
    }
    powerState = "Off";
    assert.equal(await driver().status(), "off");
    powerState = "Sideways";
    const err = await powerErrorOf(driver().status());
    assert.equal(err.kind, "protocol", err.message);
    assert.match(err.message, /unexpected PowerState "Sideways"/);
    powerState = "On";
  });

  it("reads AllowableValues from @Redfish.ActionInfo and uses the action's own target", async () => {
    posted.length = 0;
    await driver().on();
    await driver().off();
    assert.deepEqual(posted, [{ ResetType: "ForceOn" }, { ResetType: "ForceOff" }]);
  });

  it("several systems without systemId is a config error naming them", async () => {
    members = ["/redfish/v1/Systems/a", "/redfish/v1/Systems/b"];
    try {
      const err = await powerErrorOf(driver().status());
      assert.equal(err.kind, "config", err.message);
      assert.match(
        err.message,
        /2 systems \(\/redfish\/v1\/Systems\/a, \/redfish\/v1\/Systems\/b\); set systemId/,
      );
      const chosen = new RedfishDriver({
        address: "127.0.0.1",
        port,
        scheme: "http",
        user: "u",
        password: "p-1",
        systemId: "a",
      });
      assert.equal(await chosen.status(), "on");
    } finally {
      members = ["/redfish/v1/Systems/a"];
    }
  });
});

describe("RedfishDriver against a service that is not Redfish", () => {
  let server: Server;
  let port: number;
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === "/redfish/v1/Systems") {
        res.writeHead(200, { "Content-Type": "text/html" });
        res.end("<html>a web UI</html>");
      } else {
        res.writeHead(500);
        res.end("oops");
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const bound = server.address();
    port = typeof bound === "object" && bound !== null ? bound.port : 0;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("a reply that is not JSON is a protocol error", async () => {
    const driver = new RedfishDriver({
      address: "127.0.0.1",
      port,
      scheme: "http",
      user: "u",
      password: "p-1",
    });
    const err = await powerErrorOf(driver.status());
    assert.equal(err.kind, "protocol", err.message);
    assert.match(err.message, /not JSON/);
  });

  it("HTTPS to a plain HTTP port is a protocol error", async () => {
    const driver = new RedfishDriver({
      address: "127.0.0.1",
      port,
      user: "u",
      password: "p-1",
      insecureTls: true,
    });
    const err = await powerErrorOf(driver.status());
    assert.equal(err.kind, "protocol", err.message);
  });

  it("bad options are config errors naming the field", () => {
    const base = { address: "127.0.0.1", user: "u", password: "p-1" };
    assert.throws(() => new RedfishDriver({ ...base, password: "" }), /password is empty/);
    assert.throws(() => new RedfishDriver({ ...base, port: 70000 }), /port must be 1-65535/);
    assert.throws(() => new RedfishDriver({ ...base, retries: -1 }), /retries must be/);
    assert.throws(() => new RedfishDriver({ ...base, systemId: "../x" }), /systemId/);
  });
});
