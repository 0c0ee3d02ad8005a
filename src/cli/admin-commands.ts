// `vigil setting|token|rule ...`: global settings, API tokens and the placement rules of a cluster.
import type { Command } from "commander";
import { apiAction, apiCommand, arg, commaList, defined, usageError } from "./api-kit.ts";
import type { Output } from "./sim-commands.ts";
import type { Column } from "./table.ts";

interface Setting {
  name: string;
  value: string;
  default: string;
  type: string;
  description: string;
}
interface Token {
  id: string;
  name: string;
  role: string;
  createdAt: string;
}
interface Rule {
  id: string;
  name: string;
  type: string;
  vms?: string[];
  hosts?: string[];
  strict?: boolean;
  vm?: string;
  after?: string[];
}

const settingColumns: Column<Setting>[] = [
  { header: "NAME", value: (s) => s.name },
  { header: "VALUE", value: (s) => s.value },
  { header: "DEFAULT", value: (s) => s.default },
  { header: "DESCRIPTION", value: (s) => s.description },
];
const tokenColumns: Column<Token>[] = [
  { header: "NAME", value: (t) => t.name },
  { header: "ROLE", value: (t) => t.role },
  { header: "CREATED", value: (t) => t.createdAt },
  { header: "ID", value: (t) => t.id },
];
const ruleColumns: Column<Rule>[] = [
  { header: "NAME", value: (r) => r.name },
  { header: "TYPE", value: (r) => r.type },
  { header: "VMS", value: (r) => r.vms ?? (r.vm === undefined ? undefined : [r.vm]) },
  { header: "HOSTS", value: (r) => r.hosts },
  { header: "AFTER", value: (r) => r.after },
  { header: "STRICT", value: (r) => r.strict },
];

export const ruleTypes = {
  vmAntiAffinity: "--vms on different hosts",
  vmAffinity: "--vms on the same host",
  vmHostAffinity: "--vms on --hosts (--strict: only there)",
  vmHostAntiAffinity: "--vms not on --hosts (--strict: never)",
  startAfter: "--vm starts after --after",
} as const;
type RuleType = keyof typeof ruleTypes;

function ruleBody(
  name: string,
  o: { type: string; vms?: string[]; hosts?: string[]; strict?: boolean; vm?: string; after?: string[] },
) {
  if (!Object.hasOwn(ruleTypes, o.type))
    throw usageError(`--type: unknown rule type "${o.type}"; known: ${Object.keys(ruleTypes).join(", ")}`);
  const type = o.type as RuleType;
  switch (type) {
    case "vmAntiAffinity":
    case "vmAffinity":
      return defined({ name, type, vms: o.vms });
    case "vmHostAffinity":
    case "vmHostAntiAffinity":
      return defined({ name, type, vms: o.vms, hosts: o.hosts, strict: o.strict });
    case "startAfter":
      return defined({ name, type, vm: o.vm, after: o.after });
  }
}

const encode = encodeURIComponent;

export function addSettingCommands(program: Command, io: Output): void {
  const setting = program.command("setting").description("global settings");
  apiCommand(setting, "list", "list global settings with their values and defaults").action(
    apiAction(io, async (run) => {
      run.printTable(
        (await run.call("GET", "/settings")) as { items: Setting[] },
        settingColumns,
        "settings",
      );
    }),
  );
  apiCommand(setting, "show <name>", "show a global setting").action(
    apiAction(io, async (run, _o, args) =>
      run.printObject(await run.call("GET", `/settings/${encode(arg(args, 0))}`)),
    ),
  );
  apiCommand(setting, "set <name> <value>", "change a global setting").action(
    apiAction(io, async (run, _o, args) =>
      run.printObject(await run.call("PUT", `/settings/${encode(arg(args, 0))}`, { value: arg(args, 1) })),
    ),
  );
}

export function addTokenCommands(program: Command, io: Output): void {
  const token = program.command("token").description("API tokens (admin only)");
  apiCommand(token, "list", "list API tokens (never their secrets)").action(
    apiAction(io, async (run) => {
      run.printTable((await run.call("GET", "/tokens")) as { items: Token[] }, tokenColumns, "tokens");
    }),
  );
  apiCommand(token, "create <name>", "create an API token; it is shown this once")
    .requiredOption("--role <role>", "viewer, operator or admin")
    .action(
      apiAction<{ role: string }>(io, async (run, o, args) => {
        const answer = (await run.call("POST", "/tokens", { name: arg(args, 0), role: o.role })) as Token & {
          token: string;
        };
        run.print(answer, (a) => [`token ${a.name} (${a.role}) created; it is shown only now:`, a.token]);
      }),
    );
  apiCommand(token, "delete <token>", "revoke a token (by name or id)").action(
    apiAction(io, async (run, _o, args) => {
      await run.call("DELETE", `/tokens/${encode(arg(args, 0))}`);
      run.done(`revoked token ${arg(args, 0)}`);
    }),
  );
}

export function addRuleCommands(program: Command, io: Output): void {
  const rule = program.command("rule").description("a cluster's VM and host placement rules");
  apiCommand(rule, "list", "list a cluster's rules")
    .requiredOption("--cluster <cluster>", "the cluster")
    .action(
      apiAction<{ cluster: string }>(io, async (run, o) => {
        const answer = (await run.call("GET", `/clusters/${encode(o.cluster)}/rules`)) as { items: Rule[] };
        run.printTable(answer, ruleColumns, "rules");
      }),
    );
  apiCommand(
    rule,
    "create <name>",
    `add a rule (refused if it contradicts another); types: ${Object.entries(ruleTypes)
      .map(([t, d]) => `${t} (${d})`)
      .join("; ")}`,
  )
    .requiredOption("--cluster <cluster>", "the cluster")
    .requiredOption("--type <type>", Object.keys(ruleTypes).join(", "))
    .option("--vms <a,b>", "VMs, comma separated", commaList)
    .option("--hosts <a,b>", "hosts, comma separated", commaList)
    .option("--strict", "must, not should (host rules)")
    .option("--vm <vm>", "the VM that waits (startAfter)")
    .option("--after <a,b>", "the VMs it waits for (startAfter)", commaList)
    .action(
      apiAction<{
        cluster: string;
        type: string;
        vms?: string[];
        hosts?: string[];
        strict?: boolean;
        vm?: string;
        after?: string[];
      }>(io, async (run, o, args) => {
        const body = ruleBody(arg(args, 0), o);
        run.printObject(await run.call("POST", `/clusters/${encode(o.cluster)}/rules`, body));
      }),
    );
  apiCommand(rule, "delete <rule>", "delete a rule")
    .requiredOption("--cluster <cluster>", "the cluster")
    .action(
      apiAction<{ cluster: string }>(io, async (run, o, args) => {
        await run.call("DELETE", `/clusters/${encode(o.cluster)}/rules/${encode(arg(args, 0))}`);
        run.done(`deleted rule ${arg(args, 0)} of cluster ${o.cluster}`);
      }),
    );
}
