// `vigil sim run` and `vigil sim fuzz`: the simulator for people (a readable timeline) and for
// scripts (--json), with exit codes 0 (all held), 1 (an expectation or invariant failed), 2 (bad file).
import { fmt } from "../sim/expect.ts";
import { type FuzzOptions, livenessBoundMs, runFuzzSeed } from "../sim/fuzz.ts";
import { type RunResult, runScenario } from "../sim/runner.ts";
import { loadScenarioFile, ScenarioError } from "../sim/scenario.ts";

export interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
}

export function simRun(files: string[], options: { json?: boolean; quiet?: boolean }, io: Output): number {
  let worst = 0;
  const results: unknown[] = [];
  for (const file of files) {
    let result: RunResult;
    try {
      result = runScenario(loadScenarioFile(file));
    } catch (error) {
      if (error instanceof ScenarioError) {
        if (options.json === true)
          results.push({
            file,
            valid: false,
            error: error.message,
            path: error.path,
            line: error.line ?? null,
          });
        else io.err(`${file}${error.line === undefined ? "" : `:${error.line}`}: ${error.message}`);
        worst = Math.max(worst, 2);
        continue;
      }
      throw error;
    }
    if (!result.ok) worst = Math.max(worst, 1);
    if (options.json === true) {
      results.push({
        file,
        valid: true,
        scenario: result.scenario,
        seed: result.seed,
        ok: result.ok,
        endMs: result.endMs,
        expectations: result.expectations.map((e) => ({ ...e, atMs: Math.round(e.atMs) })),
        violations: result.violations.map((v) => ({ ...v, atMs: Math.round(v.atMs) })),
        timeline: result.timeline.map((t) => ({
          atMs: Math.round(t.atMs),
          host: t.host,
          type: t.type,
          text: t.text,
        })),
      });
      continue;
    }
    printRun(file, result, options.quiet === true, io);
  }
  if (options.json === true) io.out(JSON.stringify(files.length === 1 ? results[0] : results, null, 2));
  return worst;
}

function printRun(file: string, result: RunResult, quiet: boolean, io: Output): void {
  io.out(`# ${result.scenario} (${file}, seed ${result.seed})`);
  if (!quiet) {
    for (const t of result.timeline) {
      if (t.type === "vmGone") continue;
      io.out(`${fmt(t.atMs).padStart(10)}  ${t.host.padEnd(6)} ${t.type.padEnd(24)} ${t.text}`);
    }
  }
  for (const e of result.expectations) {
    const mark = e.ok ? "ok  " : "FAIL";
    const detail = e.ok ? "" : ` at ${fmt(e.atMs)}: saw ${e.seen}`;
    io.out(`${mark} expect[${e.index}] ${e.text}${detail}`);
  }
  for (const v of result.violations) io.out(`FAIL invariant ${v.checker} at ${fmt(v.atMs)}: ${v.message}`);
  io.out(result.ok ? "PASS" : "FAIL");
}

export interface FuzzCommandOptions extends FuzzOptions {
  seeds: number;
  firstSeed: number;
  json: boolean;
  breakRule: string | null;
}

export function fuzzCommand(options: FuzzCommandOptions, io: Output): number {
  const failing: { seed: number; checker: string; message: string; atMs: number }[] = [];
  let events = 0;
  let simulatedMs = 0;
  const startedAt = performance.now();
  const agentOptions = options.breakRule === "restartWithoutProof" ? { unsafeRestartWithoutProof: true } : {};
  for (let seed = options.firstSeed; seed < options.firstSeed + options.seeds; seed++) {
    const run = runFuzzSeed(seed, {
      hosts: options.hosts,
      vms: options.vms,
      durationMs: options.durationMs,
      agentOptions,
    });
    events += run.eventsProcessed;
    simulatedMs += run.simulatedMs;
    if (!run.ok) {
      const first = run.violations[0]!;
      failing.push({ seed, checker: first.checker, message: first.message, atMs: Math.round(first.atMs) });
      if (!options.json) {
        io.out(`seed ${seed}: ${first.checker} at ${fmt(first.atMs)}: ${first.message}`);
        io.out(`  reproduce: ${reproduceCommand(seed, options)}`);
      }
    }
  }
  const wallMs = performance.now() - startedAt;
  const summary = {
    seeds: options.seeds,
    failing: failing.length,
    hosts: options.hosts,
    vms: options.vms,
    faultPhaseMs: options.durationMs,
    livenessBoundMs,
    wallMs: Math.round(wallMs),
    simulatedSecondsPerWallSecond: Math.round(simulatedMs / wallMs),
    events,
  };
  if (options.json)
    io.out(
      JSON.stringify(
        {
          ...summary,
          failures: failing.map((f) => ({ ...f, reproduce: reproduceCommand(f.seed, options) })),
        },
        null,
        2,
      ),
    );
  else {
    io.out(
      `${options.seeds} seed(s), ${failing.length} with violations; ${options.hosts} hosts, ${options.vms} VMs, ` +
        `${options.durationMs / 1000}s of faults + ${livenessBoundMs / 1000}s liveness bound; ` +
        `${(wallMs / 1000).toFixed(1)}s wall, ${summary.simulatedSecondsPerWallSecond} simulated s per wall s`,
    );
  }
  return failing.length === 0 ? 0 : 1;
}

export function reproduceCommand(seed: number, options: FuzzCommandOptions): string {
  const parts = [
    "npx vigil sim fuzz --seeds 1",
    `--first-seed ${seed}`,
    `--hosts ${options.hosts}`,
    `--vms ${options.vms}`,
    `--duration ${options.durationMs}ms`,
  ];
  if (options.breakRule !== null) parts.push(`--break ${options.breakRule}`);
  return parts.join(" ");
}
