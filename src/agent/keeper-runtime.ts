// The lease keeper's runtime: a process of its own (`vigil keeper`) that renews this host's
// datastore heartbeats and kills the VMs of a datastore it could not renew, whatever the agent is
// doing. It runs the pure keeper engine (src/core/keeper.ts) on real time.
import type { Timing } from "../core/cluster.ts";
import type { EngineEvent } from "../core/events.ts";
import type { KeeperEffect, KeeperInput } from "../core/io.ts";
import { initKeeper, type KeeperState, keeperStep } from "../core/keeper.ts";
import type { VmEpoch } from "../core/records.ts";
import type { Datastore } from "./datastore/datastore.ts";

export interface KeeperReport {
  fencedDatastores: string[];
  renewedAtMs: Record<string, number>;
  fenceCounts: Record<string, number>;
}

/** A hardware or kernel watchdog; the lab has none and says so. */
export interface Watchdog {
  arm(deadlineMs: number): void;
  disarm(): void;
}

export interface KeeperRuntimeDeps {
  host: string;
  /** Grows with every keeper start (a persisted boot counter or the wall clock at start). */
  incarnation: number;
  datastores: ReadonlyMap<string, Datastore>;
  timing: Timing;
  killVmsOnDatastore: (datastore: string) => Promise<void>;
  watchdog: Watchdog | null;
  report: (report: KeeperReport) => void;
  clock: () => number;
  log: (level: "info" | "warn" | "error", msg: string, fields: object) => void;
}

export class KeeperRuntime {
  readonly state: KeeperState;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: KeeperRuntimeDeps) {
    this.state = initKeeper(
      deps.host,
      deps.incarnation,
      [...deps.datastores.keys()],
      deps.timing,
      deps.clock(),
    );
    if (deps.watchdog === null) {
      deps.log("warn", "no watchdog", {
        host: deps.host,
        detail:
          "a paused keeper cannot kill its VMs in time (DESIGN section 3, rule 3); production hosts need one",
      });
    }
  }

  start(): void {
    const interval = Math.max(50, this.deps.timing.renewPeriodMs / 4);
    this.timer = setInterval(() => this.feed({ type: "tick", nowMs: this.deps.clock() }), interval);
    this.feed({ type: "tick", nowMs: this.deps.clock() });
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** What the agent tells the keeper to write into the heartbeat. */
  agentStatus(isolated: boolean, vms: VmEpoch[]): void {
    this.feed({ type: "agentStatus", isolated, vms });
  }

  feed(input: KeeperInput): void {
    this.state.nowMs = Math.max(this.state.nowMs, this.deps.clock());
    let effects: KeeperEffect[];
    try {
      effects = keeperStep(this.state, input);
    } catch (error) {
      this.deps.log("error", "keeper step failed", { error: String(error) });
      return;
    }
    for (const effect of effects) void this.run(effect);
  }

  private async run(effect: KeeperEffect): Promise<void> {
    const d = this.deps;
    switch (effect.type) {
      case "writeHeartbeat": {
        const ds = d.datastores.get(effect.datastore);
        let ok = false;
        try {
          await ds?.writeHeartbeat(effect.record);
          ok = ds !== undefined;
        } catch {
          ok = false;
        }
        this.feed({
          type: "heartbeatWritten",
          datastore: effect.datastore,
          issuedAtMs: effect.issuedAtMs,
          ok,
        });
        return;
      }
      case "killVmsOnDatastore":
        await d.killVmsOnDatastore(effect.datastore).catch((e: unknown) => {
          d.log("error", "self-fence kill failed", { datastore: effect.datastore, error: String(e) });
        });
        return;
      case "armWatchdog":
        d.watchdog?.arm(effect.deadlineMs);
        return;
      case "disarmWatchdog":
        d.watchdog?.disarm();
        return;
      case "reportToAgent":
        d.report({
          fencedDatastores: effect.fencedDatastores,
          renewedAtMs: effect.renewedAtMs,
          fenceCounts: effect.fenceCounts,
        });
        return;
      case "emitEvent":
        logKeeperEvent(d, effect.event);
        return;
      default: {
        const never: never = effect;
        throw new Error(`unhandled keeper effect ${JSON.stringify(never)}`);
      }
    }
  }
}

function logKeeperEvent(d: KeeperRuntimeDeps, event: EngineEvent): void {
  d.log(event.type === "selfFenced" ? "warn" : "info", event.type, event);
}
