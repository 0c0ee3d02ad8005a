// `vigil vm ...`: VMs created from an offering (or CPUs and memory), their HA protection and restart
// priority, and power on through the cluster's master (with --wait until it runs).
import type { Command } from "commander";
import {
  type ApiRun,
  apiAction,
  apiCommand,
  arg,
  defined,
  numberOrText,
  pageOptions,
  usageError,
} from "./api-kit.ts";
import type { Output } from "./sim-commands.ts";
import type { Column } from "./table.ts";
import { timeoutOption, waitPollMs, waitUntil } from "./wait.ts";

interface Vm {
  id: string;
  name: string;
  cpus: number;
  memoryMiB: number;
  datastore: string;
  ha: boolean;
  protected: boolean;
  restartPriority: string;
  state: string;
  host: string | null;
}

const vmColumns: Column<Vm>[] = [
  { header: "NAME", value: (v) => v.name },
  { header: "STATE", value: (v) => v.state },
  { header: "HOST", value: (v) => v.host },
  { header: "CPUS", value: (v) => v.cpus, align: "right" },
  { header: "MEMORY_MIB", value: (v) => v.memoryMiB, align: "right" },
  { header: "HA", value: (v) => v.ha },
  { header: "PROTECTED", value: (v) => v.protected },
  { header: "PRIORITY", value: (v) => v.restartPriority },
  { header: "DATASTORE", value: (v) => v.datastore },
];

const encode = encodeURIComponent;

/** `--command 'qemu-system-x86_64 -m 512'` or a JSON array for arguments with spaces. */
function commandWords(value: string): string[] | string {
  if (value.trim().startsWith("[")) {
    try {
      return JSON.parse(value) as string[];
    } catch {
      return value;
    }
  }
  return value.split(/\s+/).filter((w) => w !== "");
}

async function waitRunning(run: ApiRun, key: string, timeoutMs: number, on?: string): Promise<Vm> {
  return waitUntil({
    goal: on === undefined ? `${key} to run` : `${key} to run on ${on}`,
    read: async () => (await run.call("GET", `/vms/${encode(key)}`)) as Vm,
    stateOf: (v) => (v.host === null ? v.state : `${v.state} on ${v.host}`),
    reached: (v) => v.state === "running" && (on === undefined || v.host === on),
    timeoutMs,
    intervalMs: waitPollMs,
    progress: (line) => run.progress(line),
  });
}

