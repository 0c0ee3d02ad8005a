// A test double of a hypervisor driver, in memory, behaving like the simulator's hypervisor
// (src/sim/world.ts): starting -> running after a start delay, kill, a shutdown a hung guest ignores,
// reset, and live migration between hosts of one fabric. It passes the same contract as the real drivers.
import {
  byName,
  type DriverCapabilities,
  type DriverListedVm,
  type DriverVmSpec,
  type HypervisorDriver,
  type MonotonicClock,
  notSupported,
  vmNamePattern,
} from "../driver.ts";

/** What one VM does beyond running; chosen per VM name. */
export interface SimVmBehaviour {
  /** The start fails (after half the start delay) with this reason. */
  failStart?: string;
  /** This long after it runs, the guest hangs: heartbeats stop and it ignores shutdown. */
  hangAfterMs?: number;
  /** This long after it runs, the VM exits by itself (a guest crash). */
  exitAfterMs?: number;
}

interface SimVm {
  spec: DriverVmSpec;
  epoch: number;
  startedAtMs: number;
  runningAtMs: number;
  hungAtMs: number;
  /** When it is gone (exit, kill, shutdown); Infinity while it runs. */
  goneAtMs: number;
  stopping: boolean;
}

/** One simulated host: outlives driver instances, so a new driver (agent restart) adopts its VMs. */
export class SimHypervisorHost {
  readonly vms = new Map<string, SimVm>();
  /** The next this many starts fail, like the simulator's `startFailures`. */
  failNextStarts = 0;
  constructor(readonly name: string) {}
}

export interface SimDriverOptions {
  host?: SimHypervisorHost;
  clock?: MonotonicClock;
  /** Waits on the same clock as `clock` (a fake clock's sleep advances it). Default: setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  startDelayMs?: number;
  /** Shutdown of a guest that is not hung. */
  stopDelayMs?: number;
  killDelayMs?: number;
  shutdownWaitMs?: number;
  migrateDelayMs?: number;
  /** Hosts reachable for live migration, by name; without it live migration is not supported. */
  fabric?: Map<string, SimHypervisorHost>;
  behaviour?: (vm: string) => SimVmBehaviour;
}

export class SimDriver implements HypervisorDriver {
  readonly host: SimHypervisorHost;
  private readonly clock: MonotonicClock;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly startDelayMs: number;
  private readonly stopDelayMs: number;
  private readonly killDelayMs: number;
  private readonly shutdownWaitMs: number;
  private readonly migrateDelayMs: number;
  private closed = false;

  constructor(private readonly options: SimDriverOptions = {}) {
    this.host = options.host ?? new SimHypervisorHost("sim");
    this.clock = options.clock ?? (() => performance.now());
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    // The simulator's defaults: killDelayMs 100 ms (world.ts).
    this.startDelayMs = options.startDelayMs ?? 200;
    this.stopDelayMs = options.stopDelayMs ?? 200;
    this.killDelayMs = options.killDelayMs ?? 100;
    this.shutdownWaitMs = options.shutdownWaitMs ?? 30_000;
    this.migrateDelayMs = options.migrateDelayMs ?? 500;
  }

  capabilities(): DriverCapabilities {
    return { liveMigration: this.options.fabric !== undefined };
  }

  async start(spec: DriverVmSpec, epoch: number): Promise<void> {
    this.assertOpen();
    if (!vmNamePattern.test(spec.name)) throw new Error(`cannot start ${spec.name}: bad name`);
    const existing = this.present(spec.name);
    if (existing !== null) {
      if (existing.epoch !== epoch || existing.stopping) {
        const state = existing.stopping ? "stopping" : "running";
        throw new Error(`${spec.name} is already present (epoch ${existing.epoch}, ${state})`);
      }
      return this.awaitRunning(existing);
    }
    const failure = this.options.behaviour?.(spec.name).failStart;
    if (failure !== undefined || this.host.failNextStarts > 0) {
      if (failure === undefined) this.host.failNextStarts -= 1;
      await this.sleep(this.startDelayMs / 2);
      throw new Error(`${spec.name} did not start: ${failure ?? "the hypervisor failed to start it"}`);
    }
    const now = this.clock();
    const behaviour = this.options.behaviour?.(spec.name) ?? {};
    const runningAtMs = now + this.startDelayMs;
    const vm: SimVm = {
      spec,
      epoch,
      startedAtMs: now,
      runningAtMs,
      hungAtMs: runningAtMs + (behaviour.hangAfterMs ?? Number.POSITIVE_INFINITY),
      goneAtMs: runningAtMs + (behaviour.exitAfterMs ?? Number.POSITIVE_INFINITY),
      stopping: false,
    };
    this.host.vms.set(spec.name, vm);
    return this.awaitRunning(vm);
  }

