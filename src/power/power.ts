// Why: the master fences a host it declared dead through that host's BMC. Every BMC flavour (ipmitool
// today, Redfish later, the in-memory test double) implements this one interface, and fencing itself
// ("off, then confirm status = off before anyone restarts the host's VMs") is written once, here.
import { setTimeout as sleep } from "node:timers/promises";

export type PowerState = "on" | "off";

/** The BMC operations a driver offers; `status` reads, the rest change power. */
export type PowerCommand = "status" | "on" | "off" | "cycle" | "reset" | "soft";

/**
 * Why a BMC call failed:
 * - `auth`: the BMC answered and refused the user name or password;
 * - `unreachable`: the BMC did not answer (down, wrong address or port, network cut);
 * - `timeout`: the call exceeded the driver's own per-call deadline and was killed;
 * - `rejected`: the BMC answered but refused or failed the command;
 * - `protocol`: the reply could not be understood;
 * - `config`: the driver is misconfigured or its tool is missing.
 */
export type PowerErrorKind = "auth" | "unreachable" | "timeout" | "rejected" | "protocol" | "config";

/** A failed BMC call. Its message names the BMC and the command and never contains a password. */
export class PowerError extends Error {
  override readonly name = "PowerError";
  readonly kind: PowerErrorKind;

  constructor(kind: PowerErrorKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

/** The outcome of a fence, in the shape of the engine's `fenceResult` input (src/core/io.ts). */
export interface FenceResult {
  /** True only when the BMC confirmed status = off after the off command. */
  poweredOff: boolean;
  /** What happened, for events and logs: the confirmation or the reason it failed. */
  detail: string;
}

export interface FenceOptions {
  /** The whole fence (off plus confirmation) gives up after this long. Default 8000 ms. */
  deadlineMs?: number;
  /** Pause between status polls while the host still reports on. Default 250 ms. */
  pollIntervalMs?: number;
}

export const fenceDefaults: Required<FenceOptions> = { deadlineMs: 8000, pollIntervalMs: 250 };

/** A host's power controller. Every method rejects with a `PowerError` on failure. */
export interface PowerDriver {
  /** Names the BMC in messages, e.g. `ipmi admin@10.0.0.5:623`; never contains a secret. */
  readonly target: string;
  status(): Promise<PowerState>;
  on(): Promise<void>;
  /** Hard power off (no guest shutdown). */
  off(): Promise<void>;
  /** Off, then on again. */
  cycle(): Promise<void>;
  /** Hard reset; the host stays on. */
  reset(): Promise<void>;
  /** Ask the OS to shut down (ACPI soft-off); the host may take a while, or refuse. */
  soft(): Promise<void>;
  /** Off, then poll status until off or the deadline. Never rejects; see `fenceWith`. */
  fence(options?: FenceOptions): Promise<FenceResult>;
}

function describeError(err: unknown): string {
  if (err instanceof PowerError) return err.message;
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

const deadlinePassed = Symbol("deadlinePassed");

/** Resolves to the call's result, or to `deadlinePassed` once `ms` have gone by (the call is left to finish). */
async function within<T>(call: Promise<T>, ms: number): Promise<T | typeof deadlinePassed> {
  const timer = new AbortController();
  call.catch(() => {}); // a call that loses the race may still reject later; that is not an error here
  try {
    return await Promise.race([
      call,
      sleep<typeof deadlinePassed>(Math.max(0, ms), deadlinePassed, { signal: timer.signal }).catch(
        (): typeof deadlinePassed => deadlinePassed,
      ),
    ]);
  } finally {
    timer.abort();
  }
}

/**
 * The one fencing procedure every driver uses: `off()`, then `status()` until it reports off, all
 * within `deadlineMs`. A host counts as fenced only when the BMC itself confirmed off; any error, or
 * a host still on at the deadline, gives `poweredOff: false` with the reason. Never rejects.
 */
export async function fenceWith(
  driver: Pick<PowerDriver, "off" | "status" | "target">,
  options: FenceOptions = {},
): Promise<FenceResult> {
  const deadlineMs = options.deadlineMs ?? fenceDefaults.deadlineMs;
  const pollIntervalMs = options.pollIntervalMs ?? fenceDefaults.pollIntervalMs;
  const startedAt = performance.now();
  const elapsed = () => Math.round(performance.now() - startedAt);
  const left = () => deadlineMs - (performance.now() - startedAt);

  try {
    const offResult = await within(driver.off(), left());
    if (offResult === deadlinePassed) {
      return {
        poweredOff: false,
        detail: `${driver.target}: power off did not finish within ${deadlineMs} ms`,
      };
    }
  } catch (err) {
    return { poweredOff: false, detail: `power off failed: ${describeError(err)}` };
  }

  let polls = 0;
  let lastSeen = "no status read";
  for (;;) {
    polls += 1;
    try {
      const state = await within(driver.status(), left());
      if (state === "off") {
        return {
          poweredOff: true,
          detail: `${driver.target}: powered off, status confirmed off after ${polls} poll(s) in ${elapsed()} ms`,
        };
      }
      if (state === deadlinePassed) {
        lastSeen = "status call did not finish";
      } else {
        lastSeen = `status still ${state}`;
      }
    } catch (err) {
      lastSeen = `status failed: ${describeError(err)}`;
    }
    if (left() <= pollIntervalMs) {
      return {
        poweredOff: false,
        detail: `${driver.target}: off not confirmed within ${deadlineMs} ms (${polls} poll(s)); last: ${lastSeen}`,
      };
    }
    await sleep(pollIntervalMs);
  }
}

/** A power change: every command but `status`. */
export type PowerChange = Exclude<PowerCommand, "status">;

/**
 * The part every BMC protocol driver shares: the five changes go through one `change`, and fencing
 * is `fenceWith` with the driver's own fence options.
 */
export abstract class ProtocolPowerDriver implements PowerDriver {
  abstract readonly target: string;
  abstract status(): Promise<PowerState>;
  protected abstract change(command: PowerChange): Promise<void>;

  constructor(private readonly fenceOptions: FenceOptions = {}) {}

  on(): Promise<void> {
    return this.change("on");
  }

  off(): Promise<void> {
    return this.change("off");
  }

  cycle(): Promise<void> {
    return this.change("cycle");
  }

  reset(): Promise<void> {
    return this.change("reset");
  }

  soft(): Promise<void> {
    return this.change("soft");
  }

  fence(options?: FenceOptions): Promise<FenceResult> {
    return fenceWith(this, { ...this.fenceOptions, ...options });
  }
}
