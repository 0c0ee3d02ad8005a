// `vigil cluster ...`: clusters, their HA switch (optionally for all hosts at once), availability
// settings, status, configuration issues and the configuration their agents get.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { apiAction, apiCommand, arg, defined, enableOrDisable, pageOptions, usageError } from "./api-kit.ts";
import type { Output } from "./sim-commands.ts";
import { type Column, renderObject, renderTable } from "./table.ts";

interface Cluster {
  id: string;
  name: string;
  zone: string;
  haEnabled: boolean;
  configVersion: number;
  settings: { hostMonitoring: boolean; admissionControl: { policy: string } };
}
interface StatusHost {
  name: string;
  state: string;
  haState: string;
  haStateReason: string;
  enrolled: boolean;
  lastReportAt: string | null;
}
interface StatusVm {
  name: string;
  state: string;
  host: string | null;
  protected: boolean;
}
interface Issue {
  kind: string;
  [key: string]: unknown;
}

const clusterColumns: Column<Cluster>[] = [
  { header: "NAME", value: (c) => c.name },
  { header: "ZONE", value: (c) => c.zone },
  { header: "HA", value: (c) => c.haEnabled },
  { header: "HOST_MONITORING", value: (c) => c.settings.hostMonitoring },
  { header: "ADMISSION", value: (c) => c.settings.admissionControl.policy },
  { header: "CONFIG_VERSION", value: (c) => c.configVersion, align: "right" },
  { header: "ID", value: (c) => c.id },
];

const encode = encodeURIComponent;

