// Applies a scenario event (a fault, a repair or an operator action) to the simulated world. The
// scenario runner and the fuzzer share it, so a fuzz failure replays as a scenario would.

import { primaryMaster } from "./observe.ts";
import type { ScenarioEvent } from "./scenario-types.ts";
import type { SimHost, World } from "./world.ts";

export function applyEvent(world: World, event: ScenarioEvent): void {
  const host = "host" in event && typeof event.host === "string" ? world.hosts.get(event.host) : undefined;
  switch (event.kind) {
    case "crash":
      world.record(
        event.host,
        "crash",
        host!.bmcFailed ? "power lost (its BMC does not answer)" : "power lost (the BMC still answers)",
      );
      world.powerOffHost(host!, "power loss");
      break;
    case "isolate":
      host!.isolated = true;
      world.record(event.host, "isolate", "management network cut; storage kept");
      break;
    case "partition": {
      const named = new Set(event.groups.flat());
      event.groups.forEach((group, i) => {
        for (const name of group) world.hosts.get(name)!.group = i + 1;
      });
      for (const [name, h] of world.hosts) if (!named.has(name)) h.group = event.groups.length + 1;
      world.record("-", "partition", event.groups.map((g) => g.join(",")).join(" | "));
      break;
    }
    case "storageLoss": {
      const lost = event.datastores.length > 0 ? event.datastores : host!.spec.datastores;
      for (const ds of lost) host!.storageLost.add(ds);
      world.record(event.host, "storageLoss", `lost ${lost.join(", ")}`);
      break;
    }
    case "vmCrash":
      for (const copy of [...(world.copies.get(event.vm) ?? [])]) world.removeCopy(copy, "crashed");
      world.record("-", "vmCrash", `${event.vm} crashed`);
      break;
    case "guestHang":
      for (const copy of world.copies.get(event.vm) ?? []) {
        copy.guestHung = true;
        copy.hungAtMs = world.nowMs;
      }
      world.record("-", "guestHang", `${event.vm}'s guest stopped sending heartbeats`);
      break;
    case "agentCrash":
      world.killAgent(host!);
      world.record(event.host, "agentCrash", "agent process died; VMs and lease keeper keep running");
      break;
    case "agentStart":
      if (host!.powered && host!.agent === null) {
        world.startAgent(host!);
        world.record(event.host, "agentStart", "agent process started");
      }
      break;
    case "bmcFail":
      host!.bmcFailed = true;
      world.record(event.host, "bmcFail", "BMC stops answering");
      break;
    case "powerOn":
      if (!host!.powered) {
        world.powerOnHost(event.host);
        world.record(event.host, "powerOn", "powered on");
      }
      break;
    case "heal": {
      const rejoin = mainGroup(world);
      for (const [name, h] of world.hosts) if (event.host === "all" || event.host === name) heal(h);
      // A single healed host rejoins the largest group; healing all reunites everyone.
      if (event.host !== "all") world.hosts.get(event.host)!.group = rejoin;
      world.record(
        event.host === "all" ? "-" : event.host,
        "heal",
        `network, storage and BMC of ${event.host} healed`,
      );
      break;
    }
    case "maintenance":
      world.record(
        event.host,
        "maintenance",
        event.enable ? "enter maintenance requested" : "exit maintenance requested",
      );
      if (host!.agent !== null) world.toAgent(host!, { type: "maintenanceRequested", enable: event.enable });
      break;
    case "migrate": {
      world.record("-", "migrate", `user moves ${event.vm} to ${event.to}`);
      const master = primaryMaster(world);
      if (master === null)
        world.record("-", "migrationRefused", `${event.vm}: no master to ask`, {
          type: "migrationRefused",
          host: "-",
          vm: event.vm,
          target: event.to,
          reason: "no master",
        });
      else
        world.toAgent(world.hosts.get(master)!, { type: "migrateRequested", vm: event.vm, target: event.to });
      break;
    }
    case "powerOnVm": {
      if (!world.spec.vms.some((v) => v.name === event.spec.name)) {
        world.spec = { ...world.spec, vms: [...world.spec.vms, event.spec] };
        for (const h of world.hosts.values())
          world.toAgent(h, { type: "configChanged", cluster: world.spec });
      }
      world.record(
        "-",
        "powerOnVm",
        `user powers on ${event.spec.name}${event.host === null ? "" : ` on ${event.host}`}`,
      );
      const master = primaryMaster(world);
      if (master === null) {
        world.record("-", "powerOnRefused", `${event.spec.name}: no master to ask`, {
          type: "powerOnRefused",
          host: "-",
          vm: event.spec.name,
          reason: "no master",
        });
      } else {
        world.toAgent(world.hosts.get(master)!, {
          type: "powerOnRequested",
          vm: event.spec.name,
          host: event.host,
        });
      }
      break;
    }
    case "vmStartFailures":
      host!.startFailures += event.count;
      world.record(event.host, "vmStartFailures", `the next ${event.count} VM start(s) fail`);
      break;
    case "pause": {
      const h = host!;
      h.pausedUntilMs = Math.max(h.pausedUntilMs, world.nowMs + event.forMs);
      world.record(event.host, "pause", `processes frozen for ${event.forMs} ms`);
      world.queue.push(h.pausedUntilMs, () => {
        if (world.nowMs >= h.pausedUntilMs) world.endPause(h);
      });
      break;
    }
    case "addHost":
      world.addHost(event.spec, true);
      world.hosts.get(event.spec.name)!.group = mainGroup(world);
      world.powerOnHost(event.spec.name);
      world.record(event.spec.name, "addHost", "joined the cluster");
      break;
    default: {
      const never: never = event;
      throw new Error(`unhandled scenario event ${JSON.stringify(never)}`);
    }
  }
}

/** The network group most hosts are in (ties: the lowest group number). */
function mainGroup(world: World): number {
  const counts = new Map<number, number>();
  for (const h of world.hosts.values()) counts.set(h.group, (counts.get(h.group) ?? 0) + 1);
  let best = 0;
  let bestCount = -1;
  for (const [group, count] of [...counts].sort((a, b) => a[0] - b[0])) {
    if (count > bestCount) {
      best = group;
      bestCount = count;
    }
  }
  return best;
}

function heal(h: SimHost): void {
  h.isolated = false;
  h.group = 0;
  h.storageLost.clear();
  h.bmcFailed = false;
  h.stallUntilMs = 0;
}
