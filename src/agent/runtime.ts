// The agent's runtime loop around the pure engine: real time in as ticks, effects out to the
// network, the datastores, the hypervisor driver and the BMCs, results fed back as inputs. Within
// one step's effects it persists first, then sends, then applies (etcd-io/raft's Ready contract).
import { agentStep, initAgent } from "../core/agent.ts";
import type { AgentOptions, AgentState } from "../core/agent-state.ts";
import type { ClusterSpec, VmSpec } from "../core/cluster.ts";
import type { EngineEvent } from "../core/events.ts";
import type { AgentEffect, AgentInput } from "../core/io.ts";
import type { Message, VmEpoch } from "../core/records.ts";
import type { DriverVmSpec, HypervisorDriver } from "../drivers/driver.ts";
import type { Datastore } from "./datastore/datastore.ts";

export interface Fencer {
  fence(): Promise<{ poweredOff: boolean; detail: string }>;
}

export interface AgentRuntimeDeps {
  self: string;
  spec: ClusterSpec;
  options?: AgentOptions;
  datastores: ReadonlyMap<string, Datastore>;
  driver: HypervisorDriver;
  /** The BMC of a host, or null when it has none configured. */
  fencer: (host: string) => Fencer | null;
  send: (to: string, msg: Message) => void;
  /** A host's management address or an isolation address answers (ICMP or a TCP probe). */
  ping: (target: string) => Promise<boolean>;
  /** Tells the local lease keeper what to write into the datastore heartbeat. */
  toKeeper: (status: { isolated: boolean; vms: VmEpoch[] }) => void;
  /** How the driver runs a VM (its command), from the cluster file. */
  driverSpec: (vm: VmSpec) => DriverVmSpec;
  clock: () => number;
  log: (level: "info" | "warn" | "error", msg: string, fields: object) => void;
  /** Every engine event, after it is logged (the server sync reports them). */
  onEvent?: (event: EngineEvent) => void;
  tickIntervalMs?: number;
}

const persistEffects = new Set<AgentEffect["type"]>(["writeMasterLease", "createLease", "writePoweredOff"]);

