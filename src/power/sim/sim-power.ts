// Why: a test double. Code that fences (the agent runtime, the lab, the fence helper itself) needs a
// PowerDriver that is fast, in memory and can be told to fail ("BMC does not answer") or be slow, to
// exercise the paths a real BMC rarely shows on demand. It passes the same contract as the ipmitool driver.
import { setTimeout as sleep } from "node:timers/promises";
import {
  type FenceOptions,
  type FenceResult,
  fenceWith,
  type PowerCommand,
  type PowerDriver,
  PowerError,
  type PowerErrorKind,
  type PowerState,
} from "../power.ts";

export interface SimPowerOptions {
  /** Default "sim-bmc". */
  name?: string;
  /** Default "on". */
  power?: PowerState;
  /** Every call takes this long before it answers (or fails). Default 0. */
  delayMs?: number;
  /** When set, every call fails with this reason, as a BMC that does not answer would. */
  failure?: string;
  /** After `off`/`soft`, status keeps saying "on" for this long (a slow BMC or a slow ACPI shutdown). Default 0. */
  offLagMs?: number;
}

/** In-memory PowerDriver test double. Not a BMC: nothing is powered anywhere. */
export class SimPower implements PowerDriver {
  readonly target: string;
  delayMs: number;
  offLagMs: number;
  /** Every call in order, including failed ones. */
  readonly calls: PowerCommand[] = [];
  #power: PowerState;
  #offAt: number | null = null;
  #failure: { kind: PowerErrorKind; reason: string } | null = null;

  constructor(options: SimPowerOptions = {}) {
    this.target = `sim ${options.name ?? "sim-bmc"}`;
    this.#power = options.power ?? "on";
    this.delayMs = options.delayMs ?? 0;
    this.offLagMs = options.offLagMs ?? 0;
    if (options.failure !== undefined) this.fail(options.failure);
  }

  /** Makes every following call fail with `reason` (default "BMC does not answer") until `heal()`. */
  fail(reason = "BMC does not answer", kind: PowerErrorKind = "unreachable"): void {
    this.#failure = { kind, reason };
  }

  heal(): void {
    this.#failure = null;
  }

  /** The true power state, without the lag `status()` may show and without counting as a call. */
  get power(): PowerState {
    return this.#power;
  }

  async status(): Promise<PowerState> {
    await this.#enter("status");
    if (this.#power === "off" && this.#offAt !== null && performance.now() < this.#offAt + this.offLagMs) {
      return "on";
    }
    return this.#power;
  }

  async on(): Promise<void> {
    await this.#enter("on");
    this.#power = "on";
    this.#offAt = null;
  }

  async off(): Promise<void> {
    await this.#enter("off");
    this.#switchOff();
  }

  async cycle(): Promise<void> {
    await this.#enter("cycle");
    this.#power = "on";
    this.#offAt = null;
  }

  async reset(): Promise<void> {
    await this.#enter("reset");
  }

  async soft(): Promise<void> {
    await this.#enter("soft");
    this.#switchOff();
  }

  fence(options?: FenceOptions): Promise<FenceResult> {
    return fenceWith(this, options);
  }

  #switchOff(): void {
    if (this.#power === "on") this.#offAt = performance.now();
    this.#power = "off";
  }

  async #enter(command: PowerCommand): Promise<void> {
    this.calls.push(command);
    if (this.delayMs > 0) await sleep(this.delayMs);
    if (this.#failure !== null) {
      throw new PowerError(this.#failure.kind, `${this.target} power ${command}: ${this.#failure.reason}`);
    }
  }
}
