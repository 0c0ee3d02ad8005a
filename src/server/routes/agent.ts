// The agents' side of the API: enrollment with a one-time token, and one sync call per interval
// that carries the agent's report up and its configuration (when it moved) and commands down.
// Agents keep the last configuration on disk, so HA goes on while no server answers.
import { Type } from "typebox";
import { eventTypes } from "../../core/events.ts";
import {
  type AgentCommand,
  type AgentReport,
  AgentReportSchema,
  type ReportedEvent,
} from "../agent-report.ts";
import type { ServerContext } from "../context.ts";
import { ApiError } from "../errors.ts";
import type { EventLevel, NewEvent } from "../event-bus.ts";
import { loadClusterBundle } from "../inventory.ts";
import { renderCluster } from "../render.ts";
import { newToken, sha256 } from "../secrets.ts";
import { type App, route } from "./common.ts";

const warningTypes = new Set([
  "fenceFailed",
  "vmStartFailed",
  "vmCrashed",
  "vmLeaseLost",
  "selfFenced",
  "isolationDeclared",
  "hostDeclaredDead",
  "vmReset",
  "powerOnRefused",
  "migrationRefused",
]);

export function levelOf(type: string): EventLevel {
  const description = (eventTypes as Record<string, string>)[type];
  if (description?.startsWith("ALARM:")) return "alarm";
  return warningTypes.has(type) ? "warning" : "info";
}

function messageOf(e: ReportedEvent): string {
  const parts = [e.type];
  if (e.vm !== undefined) parts.push(e.vm);
  if (e.subject !== undefined) parts.push(e.subject);
  if (e.target !== undefined) parts.push(`-> ${e.target}`);
  if (e.state !== undefined) parts.push(`state ${e.state}`);
  if (e.epoch !== undefined) parts.push(`epoch ${e.epoch}`);
  if (e.proof !== undefined) parts.push(`proof ${e.proof}`);
  if (e.reason !== undefined) parts.push(`(${e.reason})`);
  return parts.join(" ");
}

/** A delivered command not marked done after this long is delivered again (the agent may have died). */
const redeliverAfterMs = 30_000;

export function agentRoutes(app: App, ctx: ServerContext): void {
  const db = ctx.store.db;
  app.post(
    "/agent/enroll",
    route("public", "agent", "exchange a host's one-time enrollment token for its agent credential", {
      body: Type.Object(
        { host: Type.String({ minLength: 1 }), token: Type.String({ minLength: 1, maxLength: 200 }) },
        { additionalProperties: false },
      ),
    }),
    async (req) => {
      const { host, token } = req.body as { host: string; token: string };
      const row = await db
        .selectFrom("hosts")
        .select(["id", "name", "cluster_id", "enroll_token_hash"])
        .where("name", "=", host)
        .executeTakeFirst();
      if (row === undefined || row.enroll_token_hash === null || row.enroll_token_hash !== sha256(token))
        throw new ApiError(
          "unauthenticated",
          `no valid enrollment token for host "${host}" (tokens work once)`,
        );
      const credential = newToken("agent");
      const done = await db
        .updateTable("hosts")
        .set({ enroll_token_hash: null, agent_credential_hash: sha256(credential) })
        .where("id", "=", row.id)
        .where("enroll_token_hash", "=", sha256(token))
        .executeTakeFirst();
      if (Number(done.numUpdatedRows) !== 1)
        throw new ApiError("unauthenticated", "the enrollment token was just used");
      await ctx.events.record([
        {
          clusterId: row.cluster_id,
          host: row.name,
          vm: null,
          type: "agentEnrolled",
          level: "info",
          message: `agent of ${row.name} enrolled`,
          data: {},
          source: `agent:${row.name}`,
        },
      ]);
      return { host: row.name, clusterId: row.cluster_id, credential };
    },
  );
  app.post(
    "/agent/sync",
    route("agent", "agent", "report and fetch configuration and commands", {
      body: Type.Object(
        {
          ...AgentReportSchema.properties,
          /** Where the agent's own network sends by default: the isolation address of last resort. */
          defaultGateway: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()])),
        },
        { additionalProperties: false },
      ),
    }),
    async (req) => {
      const caller = req.caller!;
      const report = req.body as AgentReport & { defaultGateway?: string | null };
      const now = ctx.now();
      await db
        .updateTable("hosts")
        .set({ report: JSON.stringify({ ...report, events: [], done: [] }), reported_at: now.toISOString() })
        .where("id", "=", caller.hostId!)
        .execute();
      const events: NewEvent[] = report.events.map((e) => ({
        clusterId: caller.clusterId,
        host: e.host,
        vm: e.vm ?? null,
        type: e.type,
        level: levelOf(e.type),
        message: messageOf(e),
        data: e,
        source: `agent:${caller.name}`,
        at: e.at,
      }));
      await ctx.events.record(events);
      if (report.done.length > 0)
        await db
          .updateTable("commands")
          .set({ done_at: now.toISOString() })
          .where("id", "in", report.done)
          .where("cluster_id", "=", caller.clusterId!)
          .execute();
      const commands = await pendingCommands(
        ctx,
        caller.clusterId!,
        caller.hostId!,
        report.role === "master",
        now,
      );
      const cluster = await db
        .selectFrom("clusters")
        .select("config_version")
        .where("id", "=", caller.clusterId!)
        .executeTakeFirstOrThrow();
      const interval = await db
        .selectFrom("settings")
        .select("value")
        .where("name", "=", "agent.sync.interval.ms")
        .executeTakeFirst();
      const config =
        cluster.config_version === report.configVersion
          ? null
          : renderCluster(await loadClusterBundle(db, caller.clusterId!), ctx.secrets);
      return {
        configVersion: cluster.config_version,
        config,
        commands,
        syncIntervalMs: Number(interval?.value ?? 2000),
      };
    },
  );
}

async function pendingCommands(
  ctx: ServerContext,
  clusterId: string,
  hostId: string,
  isMaster: boolean,
  now: Date,
): Promise<AgentCommand[]> {
  const db = ctx.store.db;
  const redeliverBefore = new Date(now.getTime() - redeliverAfterMs).toISOString();
  const rows = await db
    .selectFrom("commands")
    .selectAll()
    .where("cluster_id", "=", clusterId)
    .where("done_at", "is", null)
    .where((eb) => eb.or([eb("delivered_at", "is", null), eb("delivered_at", "<", redeliverBefore)]))
    .where((eb) =>
      isMaster ? eb.or([eb("host_id", "=", hostId), eb("host_id", "is", null)]) : eb("host_id", "=", hostId),
    )
    .orderBy("id")
    .limit(100)
    .execute();
  if (rows.length === 0) return [];
  await db
    .updateTable("commands")
    .set({ delivered_at: now.toISOString() })
    .where(
      "id",
      "in",
      rows.map((r) => r.id),
    )
    .execute();
  return rows.map(
    (r) => ({ id: Number(r.id), type: r.type, ...(JSON.parse(r.payload) as object) }) as AgentCommand,
  );
}
