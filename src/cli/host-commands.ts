// `vigil host ...`: hosts, HA per host, maintenance mode (with --wait until the host's agent has
// evacuated it) and one-time enrollment tokens for their agents.
import { type Command, Option } from "commander";
import {
  apiAction,
  apiCommand,
  arg,
  commaList,
  defined,
  enableOrDisable,
  numberOrText,
  pageOptions,
  usageError,
} from "./api-kit.ts";
import type { Output } from "./sim-commands.ts";
import type { Column } from "./table.ts";
import { timeoutOption, waitPollMs, waitUntil } from "./wait.ts";

export interface Host {
  id: string;
  name: string;
  cluster: string;
  address: string;
  cpus: number;
  memoryMiB: number;
  tags: string[];
  haEnabled: boolean;
  haState: string;
  haStateReason: string;
  state: string;
  enrolled: boolean;
  oobm: { driver: string | null; enabled: boolean; powerState: string; address: string | null };
}

const hostColumns: Column<Host>[] = [
  { header: "NAME", value: (h) => h.name },
  { header: "CLUSTER", value: (h) => h.cluster },
  { header: "ADDRESS", value: (h) => h.address },
  { header: "STATE", value: (h) => h.state },
  { header: "HA", value: (h) => h.haEnabled },
  { header: "HA_STATE", value: (h) => h.haState },
  { header: "CPUS", value: (h) => h.cpus, align: "right" },
  { header: "MEMORY_MIB", value: (h) => h.memoryMiB, align: "right" },
  { header: "ENROLLED", value: (h) => h.enrolled },
  { header: "POWER", value: (h) => h.oobm.powerState },
];

const encode = encodeURIComponent;

interface HostFields {
  address?: string;
  agentPort?: number | string;
  cpus?: number | string;
  memoryMib?: number | string;
  tags?: string[];
  faultDomain?: string;
  electionPriority?: number | string;
}

const fieldOptions: {
  flags: string;
  description: string;
  parse?: (v: string) => unknown;
  onCreate?: "required";
}[] = [
  { flags: "--address <address>", description: "the address its agent is reached at", onCreate: "required" },
  { flags: "--cpus <n>", description: "CPUs for VMs", parse: numberOrText, onCreate: "required" },
  {
    flags: "--memory-mib <n>",
    description: "memory for VMs, in MiB",
    parse: numberOrText,
    onCreate: "required",
  },
  { flags: "--agent-port <port>", description: "the agent's UDP port (default 7410)", parse: numberOrText },
  { flags: "--tags <a,b>", description: "host tags, comma separated", parse: commaList },
  { flags: "--fault-domain <name>", description: "rack or fault domain" },
  {
    flags: "--election-priority <n>",
    description: "higher wins the master election (-1000..1000)",
    parse: numberOrText,
  },
];

function editableFields(command: Command, creating: boolean): Command {
  for (const f of fieldOptions) {
    const option = new Option(f.flags, f.description).makeOptionMandatory(
      creating && f.onCreate === "required",
    );
    command.addOption(f.parse === undefined ? option : option.argParser(f.parse));
  }
  return command;
}

function bodyOf(o: HostFields) {
  return defined({
    address: o.address,
    agentPort: o.agentPort,
    cpus: o.cpus,
    memoryMiB: o.memoryMib,
    tags: o.tags,
    faultDomain: o.faultDomain,
    electionPriority: o.electionPriority,
  });
}

