// Why: fencing is the step that makes restarting a dead host's VMs safe, so the power drivers are
// tested against a real BMC (ipmi_sim + ipmitool) as well as the in-memory double, and the
// password-handling promises (not in argv, not in messages) are checked on the live process.
// Every assert.ok here carries a message: a failing assert.ok without one makes Node 20 re-parse the
// source to build a message, which under tsx's transform can spin at 100% CPU instead of failing.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { inspect, promisify } from "node:util";
import { freeUdpPort, IpmiSim, ipmiToolsInstalled } from "../../src/power/ipmi/ipmi-sim.ts";
import { IpmitoolDriver } from "../../src/power/ipmi/ipmitool-driver.ts";
import { fenceWith, PowerError } from "../../src/power/power.ts";
import { RedfishDriver } from "../../src/power/redfish/redfish-driver.ts";
import { freeTcpPort, opensslInstalled, RedfishSim } from "../../src/power/redfish/redfish-sim.ts";
import { SimPower } from "../../src/power/sim/sim-power.ts";
import { powerContract } from "../contract/power.contract.ts";

const execFileP = promisify(execFile);

const skipIpmi = ipmiToolsInstalled()
  ? false
  : "ipmi_sim and/or ipmitool are not installed (apt-get install openipmi ipmitool); the ipmitool driver is NOT tested";

powerContract("SimPower (test double)", async () => ({
  driver: new SimPower({ delayMs: 2 }),
  silent: new SimPower({ name: "dead-bmc", failure: "BMC does not answer", delayMs: 20 }),
  silentFailsWithinMs: 500,
  close: async () => {},
}));

powerContract(
  "IpmitoolDriver on ipmi_sim",
  async () => {
    const bmc = new IpmiSim({ password: "contract-Pw-7731" });
    await bmc.start();
    const closedPort = await freeUdpPort();
    return {
      driver: bmc.driver(),
      silent: new IpmitoolDriver({
        address: "127.0.0.1",
        port: closedPort,
        user: "admin",
        password: "x-Pw-1",
      }),
      silentFailsWithinMs: 4000,
      close: () => bmc.stop(),
    };
  },
  { skip: skipIpmi },
);

powerContract(
  "RedfishDriver on RedfishSim (HTTPS)",
  async () => {
    const bmc = new RedfishSim({ password: "contract-Pw-8842", cycleOffMs: 300 });
    await bmc.start();
    return {
      driver: bmc.driver(),
      silent: new RedfishDriver({
        address: "127.0.0.1",
        port: await freeTcpPort(),
        user: "admin",
        password: "x-Pw-1",
        insecureTls: true,
      }),
      silentFailsWithinMs: 2000,
      close: () => bmc.stop(),
    };
  },
  { skip: (await opensslInstalled()) ? false : "openssl is not installed; the Redfish driver is NOT tested" },
);

describe("fenceWith (the shared fence procedure)", () => {
  it("keeps polling until a slow BMC reports off", async () => {
    const bmc = new SimPower({ offLagMs: 300 });
    const result = await bmc.fence({ deadlineMs: 3000, pollIntervalMs: 50 });
    assert.equal(result.poweredOff, true, result.detail);
    const polls = Number(/after (\d+) poll/.exec(result.detail)?.[1]);
    assert.ok(polls >= 3, `expected several polls, detail: ${result.detail}`);
    assert.deepEqual(bmc.calls.slice(0, 2), ["off", "status"]);
  });

  it("gives up at the deadline when status stays on", async () => {
    const bmc = new SimPower({ offLagMs: 60_000 });
    const startedAt = performance.now();
    const result = await bmc.fence({ deadlineMs: 400, pollIntervalMs: 50 });
    const tookMs = performance.now() - startedAt;
    assert.equal(result.poweredOff, false);
    assert.match(result.detail, /not confirmed within 400 ms.*status still on/);
    assert.ok(tookMs < 700, `took ${Math.round(tookMs)} ms`);
  });

  it("does not wait past the deadline for a hanging off call", async () => {
    const bmc = new SimPower({ delayMs: 2000 });
    const startedAt = performance.now();
    const result = await bmc.fence({ deadlineMs: 300 });
    assert.equal(result.poweredOff, false);
    assert.match(result.detail, /did not finish within 300 ms/);
    assert.ok(performance.now() - startedAt < 600, "fence waited past its deadline");
  });

  it("turns an off failure into poweredOff false with the reason", async () => {
    const bmc = new SimPower({ failure: "BMC does not answer" });
    const result = await bmc.fence({ deadlineMs: 1000 });
    assert.deepEqual(result, {
      poweredOff: false,
      detail: "power off failed: sim sim-bmc power off: BMC does not answer",
    });
    assert.equal(bmc.power, "on");
  });

  it("reports the last status error when off worked but status keeps failing", async () => {
    const driver = {
      target: "flaky",
      off: async () => {},
      status: async (): Promise<"on" | "off"> => {
        throw new PowerError("unreachable", "flaky power status: BMC does not answer");
      },
    };
    const result = await fenceWith(driver, { deadlineMs: 300, pollIntervalMs: 50 });
    assert.equal(result.poweredOff, false);
    assert.match(result.detail, /last: status failed: flaky power status: BMC does not answer/);
  });
});

