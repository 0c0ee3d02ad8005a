// Why: one behavioural suite for every PowerDriver, so the in-memory double the simulator and runtime
// tests rely on stays honest against the ipmitool driver on a real BMC (ipmi_sim).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type PowerDriver, PowerError, type PowerState } from "../../src/power/power.ts";

export interface PowerSubject {
  /** A driver for a working BMC whose host starts in either state. */
  driver: PowerDriver;
  /** A driver of the same kind for a BMC that does not answer (closed port, injected failure). */
  silent: PowerDriver;
  /** A call to the silent BMC must have failed by then. */
  silentFailsWithinMs: number;
  close(): Promise<void>;
}

export interface PowerContractOptions {
  /** A reason string skips the whole suite with that message. */
  skip?: string | false;
}

async function eventually(driver: PowerDriver, want: PowerState, withinMs: number): Promise<PowerState> {
  const deadline = performance.now() + withinMs;
  let seen = await driver.status();
  while (seen !== want && performance.now() < deadline) {
    await sleep(50);
    seen = await driver.status();
  }
  return seen;
}

async function rejectsWithPowerError(call: Promise<unknown>): Promise<PowerError> {
  try {
    await call;
  } catch (err) {
    assert.ok(err instanceof PowerError, `expected a PowerError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected the call to reject");
}

export function powerContract(
  name: string,
  make: () => Promise<PowerSubject>,
  options: PowerContractOptions = {},
): void {
  describe(`power contract: ${name}`, { skip: options.skip ?? false }, () => {
    let s: PowerSubject | undefined;
    const subject = (): PowerSubject => {
      assert.ok(s !== undefined, "subject not created");
      return s;
    };

    before(async () => {
      s = await make();
    });
    after(async () => {
      await s?.close();
    });

    it("status answers on or off", async () => {
      const state = await subject().driver.status();
      assert.ok(state === "on" || state === "off", `status returned ${String(state)}`);
    });

    it("off, then status is off", async () => {
      const { driver } = subject();
      await driver.on();
      assert.equal(await driver.status(), "on");
      await driver.off();
      assert.equal(await driver.status(), "off");
    });

    it("on, then status is on", async () => {
      const { driver } = subject();
      await driver.off();
      await driver.on();
      assert.equal(await driver.status(), "on");
    });

    it("off twice is accepted and stays off", async () => {
      const { driver } = subject();
      await driver.off();
      await driver.off();
      assert.equal(await driver.status(), "off");
    });

    it("cycle is accepted and the host ends up on", async () => {
      const { driver } = subject();
      await driver.on();
      await driver.cycle();
      assert.equal(await eventually(driver, "on", 5000), "on");
    });

    it("reset is accepted and the host stays on", async () => {
      const { driver } = subject();
      await driver.on();
      await driver.reset();
      assert.equal(await driver.status(), "on");
    });

    it("soft is accepted and the host ends up off", async () => {
      const { driver } = subject();
      await driver.on();
      await driver.soft();
      assert.equal(await eventually(driver, "off", 5000), "off");
    });

    it("fence powers a running host off and confirms it", async () => {
      const { driver } = subject();
      await driver.on();
      const result = await driver.fence({ deadlineMs: 5000, pollIntervalMs: 50 });
      assert.equal(result.poweredOff, true, result.detail);
      assert.match(result.detail, /confirmed off/);
      assert.equal(await driver.status(), "off");
    });

    it("fence of a host already off succeeds", async () => {
      const { driver } = subject();
      await driver.off();
      const result = await driver.fence({ deadlineMs: 5000, pollIntervalMs: 50 });
      assert.equal(result.poweredOff, true, result.detail);
    });

    it("a BMC that does not answer fails with a PowerError in time", async () => {
      const { silent, silentFailsWithinMs } = subject();
      const startedAt = performance.now();
      const err = await rejectsWithPowerError(silent.status());
      const tookMs = performance.now() - startedAt;
      assert.ok(
        tookMs < silentFailsWithinMs,
        `took ${Math.round(tookMs)} ms, limit ${silentFailsWithinMs} ms`,
      );
      assert.ok(err.kind === "unreachable" || err.kind === "timeout", `kind ${err.kind}: ${err.message}`);
      assert.ok(err.message.includes(silent.target), `message does not name the BMC: ${err.message}`);
    });

    it("fence through a BMC that does not answer reports poweredOff false with the reason", async () => {
      const { silent, silentFailsWithinMs } = subject();
      const startedAt = performance.now();
      const result = await silent.fence({ deadlineMs: silentFailsWithinMs, pollIntervalMs: 50 });
      const tookMs = performance.now() - startedAt;
      assert.equal(result.poweredOff, false);
      assert.match(result.detail, /power off failed|not confirmed|did not finish/);
      assert.ok(result.detail.includes(silent.target), result.detail);
      assert.ok(tookMs < silentFailsWithinMs + 500, `fence took ${Math.round(tookMs)} ms`);
    });
  });
}
