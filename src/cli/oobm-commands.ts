// `vigil oobm ...`: out-of-band management of hosts (BMCs): configure, enable or disable (a host or
// a whole cluster), and power actions that can wait for the power state. Passwords never come from
// argv (other users see it in ps): a file, stdin or the environment.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { type ApiRun, apiAction, apiCommand, arg, defined, numberOrText, usageError } from "./api-kit.ts";
import type { Host } from "./host-commands.ts";
import type { Output } from "./sim-commands.ts";
import type { Column } from "./table.ts";
import { timeoutOption, waitPollMs, waitUntil } from "./wait.ts";

export const passwordEnv = "VIGIL_OOBM_PASSWORD";

/** The API's power actions and the power state each one ends in (null: no state to wait for). */
const powerActions = {
  on: { action: "ON", settles: "On" },
  off: { action: "OFF", settles: "Off" },
  soft: { action: "SOFT", settles: "Off" },
  cycle: { action: "CYCLE", settles: "On" },
  reset: { action: "RESET", settles: "On" },
  status: { action: "STATUS", settles: null },
} as const;
type PowerVerb = keyof typeof powerActions;

interface PowerAnswer {
  host: string;
  action: string;
  powerState: string;
}

const oobmColumns: Column<Host>[] = [
  { header: "HOST", value: (h) => h.name },
  { header: "CLUSTER", value: (h) => h.cluster },
  { header: "DRIVER", value: (h) => h.oobm.driver },
  { header: "ADDRESS", value: (h) => h.oobm.address },
  { header: "ENABLED", value: (h) => h.oobm.enabled },
  { header: "POWER", value: (h) => h.oobm.powerState },
  { header: "HA_STATE", value: (h) => h.haState },
];

const encode = encodeURIComponent;

function readPassword(o: { passwordFile?: string; passwordStdin?: boolean }): string | undefined {
  if (o.passwordFile !== undefined && o.passwordStdin === true)
    throw usageError("give one of --password-file and --password-stdin");
  let text: string | undefined;
  if (o.passwordFile !== undefined) {
    try {
      text = readFileSync(o.passwordFile, "utf8");
    } catch (error) {
      throw usageError(
        `cannot read --password-file ${o.passwordFile}: ${(error as NodeJS.ErrnoException).code}`,
      );
    }
  } else if (o.passwordStdin === true) text = readFileSync(0, "utf8");
  else text = process.env[passwordEnv];
  if (text === undefined) return undefined;
  // Files and echo end with a newline that is not part of the password.
  const password = text.replace(/\r?\n$/, "");
  if (password === "") throw usageError("the BMC password is empty");
  return password;
}

async function setEnabled(
  run: ApiRun,
  key: string | undefined,
  cluster: string | undefined,
  enabled: boolean,
) {
  if ((key === undefined) === (cluster === undefined)) throw usageError("give either a host or --cluster");
  if (cluster !== undefined) {
    const answer = (await run.call("POST", `/clusters/${encode(cluster)}/oobm/enabled`, { enabled })) as {
      hosts: string[];
      skipped: string[];
    };
    run.print(answer, (a) => [
      `out-of-band management ${enabled ? "enabled" : "disabled"} on ${a.hosts.join(", ") || "no host"}`,
      ...(a.skipped.length === 0 ? [] : [`not configured, skipped: ${a.skipped.join(", ")}`]),
    ]);
    return;
  }
  run.printObject(await run.call("POST", `/hosts/${encode(key!)}/oobm/enabled`, { enabled }));
}

export function addOobmCommands(program: Command, io: Output): void {
  const oobm = program.command("oobm").description("out-of-band management (BMCs): configure, enable, power");
  apiCommand(oobm, "list", "out-of-band management of every host")
    .option("--cluster <cluster>", "only the hosts of this cluster")
    .action(
      apiAction<{ cluster?: string }>(io, async (run, o) => {
        run.printTable(await run.list<Host>("/hosts", { cluster: o.cluster }, {}), oobmColumns, "hosts");
      }),
    );
  apiCommand(oobm, "show <host>", "a host's out-of-band management (never its password)").action(
    apiAction(io, async (run, _o, args) => {
      const host = (await run.call("GET", `/hosts/${encode(arg(args, 0))}`)) as Host;
      run.printObject(host.oobm);
    }),
  );
  apiCommand(
    oobm,
    "configure <host>",
    `set a host's BMC; the password comes from --password-file, --password-stdin or ${passwordEnv} ` +
      "(kept as it is when none is given)",
  )
    .requiredOption("--driver <driver>", "ipmitool")
    .requiredOption("--address <address>", "the BMC's address")
    .option("--port <port>", "the BMC's port (default 623)", numberOrText)
    .requiredOption("--user <user>", "the BMC user")
    .option("--password-file <file>", "read the BMC password from this file")
    .option("--password-stdin", "read the BMC password from stdin")
    .action(
      apiAction<{
        driver: string;
        address: string;
        port?: number | string;
        user: string;
        passwordFile?: string;
        passwordStdin?: boolean;
      }>(io, async (run, o, args) => {
        const body = defined({
          driver: o.driver,
          address: o.address,
          port: o.port,
          user: o.user,
          password: readPassword(o),
        });
        run.printObject(await run.call("PUT", `/hosts/${encode(arg(args, 0))}/oobm`, body));
      }),
    );
  for (const enabled of [true, false]) {
    const verb = enabled ? "enable" : "disable";
    apiCommand(oobm, `${verb} [host]`, `${verb} out-of-band management of a host or of a whole cluster`)
      .option("--cluster <cluster>", `${verb} it on every configured host of this cluster`)
      .action(
        apiAction<{ cluster?: string }>(io, async (run, o, args) =>
          setEnabled(run, args[0] as string | undefined, o.cluster, enabled),
        ),
      );
  }
  apiCommand(
    oobm,
    "power <host> <action>",
    `a power action through the BMC: ${Object.keys(powerActions).join(", ")}`,
  )
    .option("--wait", "after the action, poll the BMC until it shows the power state the action ends in")
    .addOption(timeoutOption(300_000))
    .action(
      apiAction<{ wait?: boolean; timeout: number }>(io, async (run, o, args) => {
        const key = arg(args, 0);
        const verb = arg(args, 1).toLowerCase();
        if (!Object.hasOwn(powerActions, verb))
          throw usageError(`unknown power action "${verb}"; known: ${Object.keys(powerActions).join(", ")}`);
        const { action, settles } = powerActions[verb as PowerVerb];
        const path = `/hosts/${encode(key)}/oobm/power`;
        if (o.wait === true && settles !== null) run.progress(`${action} issued to ${key}`);
        let answer = (await run.call("POST", path, { action })) as PowerAnswer;
        if (o.wait === true && settles !== null) {
          answer = await waitUntil({
            goal: `${key} to be powered ${settles}`,
            read: async () => (await run.call("POST", path, { action: "STATUS" })) as PowerAnswer,
            stateOf: (a) => `power ${a.powerState}`,
            reached: (a) => a.powerState === settles,
            timeoutMs: o.timeout,
            intervalMs: waitPollMs,
            progress: (line) => run.progress(line),
          });
        }
        run.print(answer, (a) => [`${a.host}: ${a.action} done, power ${a.powerState}`]);
      }),
    );
}
