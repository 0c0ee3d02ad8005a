// Host states as the cluster sees them (vSphere FDM plus CloudStack host HA), shown in CLI and UI.

export const hostStates = {
  election: "taking part in a master election",
  master: "the master of its partition",
  connected: "a slave the master hears",
  partitioned: "no network heartbeats, but its datastore heartbeat is alive: its VMs are left to it",
  isolated: "cut off from the network; its datastore heartbeat says it is isolated",
  unreachable: "no network heartbeats yet; being checked by ping and datastore heartbeat",
  dead: "no network heartbeat, no datastore heartbeat, no ping answer",
  fencing: "its BMC is being asked to power it off",
  fenced: "its BMC confirmed it is powered off",
  maintenance: "in maintenance: runs no VMs, not in election or placement",
  standby: "powered on but kept out of placement and election",
} as const;
export type HostState = keyof typeof hostStates;
