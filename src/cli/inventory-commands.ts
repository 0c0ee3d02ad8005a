// `vigil zone|datastore|offering ...`: the simple parts of the inventory (clusters, hosts and VMs
// have their own files).
import type { Command } from "commander";
import {
  apiAction,
  apiCommand,
  arg,
  defined,
  enableOrDisable,
  numberOrText,
  pageOptions,
} from "./api-kit.ts";
import type { Output } from "./sim-commands.ts";
import type { Column } from "./table.ts";

interface Zone {
  id: string;
  name: string;
  haEnabled: boolean;
  createdAt: string;
}
interface Datastore {
  id: string;
  name: string;
  cluster: string;
  path: string;
  heartbeat: boolean;
}
interface Offering {
  id: string;
  name: string;
  cpus: number;
  memoryMiB: number;
  offerHa: boolean;
}

const zoneColumns: Column<Zone>[] = [
  { header: "NAME", value: (z) => z.name },
  { header: "HA", value: (z) => z.haEnabled },
  { header: "ID", value: (z) => z.id },
  { header: "CREATED", value: (z) => z.createdAt },
];
const datastoreColumns: Column<Datastore>[] = [
  { header: "NAME", value: (d) => d.name },
  { header: "CLUSTER", value: (d) => d.cluster },
  { header: "PATH", value: (d) => d.path },
  { header: "HEARTBEAT", value: (d) => d.heartbeat },
  { header: "ID", value: (d) => d.id },
];
const offeringColumns: Column<Offering>[] = [
  { header: "NAME", value: (o) => o.name },
  { header: "CPUS", value: (o) => o.cpus, align: "right" },
  { header: "MEMORY_MIB", value: (o) => o.memoryMiB, align: "right" },
  { header: "OFFER_HA", value: (o) => o.offerHa },
  { header: "ID", value: (o) => o.id },
];

const encode = encodeURIComponent;

export function addZoneCommands(program: Command, io: Output): void {
  const zone = program
    .command("zone")
    .description("zones: the top of the inventory, with the first HA switch");
  pageOptions(apiCommand(zone, "list", "list zones"))
    .option("--name <name>", "only the zone of this name")
    .action(
      apiAction<{ name?: string; limit?: number; offset?: number }>(io, async (run, o) => {
        const page = await run.list<Zone>("/zones", { name: o.name }, o);
        run.printTable(page, zoneColumns, "zones");
      }),
    );
  apiCommand(zone, "show <zone>", "show a zone (by name or id)").action(
    apiAction(io, async (run, _o, args) =>
      run.printObject(await run.call("GET", `/zones/${encode(arg(args, 0))}`)),
    ),
  );
  apiCommand(zone, "create <name>", "create a zone")
    .option("--ha", "with HA enabled")
    .action(
      apiAction<{ ha?: boolean }>(io, async (run, o, args) =>
        run.printObject(await run.call("POST", "/zones", defined({ name: arg(args, 0), haEnabled: o.ha }))),
      ),
    );
  apiCommand(zone, "delete <zone>", "delete a zone that has no clusters").action(
    apiAction(io, async (run, _o, args) => {
      await run.call("DELETE", `/zones/${encode(arg(args, 0))}`);
      run.done(`deleted zone ${arg(args, 0)}`);
    }),
  );
  apiCommand(zone, "ha <zone>", "enable or disable HA on a zone (no VM of it is protected while off)")
    .option("--enable", "enable HA")
    .option("--disable", "disable HA")
    .action(
      apiAction<{ enable?: boolean; disable?: boolean }>(io, async (run, o, args) => {
        const enabled = enableOrDisable(o);
        run.printObject(await run.call("POST", `/zones/${encode(arg(args, 0))}/ha`, { enabled }));
      }),
    );
}

export function addDatastoreCommands(program: Command, io: Output): void {
  const ds = program
    .command("datastore")
    .description("datastores: shared storage with heartbeats and leases");
  pageOptions(apiCommand(ds, "list", "list datastores"))
    .option("--cluster <cluster>", "only the datastores of this cluster")
    .action(
      apiAction<{ cluster?: string; limit?: number; offset?: number }>(io, async (run, o) => {
        const page = await run.list<Datastore>("/datastores", { cluster: o.cluster }, o);
        run.printTable(page, datastoreColumns, "datastores");
      }),
    );
  apiCommand(ds, "show <datastore>", "show a datastore (by name or id)").action(
    apiAction(io, async (run, _o, args) =>
      run.printObject(await run.call("GET", `/datastores/${encode(arg(args, 0))}`)),
    ),
  );
  apiCommand(ds, "create <name>", "add a datastore every host of the cluster mounts at the same path")
    .requiredOption("--cluster <cluster>", "its cluster")
    .requiredOption("--path <path>", "where every host mounts it (absolute)")
    .action(
      apiAction<{ cluster: string; path: string }>(io, async (run, o, args) =>
        run.printObject(
          await run.call("POST", "/datastores", { name: arg(args, 0), cluster: o.cluster, path: o.path }),
        ),
      ),
    );
  apiCommand(ds, "delete <datastore>", "remove a datastore no VM uses").action(
    apiAction(io, async (run, _o, args) => {
      await run.call("DELETE", `/datastores/${encode(arg(args, 0))}`);
      run.done(`deleted datastore ${arg(args, 0)}`);
    }),
  );
}

export function addOfferingCommands(program: Command, io: Output): void {
  const off = program.command("offering").description("compute offerings: CPUs, memory and offer HA");
  pageOptions(apiCommand(off, "list", "list compute offerings")).action(
    apiAction<{ limit?: number; offset?: number }>(io, async (run, o) => {
      run.printTable(await run.list<Offering>("/offerings", {}, o), offeringColumns, "offerings");
    }),
  );
  apiCommand(off, "show <offering>", "show an offering (by name or id)").action(
    apiAction(io, async (run, _o, args) =>
      run.printObject(await run.call("GET", `/offerings/${encode(arg(args, 0))}`)),
    ),
  );
  apiCommand(off, "create <name>", "create a compute offering")
    .requiredOption("--cpus <n>", "virtual CPUs", numberOrText)
    .requiredOption("--memory-mib <n>", "memory in MiB", numberOrText)
    .option("--ha", "offer HA: VMs created from it are protected")
    .action(
      apiAction<{ cpus: number | string; memoryMib: number | string; ha?: boolean }>(
        io,
        async (run, o, args) =>
          run.printObject(
            await run.call(
              "POST",
              "/offerings",
              defined({ name: arg(args, 0), cpus: o.cpus, memoryMiB: o.memoryMib, offerHa: o.ha }),
            ),
          ),
      ),
    );
  apiCommand(off, "delete <offering>", "delete an offering no VM uses").action(
    apiAction(io, async (run, _o, args) => {
      await run.call("DELETE", `/offerings/${encode(arg(args, 0))}`);
      run.done(`deleted offering ${arg(args, 0)}`);
    }),
  );
}
