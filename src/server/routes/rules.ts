// Rules of a cluster: VM affinity and anti-affinity, VM-host affinity (strict or preferred) and
// start order. Contradictions and startAfter cycles are refused when the rule is added, with the
// agents' own reader.
import { Type } from "typebox";
import type { ServerContext } from "../context.ts";
import { ApiError } from "../errors.ts";
import { findByKey, newId, type RuleRow } from "../inventory.ts";
import { type App, changeCluster, IdParams, Name, route } from "./common.ts";

const Names = Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 1000 });
const RuleBody = Type.Union([
  Type.Object(
    { name: Name, type: Type.Literal("vmAntiAffinity"), vms: Names },
    { additionalProperties: false },
  ),
  Type.Object({ name: Name, type: Type.Literal("vmAffinity"), vms: Names }, { additionalProperties: false }),
  Type.Object(
    {
      name: Name,
      type: Type.Literal("vmHostAffinity"),
      vms: Names,
      hosts: Names,
      strict: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      name: Name,
      type: Type.Literal("vmHostAntiAffinity"),
      vms: Names,
      hosts: Names,
      strict: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    { name: Name, type: Type.Literal("startAfter"), vm: Type.String({ minLength: 1 }), after: Names },
    { additionalProperties: false },
  ),
]);

function ruleView(r: RuleRow) {
  return { id: r.id, name: r.name, clusterId: r.cluster_id, ...(JSON.parse(r.body) as object) };
}

export function ruleRoutes(app: App, ctx: ServerContext): void {
  const db = ctx.store.db;
  app.get(
    "/clusters/:id/rules",
    route("viewer", "rules", "list a cluster's rules", { params: IdParams }),
    async (req) => {
      const c = await findByKey(db, "clusters", (req.params as IdParams).id);
      const rows = await db
        .selectFrom("rules")
        .selectAll()
        .where("cluster_id", "=", c.id)
        .orderBy("name")
        .execute();
      return { items: rows.map(ruleView), total: rows.length };
    },
  );
  app.post(
    "/clusters/:id/rules",
    route("admin", "rules", "add a rule (refused if it contradicts another or makes a start-order cycle)", {
      params: IdParams,
      body: RuleBody,
    }),
    async (req, reply) => {
      const c = await findByKey(db, "clusters", (req.params as IdParams).id);
      const { name, ...rule } = req.body as { name: string; type: string; strict?: boolean };
      if (rule.type === "vmHostAffinity" || rule.type === "vmHostAntiAffinity") rule.strict ??= false;
      const dup = await db
        .selectFrom("rules")
        .select("id")
        .where("cluster_id", "=", c.id)
        .where("name", "=", name)
        .executeTakeFirst();
      if (dup !== undefined)
        throw new ApiError("conflict", `cluster ${c.name} has a rule named "${name}"`, "body.name");
      const row: RuleRow = {
        id: newId(),
        cluster_id: c.id,
        name,
        body: JSON.stringify(rule),
        created_at: ctx.now().toISOString(),
      };
      await changeCluster(
        ctx,
        req,
        c.id,
        (trx) => trx.insertInto("rules").values(row).execute(),
        () => [
          {
            host: null,
            vm: null,
            type: "ruleAdded",
            level: "info",
            message: `rule ${name} (${rule.type}) added to ${c.name}`,
            data: rule,
          },
        ],
      );
      return reply.status(201).send(ruleView(row));
    },
  );
  app.delete(
    "/clusters/:id/rules/:rule",
    route("admin", "rules", "delete a rule", {
      params: Type.Object({ id: Type.String({ minLength: 1 }), rule: Type.String({ minLength: 1 }) }),
    }),
    async (req, reply) => {
      const p = req.params as { id: string; rule: string };
      const c = await findByKey(db, "clusters", p.id);
      const r = await db
        .selectFrom("rules")
        .selectAll()
        .where("cluster_id", "=", c.id)
        .where((eb) => eb.or([eb("id", "=", p.rule), eb("name", "=", p.rule)]))
        .executeTakeFirst();
      if (r === undefined) throw new ApiError("notFound", `cluster ${c.name} has no rule "${p.rule}"`);
      await changeCluster(ctx, req, c.id, (trx) => trx.deleteFrom("rules").where("id", "=", r.id).execute());
      return reply.status(204).send();
    },
  );
}
