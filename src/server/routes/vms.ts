// VMs: created from an offering (or explicit CPUs and memory) on a datastore of a cluster, powered
// on through the cluster's master after admission control; HA and restart priority per VM.
import { Type } from "typebox";
import { hostFitProblem } from "../../core/admission.ts";
import { admissionInputs, admit } from "../admission-view.ts";
import { sourceOf } from "../auth.ts";
import type { ServerContext } from "../context.ts";
import { ApiError } from "../errors.ts";
import {
  asInt,
  findByKey,
  findDatastore,
  type Host,
  loadClusterBundle,
  newId,
  type Vm,
} from "../inventory.ts";
import { clusterStatus } from "../views.ts";
import { type App, changeCluster, IdParams, Name, PageQuery, pageOf, route } from "./common.ts";
import { queueCommand, staleMs } from "./hosts.ts";

const Priority = Type.Union(
  ["highest", "high", "medium", "low", "lowest", "disabled"].map((p) => Type.Literal(p)),
);
const Command = Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 64 });

async function vmViews(ctx: ServerContext, clusterId?: string) {
  const db = ctx.store.db;
  let sel = db.selectFrom("clusters").select("id");
  if (clusterId !== undefined) sel = sel.where("id", "=", clusterId);
  const stale = await staleMs(db);
  const out = [];
  for (const c of await sel.orderBy("name").execute())
    out.push(...clusterStatus(await loadClusterBundle(db, c.id), ctx.now().getTime(), stale).vms);
  return out;
}

async function vmView(ctx: ServerContext, vm: Vm) {
  return (await vmViews(ctx, vm.cluster_id)).find((v) => v.id === vm.id)!;
}

async function requestPowerOn(
  ctx: ServerContext,
  req: Parameters<typeof sourceOf>[0],
  vm: Vm,
  host: Host | null,
) {
  const db = ctx.store.db;
  const b = await loadClusterBundle(db, vm.cluster_id);
  const status = clusterStatus(b, ctx.now().getTime(), await staleMs(db));
  const current = status.vms.find((v) => v.id === vm.id);
  if (current !== undefined && (current.state === "running" || current.state === "starting"))
    throw new ApiError("conflict", `VM ${vm.name} is already ${current.state} on ${current.host}`);
  if (host !== null)
    admit(b, status, {
      kind: "powerOn",
      vm: { name: vm.name, cpus: vm.cpus, memoryMiB: vm.memory_mib },
      host: host.name,
    });
  await queueCommand(ctx, vm.cluster_id, null, "powerOn", { vm: vm.name, host: host?.name ?? null });
  await ctx.events.record([
    {
      clusterId: vm.cluster_id,
      host: host?.name ?? null,
      vm: vm.name,
      type: "powerOnRequested",
      level: "info",
      message: `power on of ${vm.name}${host === null ? "" : ` on ${host.name}`} requested; the cluster's master carries it out`,
      data: {},
      source: sourceOf(req),
    },
  ]);
}

