// Compute offerings, as in CloudStack: CPUs, memory and "offer HA"; a VM created from an offering
// with offerHa is protected by HA (when HA is on for its zone and cluster).
import { Type } from "typebox";
import type { ServerContext } from "../context.ts";
import { ApiError } from "../errors.ts";
import { asBool, asInt, findByKey, newId, type Offering } from "../inventory.ts";
import { type App, IdParams, Name, PageQuery, pageOf, route } from "./common.ts";

export function offeringView(o: Offering) {
  return {
    id: o.id,
    name: o.name,
    cpus: o.cpus,
    memoryMiB: o.memory_mib,
    offerHa: asBool(o.offer_ha),
    createdAt: o.created_at,
  };
}

export function offeringRoutes(app: App, ctx: ServerContext): void {
  const db = ctx.store.db;
  app.get(
    "/offerings",
    route("viewer", "offerings", "list compute offerings", { querystring: Type.Object(PageQuery) }),
    async (req) =>
      pageOf(
        (await db.selectFrom("offerings").selectAll().orderBy("name").execute()).map(offeringView),
        req.query as object,
      ),
  );
  app.post(
    "/offerings",
    route("admin", "offerings", "create a compute offering", {
      body: Type.Object(
        {
          name: Name,
          cpus: Type.Integer({ minimum: 1, maximum: 1024 }),
          memoryMiB: Type.Integer({ minimum: 16 }),
          offerHa: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    }),
    async (req, reply) => {
      const b = req.body as { name: string; cpus: number; memoryMiB: number; offerHa?: boolean };
      if (
        (await db.selectFrom("offerings").select("id").where("name", "=", b.name).executeTakeFirst()) !==
        undefined
      )
        throw new ApiError("conflict", `an offering named "${b.name}" exists`, "body.name");
      const row: Offering = {
        id: newId(),
        name: b.name,
        cpus: b.cpus,
        memory_mib: b.memoryMiB,
        offer_ha: asInt(b.offerHa ?? false),
        created_at: ctx.now().toISOString(),
      };
      await db.insertInto("offerings").values(row).execute();
      return reply.status(201).send(offeringView(row));
    },
  );
  app.get(
    "/offerings/:id",
    route("viewer", "offerings", "show an offering", { params: IdParams }),
    async (req) => offeringView(await findByKey(db, "offerings", (req.params as IdParams).id)),
  );
  app.delete(
    "/offerings/:id",
    route("admin", "offerings", "delete an offering no VM uses", { params: IdParams }),
    async (req, reply) => {
      const o = await findByKey(db, "offerings", (req.params as IdParams).id);
      const vm = await db.selectFrom("vms").select("name").where("offering_id", "=", o.id).executeTakeFirst();
      if (vm !== undefined) throw new ApiError("conflict", `VM ${vm.name} uses offering ${o.name}`);
      await db.deleteFrom("offerings").where("id", "=", o.id).execute();
      return reply.status(204).send();
    },
  );
}
