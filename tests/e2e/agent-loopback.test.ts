// Real agents, keepers and VMs (process driver) on loopback addresses, with real files as
// datastores and the fast timing profile; no root needed. A host "crash" kills its agent, keeper and
// VMs; an independent observer polls the process table every 100 ms for a VM running twice.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { stringify } from "yaml";
import { DoubleRunObserver, runningVms, sleep, waitFor } from "./helpers.ts";

const bin = join(import.meta.dirname, "..", "..", "bin", "vigil.js");
const hosts = ["h1", "h2", "h3"];
const port = 20000 + (process.pid % 10000);
const marker = { key: "VIGIL_TEST", value: `loopback-${process.pid}` };

let dir = "";
const agents = new Map<string, ChildProcess>();

async function startAgent(host: string): Promise<void> {
  const log = await import("node:fs").then((fs) => fs.openSync(join(dir, host, "agent.log"), "a"));
  const child = spawn(process.execPath, [bin, "agent", "--config", join(dir, host, "agent.yaml")], {
    env: { ...process.env, [marker.key]: marker.value },
    stdio: ["ignore", log, log],
    detached: true,
  });
  child.unref();
  agents.set(host, child);
}

/** VM name -> hosts it runs on, from the VM processes' environment. */
async function placement(): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const [vm, pids] of await runningVms(marker)) {
    const where: string[] = [];
    for (const pid of pids) {
      const environ = await readFile(`/proc/${pid}/environ`, "utf8").catch(() => "");
      const host = environ
        .split("\0")
        .find((e) => e.startsWith("VIGIL_HOST="))
        ?.slice(11);
      if (host !== undefined) where.push(host);
    }
    out.set(vm, where);
  }
  return out;
}

function killTree(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, "SIGKILL");
    } catch {
      // Gone already.
    }
  }
}

/** Power loss of a loopback host: its agent, its keeper and its VMs die at once. */
async function crash(host: string): Promise<void> {
  const vmsDir = join(dir, host, "state", "vms");
  for (const file of await readdir(vmsDir).catch(() => [] as string[])) {
    if (!file.endsWith(".json")) continue;
    const record = JSON.parse(await readFile(join(vmsDir, file), "utf8")) as { pid: number };
    killTree(record.pid);
  }
  const keeperPid = await pidOf(`${join(dir, host, "agent.yaml")}`, "keeper");
  if (keeperPid !== null) killTree(keeperPid);
  const agent = agents.get(host);
  if (agent?.pid !== undefined) killTree(agent.pid);
}

async function pidOf(config: string, role: "agent" | "keeper"): Promise<number | null> {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = (await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "")).split("\0");
    if (cmdline.includes(role) && cmdline.includes(config)) return Number(entry);
  }
  return null;
}

async function logs(host: string): Promise<string> {
  return await readFile(join(dir, host, "agent.log"), "utf8").catch(() => "");
}

describe("agents on loopback (fast profile, no BMC)", { timeout: 120_000 }, () => {
  const observer = new DoubleRunObserver(placement);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "vigil-loopback-"));
    await writeFile(join(dir, "secret"), randomBytes(32).toString("hex"));
    for (const ds of ["ds1", "ds2"]) await mkdir(join(dir, ds));
    const cluster = {
      name: "loopback",
      clusterId: "loop",
      timingProfile: "fast",
      cluster: { isolationResponse: "powerOff" },
      datastores: ["ds1", "ds2"],
      hosts: hosts.map((name) => ({ name, cpus: 8, memoryMiB: 16384, bmc: false })),
      vms: [
        { name: "web1", host: "h2", cpus: 1, memoryMiB: 512, datastore: "ds1" },
        { name: "web2", host: "h2", cpus: 1, memoryMiB: 512, datastore: "ds2" },
        { name: "db1", host: "h3", cpus: 1, memoryMiB: 512, datastore: "ds1" },
      ],
      network: Object.fromEntries(hosts.map((h, i) => [h, { address: `127.0.0.${11 + i}`, port }])),
      commands: { default: { command: ["sleep", "infinity"] } },
    };
    await writeFile(join(dir, "cluster.yaml"), stringify(cluster));
    for (const host of hosts) {
      await mkdir(join(dir, host));
      const agent = {
        host,
        clusterFile: "../cluster.yaml",
        stateDir: "state",
        secretFile: "../secret",
        datastores: { ds1: "../ds1", ds2: "../ds2" },
        isolationAddresses: ["127.0.0.1"],
      };
      await writeFile(join(dir, host, "agent.yaml"), stringify(agent));
    }
    for (const host of hosts) await startAgent(host);
    observer.start();
  });

  after(async () => {
    observer.stop();
    for (const host of hosts) await crash(host);
    await sleep(200);
    await rm(dir, { recursive: true, force: true });
  });

  it("elects one master and powers on every VM where the cluster file says", async () => {
    const placed = await waitFor(
      "all three VMs running",
      async () => {
        const p = await placement();
        return p.size === 3 ? p : null;
      },
      40_000,
    );
    assert.deepEqual(placed.get("web1"), ["h2"]);
    assert.deepEqual(placed.get("db1"), ["h3"]);
    const masters = (await Promise.all(hosts.map(logs))).filter((l) => l.includes('"masterElected"'));
    assert.equal(masters.length, 1, "exactly one host was elected master");
  });

  it("an agent crash leaves its VMs running and nothing restarts", async () => {
    const agent = agents.get("h3")!;
    killTree(agent.pid!);
    await sleep(6000);
    const p = await placement();
    assert.deepEqual(p.get("db1"), ["h3"], "db1 stays on h3 with its agent dead");
    await startAgent("h3");
    await sleep(3000);
    assert.deepEqual((await placement()).get("db1"), ["h3"]);
  });

  it("a crashed host's VMs run elsewhere after lease expiry, never twice", async () => {
    const crashedAt = Date.now();
    await crash("h2");
    const p = await waitFor(
      "web1 and web2 running on another host",
      async () => {
        const now = await placement();
        const ok = ["web1", "web2"].every((vm) => (now.get(vm) ?? []).some((h) => h !== "h2"));
        return ok ? now : null;
      },
      30_000,
    );
    const seconds = (Date.now() - crashedAt) / 1000;
    for (const vm of ["web1", "web2"]) assert.ok(!(p.get(vm) ?? []).includes("h2"));
    // The start is logged once the driver sees the VM stay up (its start grace), after it appears.
    const started = await waitFor(
      "the restart in the logs",
      async () =>
        (await Promise.all(hosts.map(logs))).join("\n").match(/"vm":"web1","epoch":2,"proof":"(\w+)"/),
      5000,
    );
    assert.equal(started[1], "leaseExpired", "no BMC: only lease expiry can prove the old copy dead");
    assert.ok(seconds < 20, `restarted after ${seconds} s`);
    assert.deepEqual(observer.violations, []);
  });
});
