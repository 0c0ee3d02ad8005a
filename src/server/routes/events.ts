// The event log and its live stream (SSE). Alarms are the events an operator must look at.
import type { ServerResponse } from "node:http";
import type { Kysely } from "kysely";
import { Type } from "typebox";
import type { Database } from "../../store/schema.ts";
import type { ServerContext } from "../context.ts";
import { type EventView, toEventView } from "../event-bus.ts";
import { findByKey } from "../inventory.ts";
import { type App, route } from "./common.ts";

const Filters = {
  cluster: Type.Optional(Type.String()),
  host: Type.Optional(Type.String()),
  vm: Type.Optional(Type.String()),
  type: Type.Optional(Type.String()),
  level: Type.Optional(Type.Union([Type.Literal("info"), Type.Literal("warning"), Type.Literal("alarm")])),
  /** Only events with a larger id. */
  after: Type.Optional(Type.Integer({ minimum: 0 })),
};
type FilterQuery = {
  cluster?: string;
  host?: string;
  vm?: string;
  type?: string;
  level?: string;
  after?: number;
};

async function matcher(db: Kysely<Database>, q: FilterQuery): Promise<(e: EventView) => boolean> {
  const clusterId = q.cluster === undefined ? undefined : (await findByKey(db, "clusters", q.cluster)).id;
  return (e) =>
    (clusterId === undefined || e.clusterId === clusterId) &&
    (q.host === undefined || e.host === q.host) &&
    (q.vm === undefined || e.vm === q.vm) &&
    (q.type === undefined || e.type === q.type) &&
    (q.level === undefined || e.level === q.level) &&
    (q.after === undefined || e.id > q.after);
}

export function eventRoutes(app: App, ctx: ServerContext): void {
  const db = ctx.store.db;
  // Streams never end by themselves; closing the server (SIGTERM) waits for every connection, so
  // it ends them first. Clients (`vigil event watch`) reconnect from the last id they saw.
  const openStreams = new Set<ServerResponse>();
  app.addHook("preClose", async () => {
    for (const res of openStreams) res.end();
  });
  const list = async (q: FilterQuery & { limit?: number }) => {
    let sel = db
      .selectFrom("events")
      .selectAll()
      .orderBy("id", "desc")
      .limit(q.limit ?? 100);
    if (q.cluster !== undefined)
      sel = sel.where("cluster_id", "=", (await findByKey(db, "clusters", q.cluster)).id);
    if (q.host !== undefined) sel = sel.where("host", "=", q.host);
    if (q.vm !== undefined) sel = sel.where("vm", "=", q.vm);
    if (q.type !== undefined) sel = sel.where("type", "=", q.type);
    if (q.level !== undefined) sel = sel.where("level", "=", q.level);
    if (q.after !== undefined) sel = sel.where("id", ">", q.after);
    return (await sel.execute()).map(toEventView).reverse();
  };
  app.get(
    "/events",
    route("viewer", "events", "list events, oldest first (the newest `limit` that match)", {
      querystring: Type.Object({
        ...Filters,
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
      }),
    }),
    async (req) => ({ items: await list(req.query as FilterQuery) }),
  );
  app.get(
    "/alarms",
    route("viewer", "events", "alarms: VMs that wait, corrupt records, unsafe or unmatched settings", {
      querystring: Type.Object({
        cluster: Type.Optional(Type.String()),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
      }),
    }),
    async (req) => ({ items: await list({ ...(req.query as FilterQuery), level: "alarm" }) }),
  );
  app.get(
    "/events/stream",
    route(
      "viewer",
      "events",
      "live events as Server-Sent Events (Last-Event-ID or ?after= replays from there)",
      {
        querystring: Type.Object({ ...Filters, token: Type.Optional(Type.String()) }),
      },
    ),
    async (req, reply) => {
      const q = req.query as FilterQuery;
      const lastHeader = req.headers["last-event-id"];
      const after =
        q.after ??
        (typeof lastHeader === "string" && /^\d+$/.test(lastHeader) ? Number(lastHeader) : undefined);
      const match = await matcher(db, { ...q, ...(after === undefined ? {} : { after }) });
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        connection: "keep-alive",
        "x-accel-buffering": "no",
      });
      let lastSent = after ?? 0;
      const send = (e: EventView) => {
        if (!match(e) || e.id <= lastSent) return;
        lastSent = e.id;
        res.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
      };
      res.write(": vigil event stream\n\n");
      if (after !== undefined) for (const e of await list({ ...q, after, limit: 10000 })) send(e);
      const unsubscribe = ctx.events.subscribe(send);
      const keepAlive = setInterval(() => res.write(": keep-alive\n\n"), 15000);
      openStreams.add(res);
      req.raw.on("close", () => {
        clearInterval(keepAlive);
        unsubscribe();
        openStreams.delete(res);
      });
    },
  );
}
