// Datastores: shared storage every host of a cluster mounts at the same path; they carry the
// datastore heartbeats and the VM leases (DESIGN section 5).
import { Type } from "typebox";
import type { ServerContext } from "../context.ts";
import { ApiError } from "../errors.ts";
import { asBool, type Datastore, findByKey, findDatastore, newId } from "../inventory.ts";
import { type App, changeCluster, IdParams, Name, PageQuery, pageOf, route } from "./common.ts";

export function datastoreView(d: Datastore, clusterName: string) {
  return {
    id: d.id,
    name: d.name,
    clusterId: d.cluster_id,
    cluster: clusterName,
    path: d.path,
    heartbeat: asBool(d.heartbeat),
  };
}

export function datastoreRoutes(app: App, ctx: ServerContext): void {
  const db = ctx.store.db;
  const clusterNames = async () =>
    new Map((await db.selectFrom("clusters").select(["id", "name"]).execute()).map((c) => [c.id, c.name]));
  app.get(
    "/datastores",
    route("viewer", "datastores", "list datastores", {
      querystring: Type.Object({ ...PageQuery, cluster: Type.Optional(Type.String()) }),
    }),
    async (req) => {
      const q = req.query as { cluster?: string; limit?: number; offset?: number };
      let sel = db.selectFrom("datastores").selectAll().orderBy("name");
      if (q.cluster !== undefined)
        sel = sel.where("cluster_id", "=", (await findByKey(db, "clusters", q.cluster)).id);
      const names = await clusterNames();
      return pageOf(
        (await sel.execute()).map((d) => datastoreView(d, names.get(d.cluster_id) ?? "?")),
        q,
      );
    },
  );
  app.post(
    "/datastores",
    route("admin", "datastores", "add a datastore to a cluster", {
      body: Type.Object(
        {
          name: Name,
          cluster: Type.String({ minLength: 1 }),
          path: Type.String({ minLength: 1, pattern: "^/" }),
        },
        { additionalProperties: false },
      ),
    }),
    async (req, reply) => {
      const b = req.body as { name: string; cluster: string; path: string };
      const cluster = await findByKey(db, "clusters", b.cluster).catch(() => {
        throw new ApiError("invalidInput", `body.cluster: no cluster "${b.cluster}"`, "body.cluster");
      });
      const dup = await db
        .selectFrom("datastores")
        .select("id")
        .where("cluster_id", "=", cluster.id)
        .where("name", "=", b.name)
        .executeTakeFirst();
      if (dup !== undefined)
        throw new ApiError(
          "conflict",
          `cluster ${cluster.name} has a datastore named "${b.name}"`,
          "body.name",
        );
      const row: Datastore = {
        id: newId(),
        cluster_id: cluster.id,
        name: b.name,
        path: b.path,
        heartbeat: 1,
        created_at: ctx.now().toISOString(),
      };
      await changeCluster(ctx, req, cluster.id, (trx) => trx.insertInto("datastores").values(row).execute());
      return reply.status(201).send(datastoreView(row, cluster.name));
    },
  );
  app.get(
    "/datastores/:id",
    route("viewer", "datastores", "show a datastore", { params: IdParams }),
    async (req) => {
      const d = await findDatastore(db, (req.params as IdParams).id);
      return datastoreView(d, (await clusterNames()).get(d.cluster_id) ?? "?");
    },
  );
  app.delete(
    "/datastores/:id",
    route("admin", "datastores", "remove a datastore no VM uses", { params: IdParams }),
    async (req, reply) => {
      const d = await findDatastore(db, (req.params as IdParams).id);
      const vm = await db
        .selectFrom("vms")
        .select("name")
        .where("datastore_id", "=", d.id)
        .executeTakeFirst();
      if (vm !== undefined) throw new ApiError("conflict", `VM ${vm.name} is on datastore ${d.name}`);
      await changeCluster(ctx, req, d.cluster_id, (trx) =>
        trx.deleteFrom("datastores").where("id", "=", d.id).execute(),
      );
      return reply.status(204).send();
    },
  );
}