export function addVmCommands(program: Command, io: Output): void {
  const vm = program.command("vm").description("VMs: create, HA protection, power on, migrate");
  pageOptions(apiCommand(vm, "list", "list VMs with where they run"))
    .option("--cluster <cluster>", "only the VMs of this cluster")
    .option("--host <host>", "only the VMs running on this host")
    .option("--state <state>", "only VMs in this state (running, starting, stopping, down, unknown)")
    .action(
      apiAction<{ cluster?: string; host?: string; state?: string; limit?: number; offset?: number }>(
        io,
        async (run, o) => {
          const query = { cluster: o.cluster, host: o.host, state: o.state };
          run.printTable(await run.list<Vm>("/vms", query, o), vmColumns, "VMs");
        },
      ),
    );
  apiCommand(vm, "show <vm>", "show a VM (by name or id)").action(
    apiAction(io, async (run, _o, args) =>
      run.printObject(await run.call("GET", `/vms/${encode(arg(args, 0))}`)),
    ),
  );
  apiCommand(vm, "create <name>", "create a VM and power it on (unless --no-start)")
    .option("--cluster <cluster>", "its cluster (or give --host)")
    .option("--host <host>", "the host to start it on (admission control judges it)")
    .option("--offering <offering>", "take CPUs, memory and HA from this offering")
    .option("--cpus <n>", "virtual CPUs (instead of, or over, the offering's)", numberOrText)
    .option("--memory-mib <n>", "memory in MiB", numberOrText)
    .option("--datastore <datastore>", "its datastore (default: the cluster's first)")
    .option("--ha", "protect it with HA")
    .option("--no-ha", "do not protect it, whatever the offering says")
    .option("--restart-priority <p>", "highest, high, medium, low, lowest or disabled")
    .option("--command <cmd>", "what the process driver runs (words, or a JSON array)", commandWords)
    .option("--guest-heartbeat", "monitor a heartbeat from inside the guest")
    .option("--no-start", "create it powered off")
    .option("--wait", "wait until it runs (progress on stderr)")
    .addOption(timeoutOption(300_000))
    .action(
      apiAction<{
        cluster?: string;
        host?: string;
        offering?: string;
        cpus?: number | string;
        memoryMib?: number | string;
        datastore?: string;
        ha?: boolean;
        restartPriority?: string;
        command?: string[] | string;
        guestHeartbeat?: boolean;
        start: boolean;
        wait?: boolean;
        timeout: number;
      }>(io, async (run, o, args) => {
        const name = arg(args, 0);
        if (o.wait === true && !o.start)
          throw usageError("--wait waits for a start; it does not go with --no-start");
        const body = defined({
          name,
          cluster: o.cluster,
          host: o.host,
          offering: o.offering,
          cpus: o.cpus,
          memoryMiB: o.memoryMib,
          datastore: o.datastore,
          ha: o.ha,
          restartPriority: o.restartPriority,
          command: o.command,
          guestHeartbeat: o.guestHeartbeat,
          start: o.start ? undefined : false,
        });
        const created = await run.call("POST", "/vms", body);
        if (o.wait === true) run.printObject(await waitRunning(run, name, o.timeout));
        else run.printObject(created);
      }),
    );
  apiCommand(vm, "update <vm>", "change a VM's HA protection or restart priority")
    .option("--ha", "protect it with HA")
    .option("--no-ha", "stop protecting it")
    .option(
      "--restart-priority <p>",
      "highest, high, medium, low, lowest, disabled, or default (the cluster's)",
    )
    .action(
      apiAction<{ ha?: boolean; restartPriority?: string }>(io, async (run, o, args) => {
        const priority = o.restartPriority === "default" ? null : o.restartPriority;
        const body = defined({ ha: o.ha, restartPriority: priority });
        if (Object.keys(body).length === 0)
          throw usageError("nothing to change: give --ha, --no-ha or --restart-priority");
        run.printObject(await run.call("PATCH", `/vms/${encode(arg(args, 0))}`, body));
      }),
    );
  apiCommand(vm, "start <vm>", "power a VM on through the cluster's master (admission control judges it)")
    .option("--host <host>", "on this host (default: where placement puts it)")
    .option("--wait", "wait until it runs (progress on stderr)")
    .addOption(timeoutOption(300_000))
    .action(
      apiAction<{ host?: string; wait?: boolean; timeout: number }>(io, async (run, o, args) => {
        const key = arg(args, 0);
        const answer = await run.call("POST", `/vms/${encode(key)}/start`, defined({ host: o.host }));
        if (o.wait === true) run.printObject(await waitRunning(run, key, o.timeout));
        else run.print(answer, () => [`power on of ${key} requested; the cluster's master carries it out`]);
      }),
    );
  apiCommand(
    vm,
    "migrate <vm>",
    "move a running VM to another host of its cluster (admission control judges it)",
  )
    .requiredOption("--host <host>", "the target host")
    .option("--wait", "wait until it runs there (progress on stderr)")
    .addOption(timeoutOption(300_000))
    .action(
      apiAction<{ host: string; wait?: boolean; timeout: number }>(io, async (run, o, args) => {
        const key = arg(args, 0);
        const answer = await run.call("POST", `/vms/${encode(key)}/migrate`, { host: o.host });
        if (o.wait === true) run.printObject(await waitRunning(run, key, o.timeout, o.host));
        else
          run.print(answer, () => [
            `move of ${key} to ${o.host} requested; the cluster's master carries it out`,
          ]);
      }),
    );
  apiCommand(vm, "delete <vm>", "delete a VM that runs nowhere").action(
    apiAction(io, async (run, _o, args) => {
      await run.call("DELETE", `/vms/${encode(arg(args, 0))}`);
      run.done(`deleted VM ${arg(args, 0)}`);
    }),
  );
}
