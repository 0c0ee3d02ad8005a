// The lease keeper: a small process of its own on every host, so that an agent crash or upgrade
// neither stops running VMs nor lets them start elsewhere. It renews the host's datastore heartbeat
// (which renews every VM lease the host holds, as sanlock's delta lease does) and kills the VMs of a
// datastore it could not renew for selfFenceAfterMs (DESIGN section 3, rules 1 to 3 and 7).
import type { Timing } from "./cluster.ts";
import type { KeeperEffect, KeeperInput } from "./io.ts";
import { recordFormatVersion, type VmEpoch } from "./records.ts";

export interface KeeperState {
  host: string;
  incarnation: number;
  datastores: string[];
  timing: Timing;
  nowMs: number;
  counter: number;
  /** Issue time of the last renewal acknowledged within ioTimeoutMs, per datastore. */
  lastRenewIssuedMs: Map<string, number>;
  /** Datastores whose VMs were killed; cleared by the next acknowledged renewal. */
  fenced: Set<string>;
  /** Self-fences per datastore: a lease held before a fence is lost for good (rule 7). */
  fenceCounts: Map<string, number>;
  nextRenewAtMs: number;
  isolated: boolean;
  vms: VmEpoch[];
}

/**
 * A keeper that starts (after a crash or boot) assumes its deadline has passed (rule 7): every
 * datastore counts as fenced until its first acknowledged renewal, unless it recovered the issue
 * time of its last renewal from a persisted monotonic timestamp (`recoveredRenewalMs`).
 */
export function initKeeper(
  host: string,
  incarnation: number,
  datastores: string[],
  timing: Timing,
  nowMs: number,
  recoveredRenewalMs: number | null = null,
): KeeperState {
  const recovered = recoveredRenewalMs !== null;
  return {
    host,
    incarnation,
    datastores: [...datastores].sort(),
    timing,
    nowMs,
    counter: 0,
    lastRenewIssuedMs: new Map(recovered ? datastores.map((ds) => [ds, recoveredRenewalMs]) : []),
    fenced: new Set(recovered ? [] : datastores),
    fenceCounts: new Map(),
    nextRenewAtMs: nowMs,
    isolated: false,
    vms: [],
  };
}

export function keeperStep(state: KeeperState, input: KeeperInput): KeeperEffect[] {
  const out: KeeperEffect[] = [];
  switch (input.type) {
    case "tick":
      state.nowMs = Math.max(state.nowMs, input.nowMs);
      selfFenceOverdue(state, out);
      if (state.nowMs >= state.nextRenewAtMs) {
        state.nextRenewAtMs = state.nowMs + state.timing.renewPeriodMs;
        renew(state, out);
      }
      armWatchdog(state, out);
      break;
    case "heartbeatWritten": {
      // Rule 2: a renewal counts only if acknowledged within ioTimeoutMs, and the deadline runs
      // from the moment it was issued, never from the acknowledgement.
      const inTime = state.nowMs - input.issuedAtMs <= state.timing.ioTimeoutMs;
      if (input.ok && inTime) {
        const previous = state.lastRenewIssuedMs.get(input.datastore) ?? Number.NEGATIVE_INFINITY;
        state.lastRenewIssuedMs.set(input.datastore, Math.max(previous, input.issuedAtMs));
        // Reported on every renewal round anyway; at once only when a datastore comes back.
        if (state.fenced.delete(input.datastore)) {
          armWatchdog(state, out);
          out.push(report(state));
        }
      }
      break;
    }
    case "agentStatus":
      state.isolated = input.isolated;
      state.vms = input.vms;
      break;
    default:
      assertNever(input);
  }
  return out;
}

function renew(state: KeeperState, out: KeeperEffect[]): void {
  state.counter += 1;
  out.push(report(state));
  for (const datastore of state.datastores) {
    out.push({
      type: "writeHeartbeat",
      datastore,
      issuedAtMs: state.nowMs,
      record: {
        v: recordFormatVersion,
        host: state.host,
        incarnation: state.incarnation,
        counter: state.counter,
        isolated: state.isolated,
        vms: state.vms,
      },
    });
  }
}

function selfFenceOverdue(state: KeeperState, out: KeeperEffect[]): void {
  for (const datastore of state.datastores) {
    if (state.fenced.has(datastore)) {
      // Kill again on every tick while fenced: a start that raced the first kill must not survive.
      out.push({ type: "killVmsOnDatastore", datastore });
      continue;
    }
    const last = state.lastRenewIssuedMs.get(datastore) ?? Number.NEGATIVE_INFINITY;
    if (state.nowMs - last >= state.timing.selfFenceAfterMs) {
      state.fenced.add(datastore);
      state.fenceCounts.set(datastore, (state.fenceCounts.get(datastore) ?? 0) + 1);
      out.push({ type: "killVmsOnDatastore", datastore });
      out.push(report(state));
      out.push({
        type: "emitEvent",
        event: {
          type: "selfFenced",
          host: state.host,
          reason: `no acknowledged renewal on ${datastore} for ${state.timing.selfFenceAfterMs} ms`,
        },
      });
    }
  }
}

/**
 * Rule 3: the kill must not depend on this process being scheduled. The watchdog fires at the
 * earliest deadline of a datastore that is not fenced yet, killMs after the self-fence point.
 */
function armWatchdog(state: KeeperState, out: KeeperEffect[]): void {
  let deadline = Number.POSITIVE_INFINITY;
  for (const datastore of state.datastores) {
    if (state.fenced.has(datastore)) continue;
    const last = state.lastRenewIssuedMs.get(datastore) ?? Number.NEGATIVE_INFINITY;
    deadline = Math.min(deadline, last + state.timing.selfFenceAfterMs + state.timing.killMs);
  }
  out.push(
    deadline === Number.POSITIVE_INFINITY
      ? { type: "disarmWatchdog" }
      : { type: "armWatchdog", deadlineMs: deadline },
  );
}

/** What the agent needs to start VMs safely: which datastores are fenced, and when each was renewed. */
function report(state: KeeperState): KeeperEffect {
  const renewedAtMs: Record<string, number> = {};
  for (const ds of state.datastores)
    renewedAtMs[ds] = state.lastRenewIssuedMs.get(ds) ?? Number.NEGATIVE_INFINITY;
  return {
    type: "reportToAgent",
    fencedDatastores: [...state.fenced].sort(),
    renewedAtMs,
    fenceCounts: Object.fromEntries(state.fenceCounts),
  };
}

export function assertNever(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}
