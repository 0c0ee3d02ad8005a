// Pieces every route file uses: id/name path parameters, pagination, and the one way to change a
// cluster's inventory (in a transaction, checked by rendering the agents' file, version bumped).
import type { FastifyInstance, FastifyRequest, FastifySchema } from "fastify";
import type { Kysely, Transaction } from "kysely";
import { type Static, type TSchema, Type } from "typebox";
import type { Database } from "../../store/schema.ts";
import { type Access, sourceOf } from "../auth.ts";
import type { ServerContext } from "../context.ts";
import type { NewEvent } from "../event-bus.ts";
import { bumpConfigVersion, loadClusterBundle } from "../inventory.ts";
import { checkRenderable } from "../render.ts";

export const IdParams = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 253, description: "id or name" }) },
  { additionalProperties: false },
);
export type IdParams = Static<typeof IdParams>;

export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
};

export function pageOf<T>(items: T[], q: { limit?: number; offset?: number }) {
  const limit = q.limit ?? 100;
  const offset = q.offset ?? 0;
  return { items: items.slice(offset, offset + limit), total: items.length, limit, offset };
}

export const Name = Type.String({ minLength: 1, maxLength: 63, pattern: "^[A-Za-z0-9][A-Za-z0-9._-]*$" });

export const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String(), field: Type.Optional(Type.String()) }),
});

/** Route options: who may call it, its OpenAPI tag and summary, and its input schemas. */
export function route<S extends { body?: TSchema; params?: TSchema; querystring?: TSchema }>(
  access: Access,
  tag: string,
  summary: string,
  schema: S,
) {
  // Typed as FastifySchema too: a route with no inputs would otherwise share no property with it.
  const full: FastifySchema & S & { tags: string[]; summary: string } = {
    tags: [tag],
    summary,
    ...(access === "public" ? {} : { security: [{ bearer: [] }] }),
    ...schema,
  };
  return { config: { access }, schema: full };
}

export type Db = Kysely<Database> | Transaction<Database>;

/**
 * Changes one cluster's inventory atomically: `change` runs in a transaction, then the cluster's
 * configuration is rendered and read back as its agents would; if they would refuse it, nothing is
 * kept. On success the configuration version moves and the events are recorded.
 */
export async function changeCluster<T>(
  ctx: ServerContext,
  request: FastifyRequest,
  clusterId: string,
  change: (trx: Transaction<Database>) => Promise<T>,
  events: (result: T) => Omit<NewEvent, "source" | "clusterId">[] = () => [],
): Promise<T> {
  const result = await ctx.store.db.transaction().execute(async (trx) => {
    const r = await change(trx);
    checkRenderable(await loadClusterBundle(trx, clusterId), ctx.secrets);
    await bumpConfigVersion(trx, clusterId);
    return r;
  });
  await ctx.events.record(events(result).map((e) => ({ ...e, clusterId, source: sourceOf(request) })));
  return result;
}

export type App = FastifyInstance;
