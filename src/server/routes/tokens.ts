// API tokens for people and scripts, each with one role. The token itself is shown once, at creation.
import { Type } from "typebox";
import { roles } from "../auth.ts";
import type { ServerContext } from "../context.ts";
import { ApiError } from "../errors.ts";
import { newId } from "../inventory.ts";
import { newToken, sha256 } from "../secrets.ts";
import { type App, IdParams, Name, route } from "./common.ts";

export function tokenRoutes(app: App, ctx: ServerContext): void {
  const db = ctx.store.db;
  app.get("/tokens", route("admin", "tokens", "list API tokens (not their secrets)", {}), async () => ({
    items: (
      await db.selectFrom("tokens").select(["id", "name", "role", "created_at"]).orderBy("name").execute()
    ).map((t) => ({
      id: t.id,
      name: t.name,
      role: t.role,
      createdAt: t.created_at,
    })),
  }));
  app.post(
    "/tokens",
    route("admin", "tokens", "create an API token; the answer is the only time it is shown", {
      body: Type.Object(
        { name: Name, role: Type.Union(Object.keys(roles).map((r) => Type.Literal(r))) },
        { additionalProperties: false },
      ),
    }),
    async (req, reply) => {
      const b = req.body as { name: string; role: string };
      if (
        (await db.selectFrom("tokens").select("id").where("name", "=", b.name).executeTakeFirst()) !==
        undefined
      )
        throw new ApiError("conflict", `a token named "${b.name}" exists`, "body.name");
      const token = newToken(b.role);
      const id = newId();
      await db
        .insertInto("tokens")
        .values({
          id,
          name: b.name,
          role: b.role,
          token_hash: sha256(token),
          created_at: ctx.now().toISOString(),
        })
        .execute();
      return reply.status(201).send({ id, name: b.name, role: b.role, token });
    },
  );
  app.delete(
    "/tokens/:id",
    route("admin", "tokens", "revoke a token", { params: IdParams }),
    async (req, reply) => {
      const key = (req.params as IdParams).id;
      const t = await db
        .selectFrom("tokens")
        .select(["id", "name"])
        .where((eb) => eb.or([eb("id", "=", key), eb("name", "=", key)]))
        .executeTakeFirst();
      if (t === undefined) throw new ApiError("notFound", `no token "${key}"`);
      if (req.caller?.name === t.name) throw new ApiError("refused", "a token cannot revoke itself");
      await db.deleteFrom("tokens").where("id", "=", t.id).execute();
      return reply.status(204).send();
    },
  );
}
