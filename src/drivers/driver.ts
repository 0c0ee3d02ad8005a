// The one interface every hypervisor driver implements (process now; QEMU and libvirt later; the
// simulated test double), so the agent runtime executes startVm/stopVm/resetVm/migrateVm/listVms
// effects the same way on every host. tests/contract/hypervisor.contract.ts holds them all to it.
import type { VmSpec } from "../core/cluster.ts";
import type { ListedVm } from "../core/io.ts";

/** How a driver learns that the guest (or the application in it) is alive. Polled; loopback URLs only. */
export type HeartbeatProbe =
  /** The guest touches this file; a newer mtime is a heartbeat. */
  | { file: string }
  /** Exit status 0 is a heartbeat. */
  | { command: string[] }
  /** HTTP 200 is a heartbeat; the host must be 127.0.0.1, ::1 or localhost. */
  | { url: string };

/**
 * A VM as the driver runs it: the engine's VmSpec plus how to run it. `VmSpec.guestHeartbeat` (a
 * boolean: heartbeats are expected) is the engine's; the probe that produces them is
 * `guestHeartbeatProbe` here (same for the application heartbeat).
 */
export interface DriverVmSpec extends VmSpec {
  /** argv; the first element is the program (looked up in PATH). */
  command: string[];
  /** Added to the driver's environment. */
  env?: Record<string, string>;
  guestHeartbeatProbe?: HeartbeatProbe;
  appHeartbeatProbe?: HeartbeatProbe;
  /** Where stdout and stderr go; by default `<stateDir>/<vm>.log`. */
  logFile?: string;
}

/** A listed VM with what drivers know beyond the engine's ListedVm. */
export interface DriverListedVm extends ListedVm {
  /** Local monotonic time of the last application heartbeat, or null (none, or no probe). */
  lastAppHeartbeatMs: number | null;
}

export interface DriverCapabilities {
  liveMigration: boolean;
}

/** A monotonic millisecond clock, `performance.now()`-like; injected so tests control it. */
export type MonotonicClock = () => number;

export interface HypervisorDriver {
  capabilities(): DriverCapabilities;
  /**
   * Starts `vm` under `epoch` (stored with the VM, so a restarted agent adopts it). Resolves when it
   * runs; rejects with the reason otherwise (including "already present" with another epoch). A start
   * of a VM already present with the same epoch resolves when that one runs.
   */
  start(vm: DriverVmSpec, epoch: number): Promise<void>;
  /**
   * `kill`: power off hard; resolves when every process of the VM is gone. `shutdown`: ask the guest
   * to stop; resolves when it has, rejects when it has not within the driver's shutdown wait (the VM
   * stays listed as "stopping"; the caller escalates to kill). A VM not present resolves at once.
   */
  stop(vm: string, mode: "kill" | "shutdown"): Promise<void>;
  /** Kill then start again with the same spec and epoch; resolves when it runs again. */
  reset(vm: string): Promise<void>;
  /** The VMs present on this host, sorted by name. */
  list(): Promise<DriverListedVm[]>;
  /**
   * Live-migrates `vm` to host `target`, where it then runs under `epoch` (the engine's migrateVm
   * effect carries it). Rejects with "not supported" when capabilities().liveMigration is false.
   */
  migrate(vm: string, target: string, epoch: number): Promise<void>;
  /** Stops polling and releases resources. VMs keep running: an agent restart must not stop them. */
  close(): Promise<void>;
}

/** VM names become file and cgroup names: no separators, no leading dot. */
export const vmNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function notSupported(driver: string, what: string): Error {
  return new Error(`${what} is not supported by the ${driver} driver`);
}

export function byName(a: { vm: string }, b: { vm: string }): number {
  return a.vm < b.vm ? -1 : a.vm > b.vm ? 1 : 0;
}

/** True for URLs a heartbeat probe may call: http on 127.0.0.0/8, ::1 or localhost. */
export function isLoopbackUrl(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol !== "http:") return false;
  const host = parsed.hostname;
  return host === "localhost" || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
