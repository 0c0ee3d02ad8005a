// Events and alarms the engine emits: the operator's timeline and the simulator's evidence.
import type { RestartProof } from "./records.ts";

export const eventTypes = {
  masterElected: "this host became master",
  masterSteppedDown: "a master gave way to a better master or left the election",
  electionStarted: "the host lost its master and started an election",
  hostStateChanged: "the master's view of a host changed",
  hostDeclaredDead: "no network heartbeat, no datastore heartbeat, no ping answer",
  fenceStarted: "the master asked the host's BMC to power it off",
  fenceSucceeded: "the BMC confirmed the host is powered off",
  fenceFailed: "the BMC did not confirm power off; the lease path is used instead",
  isolationDeclared: "the host hears no agent and no isolation address answers",
  isolationEnded: "the host hears agents again",
  isolationResponseApplied: "the isolated host applied its isolation response to a VM",
  isolationResponseWaiting: "the isolated host waits: no other healthy master can restart its VMs",
  vmStarted: "a VM was started; proof says why it was safe",
  vmStartFailed: "a VM start failed",
  vmRestartScheduled: "a VM will be restarted; a retry after backoff",
  vmRestartGaveUp: "restart attempts exhausted; retried when capacity or membership changes",
  vmUnplaced: "ALARM: a VM needing restart cannot be placed",
  vmWaiting: "ALARM: a VM is down and cannot be restarted safely yet",
  vmCrashed: "a VM process stopped unexpectedly",
  vmReset: "a VM was reset because its guest or application heartbeat stopped",
  vmResetLimitReached: "ALARM: a VM hung again but reached its maximum resets",
  vmStopped: "a VM was stopped by HA",
  vmMigrated: "a VM moved to another host by live migration",
  migrationStarted: "a user's migration was admitted; the source host moves the VM",
  migrationRefused: "a user's migration was refused (admission control, or the VM or target cannot)",
  vmLeaseLost: "a VM was killed because its host lost its lease",
  powerOnRefused: "admission control refused a user power-on",
  powerOnAccepted: "a user power-on was admitted",
  maintenanceEntered: "the host is in maintenance and runs no VMs",
  maintenanceExited: "the host left maintenance",
  haTagMissing: "ALARM: ha.tag is set but no eligible host carries it",
  selfFenced: "the lease keeper could not renew and killed the VMs of that datastore",
  corruptRecord: "ALARM: a datastore record failed validation and was ignored",
  configRejected: "ALARM: a configuration change was refused",
} as const;
export type EventType = keyof typeof eventTypes;

export interface EngineEvent {
  type: EventType;
  /** The host that emitted the event. */
  host: string;
  vm?: string;
  /** The host the event is about, when not the emitter. */
  subject?: string;
  target?: string;
  proof?: RestartProof;
  epoch?: number;
  state?: string;
  reason?: string;
}
