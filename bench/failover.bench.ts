// Benchmark (not a test; needs root): crash one slave of a 5-host lab with 50 VMs, repeatedly, and
// print p50, p95 and max of (a) the time until the master declares it dead and (b) the time until all
// of its VMs run elsewhere, with BMC fencing and lease-only, at the default and fast timing profiles;
// then the same two figures for a master crash.
// Usage: npx tsx bench/failover.bench.ts [runs=10] [config, e.g. bmc-fast-slave] [keepSlowerThanMs=15000]
import { cp, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as lab from "../src/lab/lab.ts";

const runs = Number(process.argv[2] ?? 10);
/** Runs slower than this keep every host's agent log in /tmp/vigil-bench-slow-*. */
const keepSlowerThanMs = Number(process.argv[4] ?? 15_000);

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function placement(state: lab.LabState): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const h of state.hosts)
    for (const vm of await lab.vmsRunningOn(h.name)) out.set(vm, [...(out.get(vm) ?? []), h.name]);
  return out;
}

async function until<T>(check: () => Promise<T | null>, timeoutMs: number, pollMs = 50): Promise<T | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await check();
    if (v !== null) return v;
    await sleep(pollMs);
  }
  return null;
}

async function masterOf(state: lab.LabState): Promise<string | null> {
  const m = (await lab.status(state)).filter((h) => h.role === "master");
  return m.length === 1 ? m[0]!.host : null;
}

async function whole(state: lab.LabState): Promise<boolean> {
  const p = await placement(state);
  return (await masterOf(state)) !== null && state.vms.every((vm) => (p.get(vm) ?? []).length === 1);
}

/** When a master's log first says `subject` is dead, after `sinceMs` (wall clock). */
async function declaredDeadAt(state: lab.LabState, subject: string, sinceMs: number): Promise<number | null> {
  for (const h of state.hosts) {
    const log = await readFile(join(lab.hostDir(state, h.name), "agent.log"), "utf8").catch(() => "");
    for (const line of log.split("\n")) {
      if (!line.includes('"hostDeclaredDead"') || !line.includes(`"subject":"${subject}"`)) continue;
      const time = Number(/"time":(\d+)/.exec(line)?.[1]);
      if (time >= sinceMs) return time;
    }
  }
  return null;
}

function stats(values: number[]): string {
  if (values.length === 0) return "no samples";
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return `p50 ${(at(0.5) / 1000).toFixed(2)} s, p95 ${(at(0.95) / 1000).toFixed(2)} s, max ${(s[s.length - 1]! / 1000).toFixed(2)} s (n=${s.length})`;
}

async function measure(bmc: boolean, fast: boolean, victimIsMaster: boolean): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "vigil-bench-"));
  const state = await lab.up({ dir, hosts: 5, vms: 50, datastores: 2, bmc, fast }, () => {});
  const dead: number[] = [];
  const back: number[] = [];
  try {
    // A lab that never got whole (a VM never autostarted) would make every run wait 90 s for it.
    if ((await until(async () => ((await whole(state)) ? true : null), 90_000, 250)) === null) {
      const p = await placement(state);
      const missing = state.vms.filter((vm) => (p.get(vm) ?? []).length !== 1);
      throw new Error(`the lab never got whole; not running exactly once: ${missing.join(" ")}`);
    }
    for (let i = 0; i < runs; i++) {
      const master = await until(() => masterOf(state), 60_000, 250);
      if (master === null) throw new Error("no master in the lab");
      // The busiest slave (after a crash its VMs live elsewhere: there is no failback).
      let victim = master;
      let vms = await lab.vmsRunningOn(master);
      if (!victimIsMaster) {
        vms = [];
        for (const h of state.hosts) {
          if (h.name === master) continue;
          const on = await lab.vmsRunningOn(h.name);
          if (on.length > vms.length) {
            victim = h.name;
            vms = on;
          }
        }
      }
      const crashedAt = Date.now();
      await lab.crash(state, victim);
      const movedAt = await until(async () => {
        const p = await placement(state);
        return vms.every((vm) => (p.get(vm) ?? []).some((h) => h !== victim)) ? Date.now() : null;
      }, 120_000);
      const deadAt = await until(() => declaredDeadAt(state, victim, crashedAt), 30_000, 250);
      if (movedAt !== null) back.push(movedAt - crashedAt);
      if (movedAt === null || movedAt - crashedAt > keepSlowerThanMs) {
        // Keep the evidence of a slow run: every host's agent log, with the crash time.
        const keep = await mkdtemp(join(tmpdir(), "vigil-bench-slow-"));
        for (const h of state.hosts)
          await cp(join(lab.hostDir(state, h.name), "agent.log"), join(keep, `${h.name}.log`)).catch(
            () => {},
          );
        await writeFile(
          join(keep, "crash.txt"),
          `${victim} crashed at ${crashedAt} (wall ms); VMs ${vms.join(" ")}\n`,
        );
        console.log(`slow run kept in ${keep}`);
      }
      if (deadAt !== null) dead.push(deadAt - crashedAt);
      await lab.power(state, victim, true);
      await until(async () => ((await whole(state)) ? true : null), 90_000, 250);
    }
  } finally {
    await lab.down(dir, () => {});
  }
  const label = `${victimIsMaster ? "master" : "slave"} crash, ${fast ? "fast" : "default"} timings, ${bmc ? "BMC fencing" : "lease only"}`;
  console.log(`${label}: declared dead ${stats(dead)}; all VMs elsewhere ${stats(back)}`);
}

const only = process.argv[3];
const configs: [boolean, boolean, boolean][] = [
  [true, false, false],
  [false, false, false],
  [true, true, false],
  [false, true, false],
  [true, false, true],
];
for (const [bmc, fast, master] of configs) {
  if (
    only !== undefined &&
    only !== `${bmc ? "bmc" : "lease"}-${fast ? "fast" : "default"}-${master ? "master" : "slave"}`
  )
    continue;
  await measure(bmc, fast, master);
}
