// Hosts: inventory, HA per host (Mold's configureHAForHost/enableHAForHost), enrollment tokens for
// their agents, and maintenance mode (admission control first, then the host's agent evacuates).

import type { Kysely } from "kysely";
import { Type } from "typebox";
import type { Database } from "../../store/schema.ts";
import { admit } from "../admission-view.ts";
import { sourceOf } from "../auth.ts";
import type { ServerContext } from "../context.ts";
import { ApiError } from "../errors.ts";
import { asInt, findByKey, type Host, loadClusterBundle, newId } from "../inventory.ts";
import { newToken, sha256 } from "../secrets.ts";
import { clusterStatus, type HostView } from "../views.ts";
import { type App, changeCluster, IdParams, Name, PageQuery, pageOf, route } from "./common.ts";

export const haProviders = {
  vigil: "Vigil's agent: network and datastore heartbeats, BMC fencing, leases",
} as const;

export async function staleMs(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom("settings")
    .select("value")
    .where("name", "=", "host.report.stale.ms")
    .executeTakeFirst();
  return Number(row?.value ?? 10000);
}

const HostEditable = {
  address: Type.String({ minLength: 1, maxLength: 253 }),
  agentPort: Type.Integer({ minimum: 1, maximum: 65535 }),
  cpus: Type.Integer({ minimum: 1, maximum: 4096 }),
  memoryMiB: Type.Integer({ minimum: 1 }),
  tags: Type.Array(Type.String({ minLength: 1, maxLength: 63, pattern: "^[^\\s,]+$" }), { maxItems: 64 }),
  faultDomain: Type.String({ maxLength: 63 }),
  electionPriority: Type.Integer({ minimum: -1000, maximum: 1000 }),
};

/** Host views of one cluster (or all), with HA states from the latest reports. */
export async function hostViews(ctx: ServerContext, clusterId?: string): Promise<HostView[]> {
  const db = ctx.store.db;
  let sel = db.selectFrom("clusters").select("id");
  if (clusterId !== undefined) sel = sel.where("id", "=", clusterId);
  const stale = await staleMs(db);
  const out: HostView[] = [];
  for (const c of await sel.orderBy("name").execute()) {
    out.push(...clusterStatus(await loadClusterBundle(db, c.id), ctx.now().getTime(), stale).hosts);
  }
  return out;
}

export async function hostView(ctx: ServerContext, host: Host): Promise<HostView> {
  return (await hostViews(ctx, host.cluster_id)).find((h) => h.id === host.id)!;
}

