// Runs every scenario file in tests/scenarios: each must be valid and all its expectations and
// invariants must hold. A failure prints the scenario's verdict lines.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runScenario } from "../../src/sim/runner.ts";
import { loadScenarioFile } from "../../src/sim/scenario.ts";

const folder = join(import.meta.dirname, "..", "scenarios");
const files = readdirSync(folder)
  .filter((f) => f.endsWith(".yaml"))
  .sort();

describe("scenarios", () => {
  it("there are at least 40 of them", () => {
    assert.ok(files.length >= 40, `only ${files.length} scenario files`);
  });
  for (const file of files) {
    it(file, () => {
      const scenario = loadScenarioFile(join(folder, file));
      assert.ok(scenario.description.length > 0, `${file} has no description`);
      const result = runScenario(scenario);
      const failures = [
        ...result.expectations
          .filter((e) => !e.ok)
          .map((e) => `expect[${e.index}] ${e.text}: saw ${e.seen} at ${e.atMs} ms`),
        ...result.violations.map((v) => `invariant ${v.checker} at ${v.atMs} ms: ${v.message}`),
      ];
      assert.deepEqual(failures, []);
    });
  }
});