export class AgentRuntime {
  readonly state: AgentState;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly deps: AgentRuntimeDeps) {
    this.state = initAgent(deps.self, deps.spec, deps.clock(), deps.options ?? {});
  }

  start(): void {
    const interval = this.deps.tickIntervalMs ?? Math.max(50, this.deps.spec.timing.heartbeatIntervalMs / 4);
    this.timer = setInterval(() => this.feed({ type: "tick", nowMs: this.deps.clock() }), interval);
    this.feed({ type: "tick", nowMs: this.deps.clock() });
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Steps the engine with one input and executes its effects. Never throws. */
  feed(input: AgentInput): void {
    if (this.stopped) return;
    let effects: AgentEffect[];
    try {
      if (input.type !== "tick") this.state.nowMs = Math.max(this.state.nowMs, this.deps.clock());
      effects = agentStep(this.state, input);
    } catch (error) {
      this.deps.log("error", "engine step failed", { input: input.type, error: String(error) });
      return;
    }
    void this.execute(effects);
  }

  private async execute(effects: AgentEffect[]): Promise<void> {
    const persist = effects.filter((e) => persistEffects.has(e.type));
    const rest = effects.filter((e) => !persistEffects.has(e.type));
    await Promise.all(persist.map((e) => this.run(e)));
    for (const e of rest.filter((x) => x.type === "send")) void this.run(e);
    for (const e of rest.filter((x) => x.type !== "send")) void this.run(e);
  }

  private datastore(name: string): Datastore | null {
    return this.deps.datastores.get(name) ?? null;
  }

  private async run(effect: AgentEffect): Promise<void> {
    const d = this.deps;
    try {
      switch (effect.type) {
        case "send":
          d.send(effect.to, effect.msg);
          return;
        case "ping": {
          const ok = await d.ping(effect.target).catch(() => false);
          this.feed({ type: "pingResult", target: effect.target, ok });
          return;
        }
        case "readHeartbeats": {
          const issuedAtMs = d.clock();
          const ds = this.datastore(effect.datastore);
          try {
            if (ds === null) throw new Error(`datastore ${effect.datastore} is not configured`);
            const read = await ds.readHeartbeats();
            this.feed({ type: "heartbeatsRead", datastore: effect.datastore, issuedAtMs, ok: true, ...read });
          } catch {
            this.feed({
              type: "heartbeatsRead",
              datastore: effect.datastore,
              issuedAtMs,
              ok: false,
              hosts: [],
              masterLease: null,
              corrupt: [],
            });
          }
          return;
        }
        case "writeMasterLease":
          await this.datastore(effect.datastore)?.writeMasterLease(effect.record);
          return;
        case "readVmRecords": {
          const ds = this.datastore(effect.datastore);
          try {
            if (ds === null) throw new Error(`datastore ${effect.datastore} is not configured`);
            const read = await ds.readVmRecords(effect.vms);
            this.feed({ type: "vmRecordsRead", datastore: effect.datastore, ok: true, ...read });
          } catch {
            this.feed({
              type: "vmRecordsRead",
              datastore: effect.datastore,
              ok: false,
              records: [],
              corrupt: [],
            });
          }
          return;
        }
        case "createLease": {
          let ok = false;
          try {
            ok = (await this.datastore(effect.datastore)?.createLease(effect.record)) ?? false;
          } catch {
            ok = false;
          }
          this.feed({
            type: "leaseCreated",
            datastore: effect.datastore,
            vm: effect.record.vm,
            epoch: effect.record.epoch,
            ok,
          });
          return;
        }
        case "writePoweredOff":
          await this.datastore(effect.datastore)?.writePoweredOff(effect.record);
          return;
        case "fenceHost": {
          const fencer = d.fencer(effect.host);
          const result =
            fencer === null
              ? { poweredOff: false, detail: "no BMC configured" }
              : await fencer.fence().catch((e: unknown) => ({ poweredOff: false, detail: String(e) }));
          this.feed({ type: "fenceResult", host: effect.host, ...result });
          return;
        }
        case "startVm": {
          const result = await d.driver.start(d.driverSpec(effect.spec), effect.epoch).then(
            () => ({ ok: true, reason: "" }),
            (e: unknown) => ({ ok: false, reason: e instanceof Error ? e.message : String(e) }),
          );
          this.feed({ type: "vmStartResult", vm: effect.spec.name, epoch: effect.epoch, ...result });
          return;
        }
        case "stopVm":
          await d.driver.stop(effect.vm, effect.mode).catch((e: unknown) => {
            d.log("warn", "stop did not finish", { vm: effect.vm, mode: effect.mode, error: String(e) });
          });
          return;
        case "resetVm":
          await d.driver.reset(effect.vm);
          return;
        case "migrateVm": {
          const result = await d.driver.migrate(effect.vm, effect.target, effect.epoch).then(
            () => ({ ok: true, reason: "" }),
            (e: unknown) => ({ ok: false, reason: e instanceof Error ? e.message : String(e) }),
          );
          this.feed({ type: "migrateResult", vm: effect.vm, target: effect.target, ...result });
          return;
        }
        case "listVms": {
          const vms = await d.driver.list();
          this.feed({ type: "vmsListed", vms });
          return;
        }
        case "keeperStatus":
          d.toKeeper({ isolated: effect.isolated, vms: effect.vms });
          return;
        case "emitEvent":
          logEvent(d, effect.event);
          d.onEvent?.(effect.event);
          return;
        default: {
          const never: never = effect;
          throw new Error(`unhandled effect ${JSON.stringify(never)}`);
        }
      }
    } catch (error) {
      d.log("warn", "effect failed", { effect: effect.type, error: String(error) });
    }
  }
}

/** One structured line per state change, with host, VM and the proof of every restart. */
function logEvent(d: AgentRuntimeDeps, event: EngineEvent): void {
  const alarm = event.type.startsWith("vm") && (event.type === "vmUnplaced" || event.type === "vmWaiting");
  d.log(alarm ? "warn" : "info", event.type, event);
}