  private async awaitRunning(vm: SimVm): Promise<void> {
    await this.sleepUntil(vm.runningAtMs);
    if (this.present(vm.spec.name) !== vm || vm.stopping)
      throw new Error(`${vm.spec.name} did not start: stopped while starting`);
  }

  async stop(name: string, mode: "kill" | "shutdown"): Promise<void> {
    this.assertOpen();
    const vm = this.present(name);
    if (vm === null) return;
    vm.stopping = true;
    const now = this.clock();
    if (mode === "kill" || now < vm.hungAtMs) {
      vm.goneAtMs = Math.min(vm.goneAtMs, now + (mode === "kill" ? this.killDelayMs : this.stopDelayMs));
      await this.sleepUntil(vm.goneAtMs);
      this.present(name);
      return;
    }
    await this.sleep(this.shutdownWaitMs);
    if (this.present(name) === vm)
      throw new Error(`${name} did not shut down within ${this.shutdownWaitMs} ms`);
  }

  async reset(name: string): Promise<void> {
    this.assertOpen();
    const vm = this.present(name);
    if (vm === null) throw new Error(`cannot reset ${name}: not present`);
    await this.stop(name, "kill");
    await this.start(vm.spec, vm.epoch);
  }

  async list(): Promise<DriverListedVm[]> {
    this.assertOpen();
    const now = this.clock();
    const listed: DriverListedVm[] = [];
    for (const name of [...this.host.vms.keys()]) {
      const vm = this.present(name);
      if (vm === null) continue;
      const beat = (probed: boolean) =>
        !probed || now < vm.runningAtMs ? null : Math.min(now, Math.max(vm.runningAtMs, vm.hungAtMs));
      listed.push({
        vm: name,
        epoch: vm.epoch,
        state: vm.stopping ? "stopping" : now < vm.runningAtMs ? "starting" : "running",
        lastGuestHeartbeatMs: beat(vm.spec.guestHeartbeat || vm.spec.guestHeartbeatProbe !== undefined),
        lastAppHeartbeatMs: beat(vm.spec.appHeartbeatProbe !== undefined),
        startedAtMs: vm.startedAtMs,
      });
    }
    return listed.sort(byName);
  }

  async migrate(name: string, target: string, epoch: number): Promise<void> {
    this.assertOpen();
    const fabric = this.options.fabric;
    if (fabric === undefined) throw notSupported("sim", "live migration");
    const to = fabric.get(target);
    const vm = this.present(name);
    if (to === undefined) throw new Error(`cannot migrate ${name}: unknown host ${target}`);
    if (vm === null || vm.stopping) throw new Error(`cannot migrate ${name}: not running here`);
    await this.sleep(this.migrateDelayMs);
    if (this.present(name) !== vm || vm.stopping) throw new Error(`migration of ${name} failed: it stopped`);
    const there = to.vms.get(name);
    if (there !== undefined && there.goneAtMs > this.clock())
      throw new Error(`migration of ${name} failed: already present on ${target}`);
    // Switch-over: the running copy moves; it is never two.
    this.host.vms.delete(name);
    vm.epoch = epoch;
    to.vms.set(name, vm);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  // ---- test controls -----------------------------------------------------------------------

  /** The guest stops heartbeating and will ignore shutdown. */
  hang(name: string): void {
    const vm = this.present(name);
    if (vm !== null) vm.hungAtMs = Math.min(vm.hungAtMs, Math.max(this.clock(), vm.runningAtMs));
  }

  /** The VM exits at once, as if its process died. */
  crash(name: string): void {
    const vm = this.present(name);
    if (vm !== null) vm.goneAtMs = this.clock();
  }

  // ---- internals ---------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new Error("the sim driver is closed");
  }

  private async sleepUntil(atMs: number): Promise<void> {
    // Timers may fire a little early against the clock; never report a state before its time.
    while (this.clock() < atMs) await this.sleep(Math.max(1, atMs - this.clock()));
  }

  /** The VM while it exists; forgets it once gone. */
  private present(name: string): SimVm | null {
    const vm = this.host.vms.get(name);
    if (vm === undefined) return null;
    if (this.clock() >= vm.goneAtMs) {
      this.host.vms.delete(name);
      return null;
    }
    return vm;
  }
}
