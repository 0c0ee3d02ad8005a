// The management server's acceptance story, end to end on the lab (root only): a real `vigil server`
// configures real agents. HA is enabled on the zone and the cluster with its hosts, IPMI out-of-band
// management on every host, each host's HA state becomes Available; three HA VMs are created on one
// host, which is then powered off through out-of-band management; the VMs run on other hosts and the
// events explain why. Then the same with the server stopped right after the VMs are created.
import assert from "node:assert/strict";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as lab from "../../src/lab/lab.ts";
import { apiCaller, labServerOf, startLabServer, stopLabServer } from "../../src/lab/lab-server.ts";
import { gatewayAddress } from "../../src/lab/net.ts";
import { IpmitoolDriver } from "../../src/power/ipmi/ipmitool-driver.ts";
import { DoubleRunObserver, takeLabLock, waitFor } from "./helpers.ts";
import { allPlaced, placement } from "./lab-helpers.ts";

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

// biome-ignore lint/suspicious/noExplicitAny: the test reads the API's JSON answers
type Json = any;

/** Each VM runs on exactly one host, none of them on `not`: the hosts, else null. */
async function runningOnce(state: lab.LabState, vms: string[], not: string[]): Promise<string[] | null> {
  const p = await allPlaced(state, not, vms);
  return p === null ? null : vms.map((vm) => p.get(vm)![0]!);
}

/** Waits until every VM of `vms` runs once, none of them on `victim`. */
async function movedOff(state: lab.LabState, vms: string[], victim: string): Promise<void> {
  const moved = await waitFor(
    "the VMs running on other hosts",
    () => runningOnce(state, vms, [victim]),
    60_000,
    100,
  );
  assert.ok(moved.every((h) => h !== victim));
}

/** Every agent's log lines and status entry naming `vm`: what a failed wait shows. */
async function hostLogsAbout(state: lab.LabState, vm: string): Promise<string> {
  const lines: string[] = [];
  for (const host of state.hosts) {
    const dir = lab.hostDir(state, host.name);
    const log = await readFile(join(dir, "agent.log"), "utf8").catch(() => "");
    lines.push(...log.split("\n").filter((l) => l.includes(`"${vm}"`) || l.includes("migrat")));
    const status = await readFile(join(dir, "state", "status.json"), "utf8").catch(() => "{}");
    lines.push(`${host.name} status: ${status.slice(0, 600)}`);
  }
  return lines.join("\n");
}

