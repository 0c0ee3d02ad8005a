// Checks a Timing against the inequalities that keep fencing safe (docs/safety.md), so a bad
// configuration is refused before it runs instead of showing up as two hosts running one VM.
// Pure: the agent, the simulator and the CLI all call it.

import type { Timing } from "./cluster.ts";

/** Values that may be 0: no isolation delay, perfect clocks, no local restarts. All others must be > 0. */
const zeroAllowed: ReadonlySet<keyof Timing> = new Set<keyof Timing>([
  "isolationResponseDelayMs",
  "clockRateErrorMax",
  "localRestartAttemptsMax",
]);
const counts: ReadonlySet<keyof Timing> = new Set<keyof Timing>([
  "restartAttemptsMax",
  "localRestartAttemptsMax",
]);

/** Rounds to one decimal for messages: 4040.40404 -> "4040.4", 1000 -> "1000". */
function fmt(x: number): string {
  return String(Math.round(x * 10) / 10);
}

/**
 * Returns one message per violated condition, each naming the inequality and its numbers, e.g.
 * `selfFenceAfterMs/(1-ρ) + killMs < leaseTtlMs/(1+ρ) does not hold: 4040.4 + 1000 >= 5940.6`.
 * An empty list means the timing is safe. ρ is clockRateErrorMax.
 */
export function checkTiming(t: Timing): string[] {
  const out: string[] = [];
  const keys = Object.keys(t) as (keyof Timing)[];
  let finite = true;
  for (const key of keys) {
    const v = t[key];
    if (!Number.isFinite(v)) {
      out.push(`${key} must be a finite number, got ${String(v)}`);
      finite = false;
    } else if (key === "restartAttemptsMax") {
      // Checked below with its own bound.
    } else if (zeroAllowed.has(key)) {
      if (v < 0) out.push(`${key} >= 0 does not hold: ${fmt(v)} < 0`);
    } else if (v <= 0) {
      out.push(`${key} > 0 does not hold: ${fmt(v)} <= 0`);
    }
    if (counts.has(key) && Number.isFinite(v) && !Number.isInteger(v)) {
      out.push(`${key} must be a whole number, got ${String(v)}`);
    }
  }
  if (!finite) return out;

  const rho = t.clockRateErrorMax;
  if (rho >= 1) out.push(`clockRateErrorMax < 1 does not hold: ${String(rho)} >= 1`);
  if (t.heartbeatIntervalMs > t.slaveUnreachableAfterMs) {
    out.push(
      `heartbeatIntervalMs <= slaveUnreachableAfterMs does not hold: ` +
        `${fmt(t.heartbeatIntervalMs)} > ${fmt(t.slaveUnreachableAfterMs)}`,
    );
  }
  if (t.restartAttemptsMax < 1) {
    out.push(`restartAttemptsMax >= 1 does not hold: ${fmt(t.restartAttemptsMax)} < 1`);
  }
  if (rho < 0 || rho >= 1) return out;

  // (1) The slowest clock still kills its VMs before the fastest clock lets another host take the lease.
  const fenceDone = t.selfFenceAfterMs / (1 - rho);
  const leaseExpiry = t.leaseTtlMs / (1 + rho);
  if (!(fenceDone + t.killMs < leaseExpiry)) {
    out.push(
      `selfFenceAfterMs/(1-ρ) + killMs < leaseTtlMs/(1+ρ) does not hold: ` +
        `${fmt(fenceDone)} + ${fmt(t.killMs)} >= ${fmt(leaseExpiry)}`,
    );
  }
  // (2) A healthy host with a slow disk renews before its own self-fence deadline.
  const fenceEarliest = t.selfFenceAfterMs / (1 + rho);
  if (!(fenceEarliest > t.renewPeriodMs + t.ioTimeoutMs)) {
    out.push(
      `selfFenceAfterMs/(1+ρ) > renewPeriodMs + ioTimeoutMs does not hold: ` +
        `${fmt(fenceEarliest)} <= ${fmt(t.renewPeriodMs)} + ${fmt(t.ioTimeoutMs)}`,
    );
  }
  return out;
}
