// The lab with Redfish BMCs (root only; run under `flock /tmp/vigil-lab.lock`, the lab's namespaces
// and bridge are machine-wide): every host's BMC is an HTTPS Redfish service on the gateway address;
// Debian's redfishtool reads it; a crashed host is fenced by the master over Redfish (ForceOff, then
// PowerState Off confirmed) and its VMs run elsewhere, never twice.
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import * as lab from "../../src/lab/lab.ts";
import { RedfishDriver } from "../../src/power/redfish/redfish-driver.ts";
import { DoubleRunObserver, takeLabLock, waitFor } from "./helpers.ts";
import { allPlaced, masterOf, placement } from "./lab-helpers.ts";

const execFileP = promisify(execFile);
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const hasRedfishtool = spawnSync("sh", ["-c", "command -v redfishtool"], { stdio: "ignore" }).status === 0;

describe("lab with Redfish BMCs: 3 hosts, 6 VMs, fast profile", {
  skip: isRoot ? false : "needs root (network namespaces)",
  timeout: 300_000,
}, () => {
  let state: lab.LabState;
  let observer: DoubleRunObserver;
  let password: string;
  let release: () => void = () => {};

  before(async () => {
    release = await takeLabLock();
    const dir = await mkdtemp(join(tmpdir(), "vigil-lab-redfish-"));
    state = await lab.up(
      { dir, hosts: 3, vms: 6, datastores: 2, bmc: true, bmcKind: "redfish", fast: true },
      () => {},
    );
    password = (await readFile(join(state.dir, "bmc.pw"), "utf8")).trim();
    observer = new DoubleRunObserver(() => placement(state));
    observer.start();
    await waitFor("every VM running once", () => allPlaced(state), 60_000, 250);
  });

  after(async () => {
    observer?.stop();
    if (state !== undefined) await lab.down(state.dir, () => {});
    release();
  });

  const driverFor = (host: lab.LabHost) =>
    new RedfishDriver({
      address: "198.18.0.1",
      port: host.bmcPort!,
      user: "admin",
      password,
      insecureTls: true,
    });

  it("writes driver redfish BMC entries for the agents, and every BMC answers On", async () => {
    const cluster = await readFile(join(state.dir, "cluster.yaml"), "utf8");
    assert.equal(cluster.match(/driver: redfish/g)?.length, 3, cluster);
    assert.equal(cluster.match(/insecureTls: true/g)?.length, 3, cluster);
    for (const host of state.hosts) assert.equal(await driverFor(host).status(), "on", host.name);
  });

  it("redfishtool reads a lab BMC's PowerState", {
    skip: hasRedfishtool ? false : "no redfishtool",
  }, async (t) => {
    const host = state.hosts[0]!;
    const { stdout } = await execFileP(
      "redfishtool",
      [
        "-r",
        `198.18.0.1:${host.bmcPort}`,
        "-u",
        "admin",
        "-p",
        password,
        "-S",
        "Always",
        "-P",
        "PowerState",
        "Systems",
        "get",
      ],
      { timeout: 20_000 },
    );
    t.diagnostic(`redfishtool on ${host.name}'s BMC: ${stdout.replace(/\s+/g, " ").trim()}`);
    assert.deepEqual(JSON.parse(stdout), { PowerState: "On" });
  });

  it("a crashed slave is fenced over Redfish and its VMs run elsewhere", async (t) => {
    const victim = await busiestSlave();
    const had = await lab.vmsRunningOn(victim);
    assert.ok(had.length > 0, `${victim} runs VMs`);
    const startedAt = performance.now();
    await lab.crash(state, victim);
    const p = await waitFor("the victim's VMs elsewhere", () => allPlaced(state, [victim]), 30_000);
    t.diagnostic(
      `${victim} crashed; its ${had.length} VMs ran elsewhere after ${Math.round(performance.now() - startedAt)} ms`,
    );
    for (const vm of had) assert.notEqual(p.get(vm)?.[0], victim);
    const fenced = await waitFor(
      "a fence over Redfish in the logs",
      async () =>
        (await logs())
          .split("\n")
          .find(
            (l) =>
              l.includes('"fenceSucceeded"') && l.includes(victim) && l.includes("redfish admin@198.18.0.1"),
          ),
      10_000,
    );
    t.diagnostic(`fence: ${fenced.slice(0, 400)}`);
    const victimHost = state.hosts.find((h) => h.name === victim)!;
    assert.equal(await driverFor(victimHost).status(), "off", "the victim's BMC says Off");
    const bmcLog = await readFile(join(lab.hostDir(state, victim), "bmc", "hook.log"), "utf8");
    assert.match(bmcLog, /reset ForceOff/);
    assert.deepEqual(observer.violations, []);
    await restore();
  });

  const logs = async () =>
    (
      await Promise.all(
        state.hosts.map((h) => readFile(join(lab.hostDir(state, h.name), "agent.log"), "utf8")),
      )
    ).join("\n");

  /** The slave with the most VMs (they stay where they went after a failure: there is no failback). */
  async function busiestSlave(): Promise<string> {
    const master = await waitFor("one master", () => masterOf(state), 20_000);
    let victim = "";
    let most = -1;
    for (const h of state.hosts) {
      const n = (await lab.vmsRunningOn(h.name)).length;
      if (h.name !== master && n > most) {
        victim = h.name;
        most = n;
      }
    }
    return victim;
  }

  /** Heals everything and powers every host on, then waits until the cluster is whole again. */
  async function restore(): Promise<void> {
    await lab.heal(state, null);
    for (const h of state.hosts) await lab.power(state, h.name, true);
    for (const h of state.hosts) await lab.agentStart(state, h.name);
    await waitFor(
      "one master, every VM once",
      async () => (await masterOf(state)) !== null && (await allPlaced(state)),
      60_000,
      250,
    );
  }

  it("a frozen Redfish BMC (bmc-fail) times out; the crashed host's VMs come back by lease expiry", async (t) => {
    const victimName = await busiestSlave();
    const victim = state.hosts.find((h) => h.name === victimName)!;
    assert.ok((await lab.vmsRunningOn(victim.name)).length > 0, `${victim.name} runs VMs`);
    await lab.bmcFail(state, victim.name, true);
    const err = await driverFor(victim)
      .status()
      .then(
        () => null,
        (e: unknown) => e,
      );
    assert.ok(
      err instanceof Error && /no result within/.test(err.message),
      `frozen BMC answered: ${String(err)}`,
    );
    await lab.crash(state, victim.name);
    await waitFor(
      "the victim's VMs elsewhere by lease expiry",
      () => allPlaced(state, [victim.name]),
      60_000,
    );
    const failed = await waitFor(
      "a failed fence of the frozen BMC in the logs",
      async () =>
        (await logs())
          .split("\n")
          .find((l) => l.includes('"fenceFailed"') && l.includes(`"subject":"${victim.name}"`)),
      20_000,
    );
    t.diagnostic(`fence: ${failed.slice(0, 400)}`);
    assert.match(await logs(), /"proof":"leaseExpired"/);
    assert.deepEqual(observer.violations, []);
    await restore();
    const healed = await driverFor(victim).status();
    assert.ok(healed === "on" || healed === "off", "healed, the BMC answers again");
  });

  it("lab down kills every Redfish BMC process", async () => {
    const pids = await Promise.all(
      state.hosts.map(async (h) =>
        Number(await readFile(join(lab.hostDir(state, h.name), "bmc.pid"), "utf8")),
      ),
    );
    for (const pid of pids) assert.ok(pid > 0 && existsSync(`/proc/${pid}`), `BMC pid ${pid} not running`);
    observer.stop();
    await lab.down(state.dir, () => {});
    for (const pid of pids) {
      const stat = existsSync(`/proc/${pid}`) ? readFileSync(`/proc/${pid}/stat`, "utf8") : "gone";
      assert.ok(stat === "gone" || / Z /.test(stat), `BMC ${pid} survived lab down: ${stat}`);
    }
  });
});
