// The fuzzer and its checkers: clean runs stay clean, a deliberately broken rule is caught, the
// printed command reproduces the failure, and one seed gives the same run byte for byte.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fuzzCommand } from "../../src/cli/sim-commands.ts";
import { runFuzzSeed } from "../../src/sim/fuzz.ts";
import { runScenario } from "../../src/sim/runner.ts";
import { loadScenarioFile } from "../../src/sim/scenario.ts";

const root = join(import.meta.dirname, "..", "..");

function capture() {
  const lines: string[] = [];
  return { lines, io: { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) } };
}

describe("fuzzer", () => {
  it("finds no violation on healthy rules", () => {
    for (let seed = 1; seed <= 5; seed++) {
      const run = runFuzzSeed(seed, { hosts: 5, vms: 20, durationMs: 60_000 });
      assert.deepEqual(run.violations, [], `seed ${seed}`);
    }
  });

  it("catches a restart without proof, and the printed command reproduces it", () => {
    const { lines, io } = capture();
    const code = fuzzCommand(
      {
        seeds: 3,
        firstSeed: 1,
        hosts: 5,
        vms: 20,
        durationMs: 60_000,
        json: false,
        breakRule: "restartWithoutProof",
      },
      io,
    );
    assert.equal(code, 1);
    const failure = lines.find((l) => l.startsWith("seed "));
    const reproduce = lines.find((l) => l.trim().startsWith("reproduce: "));
    assert.ok(failure !== undefined && reproduce !== undefined, lines.join("\n"));
    assert.match(failure, /restartProof|neverTwice/);
    const args = reproduce.trim().replace("reproduce: npx vigil ", "").split(" ");
    let output = "";
    let exit = 0;
    try {
      output = execFileSync(process.execPath, [join(root, "bin", "vigil.js"), ...args], { encoding: "utf8" });
    } catch (error) {
      const e = error as { status: number; stdout: string };
      exit = e.status;
      output = e.stdout;
    }
    assert.equal(exit, 1);
    assert.ok(output.includes(failure), `reproduction printed:\n${output}\nexpected the line:\n${failure}`);
  });

  it("is deterministic: the same seed gives the same timeline", () => {
    const file = join(root, "tests", "scenarios", "slave-crash.yaml");
    const a = runScenario(loadScenarioFile(file));
    const b = runScenario(loadScenarioFile(file));
    const text = (r: typeof a) => JSON.stringify(r.timeline.map((t) => [t.atMs, t.host, t.type, t.text]));
    assert.equal(text(a), text(b));
    const x = runFuzzSeed(7, { hosts: 4, vms: 12, durationMs: 30_000 });
    const y = runFuzzSeed(7, { hosts: 4, vms: 12, durationMs: 30_000 });
    assert.deepEqual(x, y);
  });
});