/** `{"a": 1}` from a file, refused as bad input unless it is a JSON object. */
function readJsonObject(file: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw usageError(`${file}: ${(error as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw usageError(`${file}: expected a JSON object`);
  return parsed as Record<string, unknown>;
}

/**
 * `key=value` assignments to a settings patch. Values are JSON when they parse (false, 5, ["a"],
 * {"policy":"disabled"}), text otherwise. A dotted key changes one field of a nested object and keeps
 * the others, which the API would replace whole (it merges only `responses` itself).
 */
export function settingsPatch(
  assignments: string[],
  current: Record<string, unknown>,
): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const assignment of assignments) {
    const eq = assignment.indexOf("=");
    if (eq <= 0) throw usageError(`"${assignment}": expected key=value, e.g. hostMonitoring=false`);
    const path = assignment.slice(0, eq).split(".");
    const text = assignment.slice(eq + 1);
    let value: unknown = text;
    try {
      value = JSON.parse(text);
    } catch {
      // Text, as given: leaveOn, high.
    }
    const top = path[0]!;
    if (path.length === 1) {
      patch[top] = value;
      continue;
    }
    const base = patch[top] ?? structuredClone(current[top] ?? {});
    if (typeof base !== "object" || base === null || Array.isArray(base))
      throw usageError(`"${assignment}": ${top} is not an object`);
    let node = base as Record<string, unknown>;
    for (const key of path.slice(1, -1)) {
      const next = node[key];
      node[key] = typeof next === "object" && next !== null && !Array.isArray(next) ? next : {};
      node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1]!] = value;
    patch[top] = base;
  }
  return patch;
}

export function addClusterCommands(program: Command, io: Output): void {
  const cluster = program.command("cluster").description("clusters: HA, availability settings, status");
  pageOptions(apiCommand(cluster, "list", "list clusters"))
    .option("--zone <zone>", "only the clusters of this zone")
    .action(
      apiAction<{ zone?: string; limit?: number; offset?: number }>(io, async (run, o) => {
        run.printTable(await run.list<Cluster>("/clusters", { zone: o.zone }, o), clusterColumns, "clusters");
      }),
    );
  apiCommand(cluster, "show <cluster>", "show a cluster (by name or id) with its settings").action(
    apiAction(io, async (run, _o, args) =>
      run.printObject(await run.call("GET", `/clusters/${encode(arg(args, 0))}`)),
    ),
  );
  apiCommand(cluster, "create <name>", "create a cluster in a zone")
    .requiredOption("--zone <zone>", "its zone")
    .option("--ha", "with HA enabled")
    .option("--settings-file <file>", "availability settings (JSON, any subset; the rest default)")
    .action(
      apiAction<{ zone: string; ha?: boolean; settingsFile?: string }>(io, async (run, o, args) => {
        const settings = o.settingsFile === undefined ? undefined : readJsonObject(o.settingsFile);
        const body = defined({ name: arg(args, 0), zone: o.zone, haEnabled: o.ha, settings });
        run.printObject(await run.call("POST", "/clusters", body));
      }),
    );
  apiCommand(cluster, "delete <cluster>", "delete a cluster with no hosts, datastores or VMs").action(
    apiAction(io, async (run, _o, args) => {
      await run.call("DELETE", `/clusters/${encode(arg(args, 0))}`);
      run.done(`deleted cluster ${arg(args, 0)}`);
    }),
  );
  apiCommand(cluster, "ha <cluster>", "enable or disable HA on a cluster")
    .option("--enable", "enable HA")
    .option("--disable", "disable HA")
    .option("--hosts", "also on every host of the cluster")
    .action(
      apiAction<{ enable?: boolean; disable?: boolean; hosts?: boolean }>(io, async (run, o, args) => {
        const body = defined({ enabled: enableOrDisable(o), includeHosts: o.hosts });
        run.printObject(await run.call("POST", `/clusters/${encode(arg(args, 0))}/ha`, body));
      }),
    );
  apiCommand(
    cluster,
    "settings <cluster> [assignments...]",
    "show the availability settings, or change them: key=value ... (e.g. hostMonitoring=false " +
      `responses.isolation=leaveOn 'admissionControl={"policy":"disabled"}' timing.leaseTtlMs=30000)`,
  )
    .option("--file <file>", "a JSON patch of the settings (any subset)")
    .action(
      apiAction<{ file?: string }>(io, async (run, o, args) => {
        const path = `/clusters/${encode(arg(args, 0))}/settings`;
        const assignments = (args[1] as string[] | undefined) ?? [];
        if (assignments.length === 0 && o.file === undefined) {
          run.printObject(await run.call("GET", path));
          return;
        }
        const fromFile = o.file === undefined ? {} : readJsonObject(o.file);
        const dotted = assignments.some((a) => a.split("=")[0]!.includes("."));
        const current = dotted ? ((await run.call("GET", path)) as Record<string, unknown>) : {};
        const patch = { ...fromFile, ...settingsPatch(assignments, { ...current, ...fromFile }) };
        run.printObject(await run.call("PATCH", path, patch));
      }),
    );
  apiCommand(cluster, "status <cluster>", "the master, every host's state and where every VM runs").action(
    apiAction(io, async (run, _o, args) => {
      const status = (await run.call("GET", `/clusters/${encode(arg(args, 0))}/status`)) as {
        master: string | null;
        hosts: StatusHost[];
        vms: StatusVm[];
      };
      run.print(status, (s) => [
        `master: ${s.master ?? "none reported"}`,
        "",
        ...renderTable<StatusHost>(
          [
            { header: "HOST", value: (h) => h.name },
            { header: "STATE", value: (h) => h.state },
            { header: "HA_STATE", value: (h) => h.haState },
            { header: "ENROLLED", value: (h) => h.enrolled },
            { header: "LAST_REPORT", value: (h) => h.lastReportAt },
            { header: "REASON", value: (h) => h.haStateReason },
          ],
          s.hosts,
        ),
        "",
        ...(s.vms.length === 0
          ? ["no VMs"]
          : renderTable<StatusVm>(
              [
                { header: "VM", value: (v) => v.name },
                { header: "STATE", value: (v) => v.state },
                { header: "HOST", value: (v) => v.host },
                { header: "PROTECTED", value: (v) => v.protected },
              ],
              s.vms,
            )),
      ]);
    }),
  );
  apiCommand(cluster, "issues <cluster>", "configuration issues that weaken or stop HA").action(
    apiAction(io, async (run, _o, args) => {
      const answer = (await run.call("GET", `/clusters/${encode(arg(args, 0))}/issues`)) as {
        items: Issue[];
      };
      run.print(answer, (a) =>
        a.items.length === 0
          ? ["no issues"]
          : a.items.flatMap((issue, i) => [...(i === 0 ? [] : [""]), ...renderObject(issue)]),
      );
    }),
  );
  apiCommand(cluster, "agent-config <cluster>", "the cluster.yaml its agents get (secrets left out)").action(
    apiAction(io, async (run, _o, args) => {
      const answer = (await run.call("GET", `/clusters/${encode(arg(args, 0))}/agent-config`)) as {
        version: number;
        clusterYaml: string;
        secretFiles: string[];
      };
      run.print(answer, (a) => [
        `# version ${a.version}; secret files: ${a.secretFiles.join(", ") || "none"}`,
        ...a.clusterYaml.trimEnd().split("\n"),
      ]);
    }),
  );
}
