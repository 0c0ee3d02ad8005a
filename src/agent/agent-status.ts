// What a host says about itself: its role, its VMs and, on a master, every host's state and where
// every VM runs. The same facts go to status.json (read by `vigil lab status` and operators) and,
// with a server, up in every sync report.
import type { AgentState } from "../core/agent-state.ts";

export interface AgentStatus {
  host: string;
  role: string;
  master: string | null;
  isolated: boolean;
  maintenance: boolean;
  vms: { vm: string; epoch: number; state: string }[];
  /** On a master: host -> its state as the master sees it. */
  hosts: Record<string, string> | null;
  /** On a master: VM -> the host it runs on (starts in flight left out). */
  placement: Record<string, string> | null;
}

export function statusOf(s: AgentState): AgentStatus {
  const master = s.master;
  return {
    host: s.self,
    role: s.role,
    master: s.masterId,
    isolated: s.isolation.state === "isolated",
    maintenance: s.maintenance,
    vms: [...s.local.entries()].map(([vm, v]) => ({ vm, epoch: v.epoch, state: v.state })),
    hosts:
      master === null
        ? null
        : Object.fromEntries([...master.hosts.entries()].map(([name, view]) => [name, view.state])),
    placement:
      master === null
        ? null
        : Object.fromEntries(
            [...master.runningOn.entries()].filter(([, r]) => !r.starting).map(([vm, r]) => [vm, r.host]),
          ),
  };
}