export function hostRoutes(app: App, ctx: ServerContext): void {
  const db = ctx.store.db;
  app.get(
    "/hosts",
    route("viewer", "hosts", "list hosts with their HA state", {
      querystring: Type.Object({
        ...PageQuery,
        cluster: Type.Optional(Type.String()),
        haState: Type.Optional(Type.String()),
        state: Type.Optional(Type.String()),
      }),
    }),
    async (req) => {
      const q = req.query as {
        cluster?: string;
        haState?: string;
        state?: string;
        limit?: number;
        offset?: number;
      };
      const clusterId = q.cluster === undefined ? undefined : (await findByKey(db, "clusters", q.cluster)).id;
      const items = (await hostViews(ctx, clusterId)).filter(
        (h) =>
          (q.haState === undefined || h.haState === q.haState) &&
          (q.state === undefined || h.state === q.state),
      );
      return pageOf(items, q);
    },
  );
  app.post(
    "/hosts",
    route("admin", "hosts", "add a host; the answer carries its agent's one-time enrollment token", {
      body: Type.Object(
        {
          name: Name,
          cluster: Type.String({ minLength: 1 }),
          ...HostEditable,
          agentPort: Type.Optional(HostEditable.agentPort),
          tags: Type.Optional(HostEditable.tags),
          faultDomain: Type.Optional(HostEditable.faultDomain),
          electionPriority: Type.Optional(HostEditable.electionPriority),
          haEnabled: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    }),
    async (req, reply) => {
      const b = req.body as {
        name: string;
        cluster: string;
        address: string;
        agentPort?: number;
        cpus: number;
        memoryMiB: number;
        tags?: string[];
        faultDomain?: string;
        electionPriority?: number;
        haEnabled?: boolean;
      };
      const cluster = await findByKey(db, "clusters", b.cluster).catch(() => {
        throw new ApiError("invalidInput", `body.cluster: no cluster "${b.cluster}"`, "body.cluster");
      });
      if (
        (await db.selectFrom("hosts").select("id").where("name", "=", b.name).executeTakeFirst()) !==
        undefined
      )
        throw new ApiError("conflict", `a host named "${b.name}" exists`, "body.name");
      const token = newToken("enroll");
      const row: Host = {
        id: newId(),
        cluster_id: cluster.id,
        name: b.name,
        address: b.address,
        agent_port: b.agentPort ?? 7410,
        cpus: b.cpus,
        memory_mib: b.memoryMiB,
        tags: JSON.stringify(b.tags ?? []),
        fault_domain: b.faultDomain ?? "",
        election_priority: b.electionPriority ?? 0,
        ha_enabled: asInt(b.haEnabled ?? false),
        ha_provider: "vigil",
        enroll_token_hash: sha256(token),
        agent_credential_hash: null,
        oob_driver: null,
        oob_address: null,
        oob_port: null,
        oob_user: null,
        oob_password_enc: null,
        oob_insecure_tls: 0,
        oob_enabled: 0,
        oob_power_state: "Unknown",
        report: null,
        reported_at: null,
        created_at: ctx.now().toISOString(),
      };
      await changeCluster(
        ctx,
        req,
        cluster.id,
        (trx) => trx.insertInto("hosts").values(row).execute(),
        () => [
          {
            host: b.name,
            vm: null,
            type: "hostAdded",
            level: "info",
            message: `host ${b.name} added to cluster ${cluster.name}`,
            data: {},
          },
        ],
      );
      return reply.status(201).send({ ...(await hostView(ctx, row)), enrollmentToken: token });
    },
  );
  app.get("/hosts/:id", route("viewer", "hosts", "show a host", { params: IdParams }), async (req) =>
    hostView(ctx, await findByKey(db, "hosts", (req.params as IdParams).id)),
  );
  app.patch(
    "/hosts/:id",
    route("admin", "hosts", "change a host", {
      params: IdParams,
      body: Type.Partial(Type.Object(HostEditable, { additionalProperties: false })),
    }),
    async (req) => {
      const host = await findByKey(db, "hosts", (req.params as IdParams).id);
      const p = req.body as Partial<{
        address: string;
        agentPort: number;
        cpus: number;
        memoryMiB: number;
        tags: string[];
        faultDomain: string;
        electionPriority: number;
      }>;
      await changeCluster(ctx, req, host.cluster_id, (trx) =>
        trx
          .updateTable("hosts")
          .set({
            ...(p.address === undefined ? {} : { address: p.address }),
            ...(p.agentPort === undefined ? {} : { agent_port: p.agentPort }),
            ...(p.cpus === undefined ? {} : { cpus: p.cpus }),
            ...(p.memoryMiB === undefined ? {} : { memory_mib: p.memoryMiB }),
            ...(p.tags === undefined ? {} : { tags: JSON.stringify(p.tags) }),
            ...(p.faultDomain === undefined ? {} : { fault_domain: p.faultDomain }),
            ...(p.electionPriority === undefined ? {} : { election_priority: p.electionPriority }),
          })
          .where("id", "=", host.id)
          .execute(),
      );
      return hostView(ctx, await findByKey(db, "hosts", host.id));
    },
  );
  app.delete(
    "/hosts/:id",
    route("admin", "hosts", "remove a host", { params: IdParams }),
    async (req, reply) => {
      const host = await findByKey(db, "hosts", (req.params as IdParams).id);
      const pinned = await db
        .selectFrom("vms")
        .select("name")
        .where("requested_host_id", "=", host.id)
        .executeTakeFirst();
      if (pinned !== undefined)
        throw new ApiError(
          "conflict",
          `VM ${pinned.name} was created on host ${host.name}; move or delete it first`,
        );
      await changeCluster(
        ctx,
        req,
        host.cluster_id,
        async (trx) => {
          await trx.deleteFrom("commands").where("host_id", "=", host.id).execute();
          await trx.deleteFrom("hosts").where("id", "=", host.id).execute();
        },
        () => [
          {
            host: host.name,
            vm: null,
            type: "hostRemoved",
            level: "info",
            message: `host ${host.name} removed`,
            data: {},
          },
        ],
      );
      return reply.status(204).send();
    },
  );
  app.post(
    "/hosts/:id/ha",
    route("admin", "hosts", "configure and enable or disable HA on a host", {
      params: IdParams,
      body: Type.Object(
        {
          enabled: Type.Boolean(),
          provider: Type.Optional(Type.Union(Object.keys(haProviders).map((p) => Type.Literal(p)))),
        },
        { additionalProperties: false },
      ),
    }),
    async (req) => {
      const host = await findByKey(db, "hosts", (req.params as IdParams).id);
      const { enabled, provider } = req.body as { enabled: boolean; provider?: string };
      await changeCluster(
        ctx,
        req,
        host.cluster_id,
        (trx) =>
          trx
            .updateTable("hosts")
            .set({ ha_enabled: asInt(enabled), ha_provider: provider ?? host.ha_provider })
            .where("id", "=", host.id)
            .execute(),
        () => [
          {
            host: host.name,
            vm: null,
            type: enabled ? "hostHaEnabled" : "hostHaDisabled",
            level: "info",
            message: `HA ${enabled ? "enabled" : "disabled"} on host ${host.name}`,
            data: {},
          },
        ],
      );
      return hostView(ctx, await findByKey(db, "hosts", host.id));
    },
  );
  app.post(
    "/hosts/:id/enrollment-token",
    route(
      "admin",
      "hosts",
      "issue a new one-time enrollment token (the old one and the agent's credential stop working)",
      {
        params: IdParams,
      },
    ),
    async (req) => {
      const host = await findByKey(db, "hosts", (req.params as IdParams).id);
      const token = newToken("enroll");
      await db
        .updateTable("hosts")
        .set({ enroll_token_hash: sha256(token), agent_credential_hash: null })
        .where("id", "=", host.id)
        .execute();
      return { host: host.name, enrollmentToken: token };
    },
  );
  app.post(
    "/hosts/:id/maintenance",
    route("operator", "hosts", "enter or leave maintenance (entering is judged by admission control)", {
      params: IdParams,
      body: Type.Object({ enable: Type.Boolean() }, { additionalProperties: false }),
    }),
    async (req, reply) => {
      const host = await findByKey(db, "hosts", (req.params as IdParams).id);
      const { enable } = req.body as { enable: boolean };
      if (enable) {
        const b = await loadClusterBundle(db, host.cluster_id);
        admit(b, clusterStatus(b, ctx.now().getTime(), await staleMs(db)), {
          kind: "enterMaintenance",
          host: host.name,
        });
      }
      await queueCommand(ctx, host.cluster_id, host.id, "maintenance", { enable });
      await ctx.events.record([
        {
          clusterId: host.cluster_id,
          host: host.name,
          vm: null,
          type: "maintenanceRequested",
          level: "info",
          message: `${enable ? "enter" : "exit"} maintenance requested for ${host.name}`,
          data: { enable },
          source: sourceOf(req),
        },
      ]);
      return reply.status(202).send({ host: host.name, maintenance: enable, accepted: true });
    },
  );
}

/** Commands reach agents at their next sync; `hostId` null means the cluster's master. */
export async function queueCommand(
  ctx: ServerContext,
  clusterId: string,
  hostId: string | null,
  type: string,
  payload: Record<string, unknown>,
): Promise<void> {
  await ctx.store.db
    .insertInto("commands")
    .values({
      cluster_id: clusterId,
      host_id: hostId,
      type,
      payload: JSON.stringify(payload),
      created_at: ctx.now().toISOString(),
      delivered_at: null,
      done_at: null,
    })
    .execute();
}