describe("server story on the lab: HA enabled through the API, OOBM power off, VMs move", {
  skip: isRoot ? false : "needs root (network namespaces)",
  timeout: 600_000,
}, () => {
  let state: lab.LabState;
  let observer: DoubleRunObserver;
  let release: () => void = () => {};
  const server = () => labServerOf(state.dir);

  const api = async (method: string, path: string, body?: unknown): Promise<Json> =>
    await apiCaller(server().url, server().adminTokenFile)(method, path, body);

  async function haStates(): Promise<Record<string, string>> {
    const hosts = (await api("GET", "/hosts?cluster=lab")).items as Json[];
    return Object.fromEntries(hosts.map((h) => [h.name, h.haState]));
  }

  async function events(type: string): Promise<Json[]> {
    return ((await api("GET", `/events?type=${type}&limit=500`)).items as Json[]) ?? [];
  }

  before(async () => {
    release = await takeLabLock();
    const dir = await mkdtemp(join(tmpdir(), "vigil-story-"));
    state = await lab.up(
      { dir, hosts: 4, vms: 0, datastores: 2, bmc: true, fast: true, server: true },
      () => {},
    );
    observer = new DoubleRunObserver(() => placement(state));
    observer.start();
  });

  after(async () => {
    observer?.stop();
    // VIGIL_KEEP_LAB=1 leaves the lab (and its logs) for a look after a failure; `vigil lab down --dir`.
    if (state !== undefined && process.env.VIGIL_KEEP_LAB !== "1") await lab.down(state.dir, () => {});
    release();
  });

  it("every host enrolls and reports; HA is Disabled until enabled", async () => {
    await waitFor(
      "every agent enrolled and reporting",
      async () => {
        const hosts = (await api("GET", "/hosts?cluster=lab")).items as Json[];
        return (
          hosts.length === 4 &&
          hosts.every((h) => h.enrolled && h.lastReportAt !== null && h.state !== "unknown")
        );
      },
      60_000,
      500,
    );
    assert.deepEqual(Object.values(await haStates()), ["Disabled", "Disabled", "Disabled", "Disabled"]);
  });

  it("HA on the zone and the cluster with its hosts, IPMI OOBM on every host: all Available", async () => {
    await api("POST", "/zones/lab-zone/ha", { enabled: true });
    await api("POST", "/clusters/lab/ha", { enabled: true, includeHosts: true });
    assert.deepEqual(new Set(Object.values(await haStates())), new Set(["Ineligible"]));
    const password = (await readFile(join(state.dir, "bmc.pw"), "utf8")).trim();
    for (const host of state.hosts) {
      await api("PUT", `/hosts/${host.name}/oobm`, {
        driver: "ipmitool",
        address: gatewayAddress,
        port: host.bmcPort,
        user: "admin",
        password,
      });
      await api("POST", `/hosts/${host.name}/oobm/enabled`, { enabled: true });
      const status = await api("POST", `/hosts/${host.name}/oobm/power`, { action: "STATUS" });
      assert.equal(status.powerState, "On", JSON.stringify(status));
    }
    await waitFor(
      "every host Available",
      async () => Object.values(await haStates()).every((s) => s === "Available"),
      30_000,
      500,
    );
  });

  it("three HA VMs on one host; OOBM power OFF of that host; they run elsewhere, events say why", async () => {
    await api("POST", "/offerings", { name: "ha-small", cpus: 1, memoryMiB: 512, offerHa: true });
    const victim = "h2";
    const vms = ["web1", "web2", "web3"];
    for (const vm of vms) {
      const created = await api("POST", "/vms", {
        name: vm,
        cluster: "lab",
        offering: "ha-small",
        host: victim,
      });
      assert.equal(created.ha, true);
    }
    await waitFor("the three VMs on h2", () => runningOnce(state, vms, ["h1", "h3", "h4"]), 60_000, 250);
    const off = await api("POST", `/hosts/${victim}/oobm/power`, { action: "OFF" });
    assert.equal(off.powerState, "Off", JSON.stringify(off));
    await movedOff(state, vms, victim);
    // The server hears of it from the master: where the VMs run, and the events that explain it.
    await waitFor(
      "the server shows the VMs on other hosts",
      async () => {
        const listed = (await api("GET", "/vms?cluster=lab")).items as Json[];
        return vms.every((vm) => {
          const v = listed.find((x) => x.name === vm);
          return v?.state === "running" && v.host !== victim && v.host !== null;
        });
      },
      30_000,
      500,
    );
    await waitFor(
      "events: h2 declared dead, and each VM started with a proof",
      async () => {
        const dead = (await events("hostDeclaredDead")).some((e) => e.data?.subject === victim);
        const started = await events("vmStarted");
        return (
          dead && vms.every((vm) => started.some((e) => e.vm === vm && e.data?.epoch > 1 && e.data?.proof))
        );
      },
      30_000,
      500,
    );
    assert.equal((await haStates())[victim] === "Available", false);
    assert.deepEqual(observer.violations, []);
  });

  it("a user's move: web1 goes to the host asked for (a clean stop and start: the process driver cannot migrate live)", async () => {
    const listed = (await api("GET", "/vms?cluster=lab")).items as Json[];
    const from = listed.find((v) => v.name === "web1").host as string;
    const to = ["h1", "h3", "h4"].find((h) => h !== from)!;
    const answer = await api("POST", "/vms/web1/migrate", { host: to });
    assert.deepEqual(answer, { vm: "web1", from, to, accepted: true });
    await waitFor(
      "web1 on the host asked for",
      () =>
        runningOnce(
          state,
          ["web1"],
          ["h1", "h2", "h3", "h4"].filter((h) => h !== to),
        ),
      60_000,
      100,
    ).catch(async (error: unknown) => {
      throw new Error(
        `${String(error)}; what the hosts said about web1:\n${await hostLogsAbout(state, "web1")}`,
      );
    });
    await waitFor(
      "the master's migrationStarted event at the server",
      async () => (await events("migrationStarted")).some((e) => e.vm === "web1" && e.data?.target === to),
      15_000,
      500,
    );
    assert.deepEqual(observer.violations, []);
  });

  it("with the server stopped right after the VMs are created, they still move", async () => {
    await api("POST", "/hosts/h2/oobm/power", { action: "ON" });
    await waitFor("h2 back and Available", async () => (await haStates()).h2 === "Available", 60_000, 500);
    const victim = "h3";
    const vms = ["db1", "db2", "db3"];
    for (const vm of vms)
      await api("POST", "/vms", { name: vm, cluster: "lab", offering: "ha-small", host: victim });
    await waitFor("the three VMs on h3", () => runningOnce(state, vms, ["h1", "h2", "h4"]), 60_000, 250);
    await stopLabServer(server());
    // No server: the BMC is asked directly, as an operator (or a power loss) would.
    const password = (await readFile(join(state.dir, "bmc.pw"), "utf8")).trim();
    const host = state.hosts.find((h) => h.name === victim)!;
    await new IpmitoolDriver({ address: gatewayAddress, port: host.bmcPort!, user: "admin", password }).off();
    await movedOff(state, vms, victim);
    // Started again, the server learns what happened while it was away: nothing was lost.
    await startLabServer(server());
    await waitFor(
      "the events from while the server was down",
      async () => {
        const started = await events("vmStarted");
        return vms.every((vm) => started.some((e) => e.vm === vm && e.data?.epoch > 1));
      },
      30_000,
      500,
    );
    assert.deepEqual(observer.violations, []);
  });
});
