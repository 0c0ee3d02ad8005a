// Zones: the top of the inventory (zone -> cluster -> host -> VM). HA on a zone is the first switch
// of Mold's enablement sequence; with it off no VM of the zone is protected.
import { Type } from "typebox";
import { sourceOf } from "../auth.ts";
import type { ServerContext } from "../context.ts";
import { ApiError } from "../errors.ts";
import { asBool, asInt, bumpConfigVersion, findByKey, newId, type Zone } from "../inventory.ts";
import { type App, IdParams, Name, PageQuery, pageOf, route } from "./common.ts";

export function zoneView(z: Zone) {
  return { id: z.id, name: z.name, haEnabled: asBool(z.ha_enabled), createdAt: z.created_at };
}

export function zoneRoutes(app: App, ctx: ServerContext): void {
  const db = ctx.store.db;
  app.get(
    "/zones",
    route("viewer", "zones", "list zones", {
      querystring: Type.Object({ ...PageQuery, name: Type.Optional(Type.String()) }),
    }),
    async (req) => {
      const q = req.query as { name?: string; limit?: number; offset?: number };
      let sel = db.selectFrom("zones").selectAll().orderBy("name");
      if (q.name !== undefined) sel = sel.where("name", "=", q.name);
      return pageOf((await sel.execute()).map(zoneView), q);
    },
  );
  app.post(
    "/zones",
    route("admin", "zones", "create a zone", {
      body: Type.Object(
        { name: Name, haEnabled: Type.Optional(Type.Boolean()) },
        { additionalProperties: false },
      ),
    }),
    async (req, reply) => {
      const body = req.body as { name: string; haEnabled?: boolean };
      const existing = await db
        .selectFrom("zones")
        .select("id")
        .where("name", "=", body.name)
        .executeTakeFirst();
      if (existing !== undefined)
        throw new ApiError("conflict", `a zone named "${body.name}" exists`, "body.name");
      const row: Zone = {
        id: newId(),
        name: body.name,
        ha_enabled: asInt(body.haEnabled ?? false),
        created_at: ctx.now().toISOString(),
      };
      await db.insertInto("zones").values(row).execute();
      await ctx.events.record([
        {
          clusterId: null,
          host: null,
          vm: null,
          type: "zoneCreated",
          level: "info",
          message: `zone ${row.name} created`,
          data: { zone: row.name },
          source: sourceOf(req),
        },
      ]);
      return reply.status(201).send(zoneView(row));
    },
  );
  app.get("/zones/:id", route("viewer", "zones", "show a zone", { params: IdParams }), async (req) =>
    zoneView(await findByKey(db, "zones", (req.params as IdParams).id)),
  );
  app.delete(
    "/zones/:id",
    route("admin", "zones", "delete an empty zone", { params: IdParams }),
    async (req, reply) => {
      const zone = await findByKey(db, "zones", (req.params as IdParams).id);
      const cluster = await db
        .selectFrom("clusters")
        .select("name")
        .where("zone_id", "=", zone.id)
        .executeTakeFirst();
      if (cluster !== undefined)
        throw new ApiError(
          "conflict",
          `zone ${zone.name} still has cluster ${cluster.name}; delete its clusters first`,
        );
      await db.deleteFrom("zones").where("id", "=", zone.id).execute();
      return reply.status(204).send();
    },
  );
  app.post(
    "/zones/:id/ha",
    route("admin", "zones", "enable or disable HA on a zone", {
      params: IdParams,
      body: Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false }),
    }),
    async (req) => {
      const zone = await findByKey(db, "zones", (req.params as IdParams).id);
      const { enabled } = req.body as { enabled: boolean };
      await db
        .updateTable("zones")
        .set({ ha_enabled: asInt(enabled) })
        .where("id", "=", zone.id)
        .execute();
      const clusters = await db.selectFrom("clusters").select("id").where("zone_id", "=", zone.id).execute();
      for (const c of clusters) await bumpConfigVersion(db, c.id);
      await ctx.events.record([
        {
          clusterId: null,
          host: null,
          vm: null,
          type: enabled ? "zoneHaEnabled" : "zoneHaDisabled",
          level: "info",
          message: `HA ${enabled ? "enabled" : "disabled"} on zone ${zone.name}`,
          data: { zone: zone.name },
          source: sourceOf(req),
        },
      ]);
      return zoneView({ ...zone, ha_enabled: asInt(enabled) });
    },
  );
}