/** The pid of a running ipmitool whose argv holds `-p <port>`, read from /proc. */
function findIpmitool(port: number): number | undefined {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      const p = argv.indexOf("-p");
      if (argv[0]?.endsWith("ipmitool") && p >= 0 && argv[p + 1] === String(port)) return Number(entry);
    } catch {
      // the process ended while we looked
    }
  }
  return undefined;
}

describe("IpmitoolDriver and IpmiSim specifics", { skip: skipIpmi }, () => {
  const password = "Fence-Secret-4821";
  let bmc: IpmiSim;
  let markers: string;

  before(async () => {
    markers = await mkdtemp(join(tmpdir(), "vigil-power-test-"));
    bmc = new IpmiSim({
      password,
      power: "on",
      onPowerOff: `echo off >> ${join(markers, "off.log")}`,
      onPowerOn: `echo on >> ${join(markers, "on.log")}`,
    });
    await bmc.start();
  });
  after(async () => {
    await bmc?.stop();
    await rm(markers, { recursive: true, force: true });
  });

  it("a wrong password gives an auth PowerError that does not contain the password", async () => {
    const wrong = "Wrong-Pass-9917";
    const driver = bmc.driver({ password: wrong });
    const err = await driver.status().then(
      () => assert.fail("status succeeded with a wrong password"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof PowerError, String(err));
    assert.equal(err.kind, "auth", err.message);
    assert.match(err.message, /authentication failed/);
    assert.ok(!err.message.includes(wrong) && !err.message.includes(password), err.message);
    assert.ok(!inspect(err).includes(wrong), "inspect(err) shows the password");
  });

  it("an unknown user gives an auth PowerError", async () => {
    await assert.rejects(bmc.driver({ user: "nobody" }).status(), (e: unknown) => {
      return e instanceof PowerError && e.kind === "auth";
    });
  });

  it("an unreachable BMC (closed port) fails as unreachable within the per-call timeout", async (t) => {
    const driver = new IpmitoolDriver({
      address: "127.0.0.1",
      port: await freeUdpPort(),
      user: "admin",
      password,
    });
    const startedAt = performance.now();
    const err = await driver.status().catch((e: unknown) => e);
    const tookMs = Math.round(performance.now() - startedAt);
    t.diagnostic(`closed port: failed after ${tookMs} ms (callTimeoutMs ${driver.callTimeoutMs})`);
    assert.ok(err instanceof PowerError, String(err));
    assert.equal(err.kind, "unreachable", err.message);
    assert.match(err.message, /does not answer/);
    assert.ok(tookMs < driver.callTimeoutMs, `took ${tookMs} ms`);
  });

  it("the per-call timeout kills ipmitool", async () => {
    const port = await freeUdpPort();
    const driver = new IpmitoolDriver({
      address: "127.0.0.1",
      port,
      user: "admin",
      password,
      callTimeoutMs: 300,
    });
    const startedAt = performance.now();
    const err = await driver.off().catch((e: unknown) => e);
    assert.ok(err instanceof PowerError && err.kind === "timeout", String(err));
    assert.ok(performance.now() - startedAt < 1000, "the 300 ms call timeout did not end the call");
    assert.equal(findIpmitool(port), undefined, "ipmitool still runs after its timeout");
  });

  it("the password is in ipmitool's environment, never in its argv", async () => {
    const port = await freeUdpPort();
    const driver = new IpmitoolDriver({ address: "127.0.0.1", port, user: "admin", password });
    assert.ok(!driver.argsFor("off").some((a) => a.includes(password)), "argsFor() holds the password");
    assert.ok(
      !inspect(driver, { showHidden: true, depth: 5 }).includes(password),
      "inspect shows the password",
    );
    const call = driver.status().catch((e: unknown) => e); // a closed port: ipmitool lives for ~2 s
    let pid: number | undefined;
    for (let i = 0; i < 100 && pid === undefined; i++) {
      pid = findIpmitool(port);
      if (pid === undefined) await sleep(10);
    }
    assert.ok(pid !== undefined, "did not see the ipmitool process");
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    const environ = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    assert.ok(argv.includes("-E"), `argv lacks -E: ${argv.split("\0").join(" ")}`);
    assert.ok(!argv.includes(password), "the password is in argv");
    // ipmitool masks a -P value with X's once it runs, so also require the exact argv we promise.
    assert.deepEqual(argv.split("\0").slice(1, -1), driver.argsFor("status"), "argv differs from argsFor()");
    assert.ok(!argv.split("\0").includes("-P"), "ipmitool was given -P");
    assert.ok(
      environ.includes(`IPMI_PASSWORD=${password}`),
      "the password is not in the child's environment",
    );
    const err = await call;
    assert.ok(err instanceof PowerError && !err.message.includes(password), `bad error: ${String(err)}`);
  });

  it("fence runs the hook's onPowerOff command and the BMC records set power 0", async (t) => {
    const driver = bmc.driver();
    await driver.on();
    const offLog = join(markers, "off.log");
    const before = await readFile(offLog, "utf8").catch(() => "");
    const hookCallsBefore = (await bmc.hookLog()).length;
    const startedAt = performance.now();
    const result = await driver.fence({ pollIntervalMs: 50 });
    const tookMs = Math.round(performance.now() - startedAt);
    t.diagnostic(`fence on ipmi_sim: ${tookMs} ms (${result.detail})`);
    assert.equal(result.poweredOff, true, result.detail);
    assert.equal(await readFile(offLog, "utf8"), `${before}off\n`);
    assert.equal(await bmc.powerState(), "off");
    const hookCalls = (await bmc.hookLog()).slice(hookCallsBefore).map((l) => l.replace(/^\S+ /, ""));
    assert.deepEqual(hookCalls.slice(0, 2), ["set power 0", "get power"]);
  });

  it("on runs the hook's onPowerOn command", async () => {
    const driver = bmc.driver();
    await driver.off();
    const onLog = join(markers, "on.log");
    const before = await readFile(onLog, "utf8").catch(() => "");
    await driver.on();
    let now = before;
    for (let i = 0; i < 100 && now === before; i++) {
      await sleep(20); // onPowerOn runs detached
      now = await readFile(onLog, "utf8").catch(() => "");
    }
    assert.equal(now, `${before}on\n`);
    assert.equal(await bmc.powerState(), "on");
  });

  it("measures ms per ipmitool call", async (t) => {
    const driver = bmc.driver();
    const runs = 10;
    const startedAt = performance.now();
    for (let i = 0; i < runs; i++) await driver.status();
    const perCallMs = (performance.now() - startedAt) / runs;
    t.diagnostic(`ipmitool chassis power status: ${perCallMs.toFixed(1)} ms per call (${runs} calls)`);
    assert.ok(perCallMs < 1000, `${perCallMs} ms per call`);
  });

  it("stop() kills ipmi_sim and removes its state dir", async () => {
    const other = new IpmiSim();
    await other.start();
    const dir = other.dir;
    const simPid = Number(await readFile(join(dir, "ipmi_sim.pid"), "utf8"));
    assert.ok(simPid > 0 && existsSync(`/proc/${simPid}`), `ipmi_sim pid ${simPid} is not running`);
    await other.stop();
    const state = existsSync(`/proc/${simPid}`) ? readFileSync(`/proc/${simPid}/stat`, "utf8") : "gone";
    assert.ok(state === "gone" || / Z /.test(state), `ipmi_sim still runs: ${state}`);
    await assert.rejects(readFile(join(dir, "lan.conf")), /ENOENT/);
    await other.stop(); // twice is fine
  });

  it("keepAfterExit: ipmi_sim outlives its Node process; by default it dies with it", async () => {
    const script = join(markers, "owner.mts");
    const simModule = new URL("../../src/power/ipmi/ipmi-sim.ts", import.meta.url).href;
    await writeFile(
      script,
      `import { IpmiSim } from ${JSON.stringify(simModule)};
const bmc = new IpmiSim({ keepAfterExit: process.argv[2] === "keep", dir: process.argv[3] });
await bmc.start();
console.log(JSON.stringify({ port: bmc.port, password: bmc.password }));\n`,
    );
    for (const mode of ["keep", "default"] as const) {
      const dir = await mkdtemp(join(tmpdir(), "vigil-power-owner-"));
      try {
        const { stdout } = await execFileP(process.execPath, ["--import", "tsx", script, mode, dir]);
        const { port, password: pw } = JSON.parse(stdout) as { port: number; password: string };
        const simPid = Number(await readFile(join(dir, "ipmi_sim.pid"), "utf8"));
        await sleep(300); // let the default mode's watchdog act
        const running =
          existsSync(`/proc/${simPid}`) && !/ Z /.test(readFileSync(`/proc/${simPid}/stat`, "utf8"));
        if (mode === "keep") {
          assert.ok(running, "ipmi_sim died with its Node process despite keepAfterExit");
          const driver = new IpmitoolDriver({ address: "127.0.0.1", port, user: "admin", password: pw });
          assert.equal(await driver.status(), "on");
          process.kill(-simPid, "SIGKILL");
        } else {
          assert.ok(!running, "ipmi_sim outlived its Node process without keepAfterExit");
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  });
});