export function vmRoutes(app: App, ctx: ServerContext): void {
  const db = ctx.store.db;
  app.get(
    "/vms",
    route("viewer", "vms", "list VMs with where they run", {
      querystring: Type.Object({
        ...PageQuery,
        cluster: Type.Optional(Type.String()),
        host: Type.Optional(Type.String()),
        state: Type.Optional(Type.String()),
      }),
    }),
    async (req) => {
      const q = req.query as {
        cluster?: string;
        host?: string;
        state?: string;
        limit?: number;
        offset?: number;
      };
      const clusterId = q.cluster === undefined ? undefined : (await findByKey(db, "clusters", q.cluster)).id;
      const items = (await vmViews(ctx, clusterId)).filter(
        (v) => (q.host === undefined || v.host === q.host) && (q.state === undefined || v.state === q.state),
      );
      return pageOf(items, q);
    },
  );
  app.post(
    "/vms",
    route("operator", "vms", "create a VM (and power it on unless start is false)", {
      body: Type.Object(
        {
          name: Name,
          cluster: Type.Optional(Type.String({ minLength: 1 })),
          host: Type.Optional(Type.String({ minLength: 1 })),
          offering: Type.Optional(Type.String({ minLength: 1 })),
          cpus: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024 })),
          memoryMiB: Type.Optional(Type.Integer({ minimum: 16 })),
          datastore: Type.Optional(Type.String({ minLength: 1 })),
          ha: Type.Optional(Type.Boolean()),
          restartPriority: Type.Optional(Priority),
          command: Type.Optional(Command),
          guestHeartbeat: Type.Optional(Type.Boolean()),
          start: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    }),
    async (req, reply) => {
      const b = req.body as {
        name: string;
        cluster?: string;
        host?: string;
        offering?: string;
        cpus?: number;
        memoryMiB?: number;
        datastore?: string;
        ha?: boolean;
        restartPriority?: string;
        command?: string[];
        guestHeartbeat?: boolean;
        start?: boolean;
      };
      const host =
        b.host === undefined
          ? null
          : await findByKey(db, "hosts", b.host).catch(() => {
              throw new ApiError("invalidInput", `body.host: no host "${b.host}"`, "body.host");
            });
      const clusterKey = b.cluster ?? null;
      if (clusterKey === null && host === null)
        throw new ApiError("invalidInput", "body.cluster: give the cluster or the host", "body.cluster");
      const cluster =
        clusterKey === null
          ? await findByKey(db, "clusters", host!.cluster_id)
          : await findByKey(db, "clusters", clusterKey).catch(() => {
              throw new ApiError("invalidInput", `body.cluster: no cluster "${clusterKey}"`, "body.cluster");
            });
      if (host !== null && host.cluster_id !== cluster.id)
        throw new ApiError(
          "invalidInput",
          `body.host: host ${host.name} is not in cluster ${cluster.name}`,
          "body.host",
        );
      const offering =
        b.offering === undefined
          ? null
          : await findByKey(db, "offerings", b.offering).catch(() => {
              throw new ApiError(
                "invalidInput",
                `body.offering: no offering "${b.offering}"`,
                "body.offering",
              );
            });
      const cpus = b.cpus ?? offering?.cpus;
      const memoryMiB = b.memoryMiB ?? offering?.memory_mib;
      if (cpus === undefined)
        throw new ApiError("invalidInput", "body.cpus: give cpus or an offering", "body.cpus");
      if (memoryMiB === undefined)
        throw new ApiError("invalidInput", "body.memoryMiB: give memoryMiB or an offering", "body.memoryMiB");
      const datastore =
        b.datastore === undefined
          ? await db
              .selectFrom("datastores")
              .selectAll()
              .where("cluster_id", "=", cluster.id)
              .orderBy("name")
              .executeTakeFirst()
          : await findDatastore(db, b.datastore, cluster.id).catch(() => {
              throw new ApiError(
                "invalidInput",
                `body.datastore: no datastore "${b.datastore}" in cluster ${cluster.name}`,
                "body.datastore",
              );
            });
      if (datastore === undefined)
        throw new ApiError(
          "invalidInput",
          `body.datastore: cluster ${cluster.name} has no datastore yet`,
          "body.datastore",
        );
      if (
        (await db.selectFrom("vms").select("id").where("name", "=", b.name).executeTakeFirst()) !== undefined
      )
        throw new ApiError("conflict", `a VM named "${b.name}" exists`, "body.name");
      const row: Vm = {
        id: newId(),
        cluster_id: cluster.id,
        name: b.name,
        offering_id: offering?.id ?? null,
        cpus,
        memory_mib: memoryMiB,
        datastore_id: datastore.id,
        ha: asInt(b.ha ?? (offering === null ? false : offering.offer_ha !== 0)),
        restart_priority: b.restartPriority ?? null,
        requested_host_id: host?.id ?? null,
        command: b.command === undefined ? null : JSON.stringify(b.command),
        guest_heartbeat: asInt(b.guestHeartbeat ?? false),
        created_at: ctx.now().toISOString(),
      };
      if (b.start !== false && host !== null) {
        // Judge admission before anything is stored, so a refused power-on leaves nothing behind.
        const bundle = await loadClusterBundle(db, cluster.id);
        admit(bundle, clusterStatus(bundle, ctx.now().getTime(), await staleMs(db)), {
          kind: "powerOn",
          vm: { name: row.name, cpus, memoryMiB },
          host: host.name,
        });
      }
      await changeCluster(
        ctx,
        req,
        cluster.id,
        (trx) => trx.insertInto("vms").values(row).execute(),
        () => [
          {
            host: host?.name ?? null,
            vm: row.name,
            type: "vmCreated",
            level: "info",
            message: `VM ${row.name} created (${cpus} CPUs, ${memoryMiB} MiB, HA ${row.ha === 1 ? "on" : "off"})`,
            data: { offering: offering?.name ?? null },
          },
        ],
      );
      if (b.start !== false) await requestPowerOn(ctx, req, row, host);
      return reply.status(201).send(await vmView(ctx, row));
    },
  );
  app.get("/vms/:id", route("viewer", "vms", "show a VM", { params: IdParams }), async (req) =>
    vmView(ctx, await findByKey(db, "vms", (req.params as IdParams).id)),
  );
  app.patch(
    "/vms/:id",
    route("operator", "vms", "change a VM's HA protection or restart priority", {
      params: IdParams,
      body: Type.Object(
        {
          ha: Type.Optional(Type.Boolean()),
          restartPriority: Type.Optional(Type.Union([Priority, Type.Null()])),
        },
        { additionalProperties: false },
      ),
    }),
    async (req) => {
      const vm = await findByKey(db, "vms", (req.params as IdParams).id);
      const p = req.body as { ha?: boolean; restartPriority?: string | null };
      await changeCluster(ctx, req, vm.cluster_id, (trx) =>
        trx
          .updateTable("vms")
          .set({
            ...(p.ha === undefined ? {} : { ha: asInt(p.ha) }),
            ...(p.restartPriority === undefined ? {} : { restart_priority: p.restartPriority }),
          })
          .where("id", "=", vm.id)
          .execute(),
      );
      return vmView(ctx, await findByKey(db, "vms", vm.id));
    },
  );
  app.post(
    "/vms/:id/start",
    route("operator", "vms", "power a VM on (admission control judges it)", {
      params: IdParams,
      body: Type.Object(
        { host: Type.Optional(Type.String({ minLength: 1 })) },
        { additionalProperties: false },
      ),
    }),
    async (req, reply) => {
      const vm = await findByKey(db, "vms", (req.params as IdParams).id);
      const { host: hostKey } = (req.body ?? {}) as { host?: string };
      const host = hostKey === undefined ? null : await findByKey(db, "hosts", hostKey);
      if (host !== null && host.cluster_id !== vm.cluster_id)
        throw new ApiError(
          "invalidInput",
          `body.host: host ${host.name} is not in the VM's cluster`,
          "body.host",
        );
      await requestPowerOn(ctx, req, vm, host);
      return reply.status(202).send({ vm: vm.name, accepted: true });
    },
  );
  app.post(
    "/vms/:id/migrate",
    route(
      "operator",
      "vms",
      "move a running VM to another host of its cluster (admission control judges the target)",
      {
        params: IdParams,
        body: Type.Object({ host: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
      },
    ),
    async (req, reply) => {
      const vm = await findByKey(db, "vms", (req.params as IdParams).id);
      const { host: hostKey } = req.body as { host: string };
      const host = await findByKey(db, "hosts", hostKey).catch(() => {
        throw new ApiError("invalidInput", `body.host: no host "${hostKey}"`, "body.host");
      });
      if (host.cluster_id !== vm.cluster_id)
        throw new ApiError(
          "refused",
          `body.host: host ${host.name} is in another cluster; a VM moves only within its cluster (each cluster has its own datastores)`,
          "body.host",
        );
      const b = await loadClusterBundle(db, vm.cluster_id);
      const status = clusterStatus(b, ctx.now().getTime(), await staleMs(db));
      const current = status.vms.find((v) => v.id === vm.id);
      if (current?.state !== "running" || current.host === null)
        throw new ApiError(
          "conflict",
          `VM ${vm.name} is ${current?.state ?? "unknown"}: only a running VM moves`,
        );
      if (current.host === host.name)
        throw new ApiError("conflict", `VM ${vm.name} already runs on ${host.name}`, "body.host");
      const size = { name: vm.name, cpus: vm.cpus, memoryMiB: vm.memory_mib };
      const target = admissionInputs(status).hosts.find((h) => h.name === host.name)!;
      const fit = target.eligible ? hostFitProblem(target, size) : `host ${host.name} cannot run VMs now`;
      if (fit !== null) throw new ApiError("refused", `the move is refused: ${fit}`, "body.host");
      admit(b, status, { kind: "powerOn", vm: size, host: host.name });
      await queueCommand(ctx, vm.cluster_id, null, "migrate", { vm: vm.name, target: host.name });
      await ctx.events.record([
        {
          clusterId: vm.cluster_id,
          host: current.host,
          vm: vm.name,
          type: "migrateRequested",
          level: "info",
          message: `move of ${vm.name} from ${current.host} to ${host.name} requested; the cluster's master carries it out`,
          data: { target: host.name },
          source: sourceOf(req),
        },
      ]);
      return reply.status(202).send({ vm: vm.name, from: current.host, to: host.name, accepted: true });
    },
  );
  app.delete(
    "/vms/:id",
    route("operator", "vms", "delete a VM that runs nowhere", { params: IdParams }),
    async (req, reply) => {
      const vm = await findByKey(db, "vms", (req.params as IdParams).id);
      const view = await vmView(ctx, vm);
      if (view.state !== "down")
        throw new ApiError(
          "conflict",
          `VM ${vm.name} is ${view.state}${view.host === null ? "" : ` on ${view.host}`}; only a VM that runs nowhere can be deleted`,
        );
      const rules = await db
        .selectFrom("rules")
        .select(["name", "body"])
        .where("cluster_id", "=", vm.cluster_id)
        .execute();
      const used = rules.find((r) => r.body.includes(`"${vm.name}"`));
      if (used !== undefined)
        throw new ApiError("conflict", `rule ${used.name} names VM ${vm.name}; delete the rule first`);
      await changeCluster(
        ctx,
        req,
        vm.cluster_id,
        (trx) => trx.deleteFrom("vms").where("id", "=", vm.id).execute(),
        () => [
          {
            host: null,
            vm: vm.name,
            type: "vmDeleted",
            level: "info",
            message: `VM ${vm.name} deleted`,
            data: {},
          },
        ],
      );
      return reply.status(204).send();
    },
  );
}