export function addHostCommands(program: Command, io: Output): void {
  const host = program.command("host").description("hosts: HA, maintenance, agent enrollment");
  pageOptions(apiCommand(host, "list", "list hosts with their HA state"))
    .option("--cluster <cluster>", "only the hosts of this cluster")
    .option("--ha-state <state>", "only hosts in this HA state (Available, Suspect, ...)")
    .option("--state <state>", "only hosts in this engine state (connected, maintenance, ...)")
    .action(
      apiAction<{ cluster?: string; haState?: string; state?: string; limit?: number; offset?: number }>(
        io,
        async (run, o) => {
          const query = { cluster: o.cluster, haState: o.haState, state: o.state };
          run.printTable(await run.list<Host>("/hosts", query, o), hostColumns, "hosts");
        },
      ),
    );
  apiCommand(host, "show <host>", "show a host (by name or id)").action(
    apiAction(io, async (run, _o, args) =>
      run.printObject(await run.call("GET", `/hosts/${encode(arg(args, 0))}`)),
    ),
  );
  editableFields(apiCommand(host, "create <name>", "add a host; prints its agent's enrollment token"), true)
    .requiredOption("--cluster <cluster>", "its cluster")
    .option("--ha", "with HA enabled")
    .action(
      apiAction<HostFields & { cluster: string; ha?: boolean }>(io, async (run, o, args) => {
        const name = arg(args, 0);
        const body = { name, cluster: o.cluster, ...bodyOf(o), ...defined({ haEnabled: o.ha }) };
        const answer = (await run.call("POST", "/hosts", body)) as Host & { enrollmentToken: string };
        if (run.json) {
          run.printObject(answer);
          return;
        }
        const { enrollmentToken, ...view } = answer;
        run.printObject(view);
        run.io.out("");
        run.io.out(`enrollment token for ${name} (shown once, works once): ${enrollmentToken}`);
      }),
    );
  editableFields(apiCommand(host, "update <host>", "change a host's fields (those given)"), false).action(
    apiAction<HostFields>(io, async (run, o, args) => {
      const body = bodyOf(o);
      if (Object.keys(body).length === 0) throw usageError("nothing to change: give a field, e.g. --cpus 32");
      run.printObject(await run.call("PATCH", `/hosts/${encode(arg(args, 0))}`, body));
    }),
  );
  apiCommand(host, "delete <host>", "remove a host").action(
    apiAction(io, async (run, _o, args) => {
      await run.call("DELETE", `/hosts/${encode(arg(args, 0))}`);
      run.done(`deleted host ${arg(args, 0)}`);
    }),
  );
  apiCommand(host, "ha <host>", "configure and enable or disable HA on a host")
    .option("--enable", "enable HA")
    .option("--disable", "disable HA")
    .option("--provider <provider>", "the HA provider (vigil)")
    .action(
      apiAction<{ enable?: boolean; disable?: boolean; provider?: string }>(io, async (run, o, args) => {
        const body = defined({ enabled: enableOrDisable(o), provider: o.provider });
        run.printObject(await run.call("POST", `/hosts/${encode(arg(args, 0))}/ha`, body));
      }),
    );
  apiCommand(
    host,
    "enrollment-token <host>",
    "issue a new one-time enrollment token (the old one and the agent's credential stop working)",
  ).action(
    apiAction(io, async (run, _o, args) => {
      const answer = (await run.call("POST", `/hosts/${encode(arg(args, 0))}/enrollment-token`, {})) as {
        host: string;
        enrollmentToken: string;
      };
      run.print(answer, (a) => [a.enrollmentToken]);
    }),
  );
  apiCommand(
    host,
    "maintenance <host>",
    "enter or leave maintenance (entering is judged by admission control)",
  )
    .option("--enable", "enter maintenance: the host's agent moves its VMs away")
    .option("--disable", "leave maintenance")
    .option("--wait", "wait until the host's state shows it (progress on stderr)")
    .addOption(timeoutOption(600_000))
    .action(
      apiAction<{ enable?: boolean; disable?: boolean; wait?: boolean; timeout: number }>(
        io,
        async (run, o, args) => {
          const key = arg(args, 0);
          const enable = enableOrDisable(o);
          const answer = await run.call("POST", `/hosts/${encode(key)}/maintenance`, { enable });
          if (o.wait !== true) {
            run.print(answer, () => [
              `${enable ? "enter" : "exit"} maintenance requested for ${key}; its agent carries it out at its next sync`,
            ]);
            return;
          }
          run.progress(`${enable ? "enter" : "exit"} maintenance requested for ${key}`);
          const final = await waitUntil({
            goal: `${key} to ${enable ? "enter" : "leave"} maintenance`,
            read: async () => (await run.call("GET", `/hosts/${encode(key)}`)) as Host,
            stateOf: (h) => `state ${h.state}, HA state ${h.haState}`,
            reached: (h) =>
              enable ? h.state === "maintenance" : h.state !== "maintenance" && h.state !== "unknown",
            timeoutMs: o.timeout,
            intervalMs: waitPollMs,
            progress: (line) => run.progress(line),
          });
          run.print(final, (h) => [`${h.name}: state ${h.state}, HA state ${h.haState}`]);
        },
      ),
    );
}
