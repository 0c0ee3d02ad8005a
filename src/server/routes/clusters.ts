// Clusters: HA enablement (optionally for all hosts at once, as Mold's enableHA does), the
// availability settings of vSphere's cluster dialog, configuration issues, and the rendered agent
// configuration.
import { randomBytes } from "node:crypto";
import { Type } from "typebox";
import {
  type ClusterSettingsPatch,
  ClusterSettingsPatchSchema,
  defaultClusterSettings,
  mergeSettings,
  readSettings,
} from "../cluster-settings.ts";
import { configIssues } from "../config-issues.ts";
import type { ServerContext } from "../context.ts";
import { ApiError } from "../errors.ts";
import { asBool, asInt, type Cluster, findByKey, loadClusterBundle, newId } from "../inventory.ts";
import { renderCluster } from "../render.ts";
import { clusterStatus } from "../views.ts";
import { type App, changeCluster, IdParams, Name, PageQuery, pageOf, route } from "./common.ts";
import { staleMs } from "./hosts.ts";

export function clusterView(c: Cluster, zoneName: string) {
  return {
    id: c.id,
    name: c.name,
    zoneId: c.zone_id,
    zone: zoneName,
    haEnabled: asBool(c.ha_enabled),
    configVersion: c.config_version,
    settings: readSettings(c.settings),
    createdAt: c.created_at,
  };
}

export function clusterRoutes(app: App, ctx: ServerContext): void {
  const db = ctx.store.db;
  const zoneNames = async () =>
    new Map((await db.selectFrom("zones").select(["id", "name"]).execute()).map((z) => [z.id, z.name]));
  const view = async (c: Cluster) => clusterView(c, (await zoneNames()).get(c.zone_id) ?? "?");

  app.get(
    "/clusters",
    route("viewer", "clusters", "list clusters", {
      querystring: Type.Object({ ...PageQuery, zone: Type.Optional(Type.String()) }),
    }),
    async (req) => {
      const q = req.query as { zone?: string; limit?: number; offset?: number };
      let sel = db.selectFrom("clusters").selectAll().orderBy("name");
      if (q.zone !== undefined) sel = sel.where("zone_id", "=", (await findByKey(db, "zones", q.zone)).id);
      const names = await zoneNames();
      return pageOf(
        (await sel.execute()).map((c) => clusterView(c, names.get(c.zone_id) ?? "?")),
        q,
      );
    },
  );
  app.post(
    "/clusters",
    route("admin", "clusters", "create a cluster", {
      body: Type.Object(
        {
          name: Name,
          zone: Type.String({ minLength: 1 }),
          haEnabled: Type.Optional(Type.Boolean()),
          settings: Type.Optional(ClusterSettingsPatchSchema),
        },
        { additionalProperties: false },
      ),
    }),
    async (req, reply) => {
      const body = req.body as {
        name: string;
        zone: string;
        haEnabled?: boolean;
        settings?: ClusterSettingsPatch;
      };
      const zone = await findByKey(db, "zones", body.zone).catch(() => {
        throw new ApiError("invalidInput", `body.zone: no zone "${body.zone}"`, "body.zone");
      });
      if (
        (await db.selectFrom("clusters").select("id").where("name", "=", body.name).executeTakeFirst()) !==
        undefined
      )
        throw new ApiError("conflict", `a cluster named "${body.name}" exists`, "body.name");
      const row: Cluster = {
        id: newId(),
        zone_id: zone.id,
        name: body.name,
        ha_enabled: asInt(body.haEnabled ?? false),
        settings: JSON.stringify(mergeSettings(defaultClusterSettings, body.settings ?? {})),
        config_version: 1,
        secret_enc: ctx.secrets.encrypt(randomBytes(32).toString("hex")),
        created_at: ctx.now().toISOString(),
      };
      await db.insertInto("clusters").values(row).execute();
      return reply.status(201).send(clusterView(row, zone.name));
    },
  );
  app.get("/clusters/:id", route("viewer", "clusters", "show a cluster", { params: IdParams }), async (req) =>
    view(await findByKey(db, "clusters", (req.params as IdParams).id)),
  );
  app.delete(
    "/clusters/:id",
    route("admin", "clusters", "delete a cluster with no hosts, datastores or VMs", { params: IdParams }),
    async (req, reply) => {
      const c = await findByKey(db, "clusters", (req.params as IdParams).id);
      for (const table of ["hosts", "vms", "datastores"] as const) {
        const left = await db
          .selectFrom(table)
          .select("name")
          .where("cluster_id", "=", c.id)
          .executeTakeFirst();
        if (left !== undefined)
          throw new ApiError("conflict", `cluster ${c.name} still has ${table.slice(0, -1)} ${left.name}`);
      }
      await db.deleteFrom("rules").where("cluster_id", "=", c.id).execute();
      await db.deleteFrom("commands").where("cluster_id", "=", c.id).execute();
      await db.deleteFrom("clusters").where("id", "=", c.id).execute();
      return reply.status(204).send();
    },
  );
  app.post(
    "/clusters/:id/ha",
    route("admin", "clusters", "enable or disable HA on a cluster (and optionally on all its hosts)", {
      params: IdParams,
      body: Type.Object(
        { enabled: Type.Boolean(), includeHosts: Type.Optional(Type.Boolean()) },
        { additionalProperties: false },
      ),
    }),
    async (req) => {
      const c = await findByKey(db, "clusters", (req.params as IdParams).id);
      const { enabled, includeHosts } = req.body as { enabled: boolean; includeHosts?: boolean };
      await changeCluster(
        ctx,
        req,
        c.id,
        async (trx) => {
          await trx
            .updateTable("clusters")
            .set({ ha_enabled: asInt(enabled) })
            .where("id", "=", c.id)
            .execute();
          if (includeHosts === true)
            await trx
              .updateTable("hosts")
              .set({ ha_enabled: asInt(enabled) })
              .where("cluster_id", "=", c.id)
              .execute();
        },
        () => [
          {
            host: null,
            vm: null,
            type: enabled ? "clusterHaEnabled" : "clusterHaDisabled",
            level: "info",
            message: `HA ${enabled ? "enabled" : "disabled"} on cluster ${c.name}${includeHosts === true ? " and all its hosts" : ""}`,
            data: { cluster: c.name, includeHosts: includeHosts === true },
          },
        ],
      );
      return view(await findByKey(db, "clusters", c.id));
    },
  );
  app.get(
    "/clusters/:id/settings",
    route("viewer", "clusters", "the cluster's availability settings", { params: IdParams }),
    async (req) => readSettings((await findByKey(db, "clusters", (req.params as IdParams).id)).settings),
  );
  app.patch(
    "/clusters/:id/settings",
    route("admin", "clusters", "change availability settings (fields not given are kept)", {
      params: IdParams,
      body: ClusterSettingsPatchSchema,
    }),
    async (req) => {
      const c = await findByKey(db, "clusters", (req.params as IdParams).id);
      const patch = req.body as ClusterSettingsPatch;
      const merged = mergeSettings(readSettings(c.settings), patch);
      if (merged.vmMonitoring === "custom" && merged.vmMonitoringCustom === undefined)
        throw new ApiError(
          "invalidInput",
          "body.vmMonitoringCustom: needed with vmMonitoring custom",
          "body.vmMonitoringCustom",
        );
      await changeCluster(
        ctx,
        req,
        c.id,
        (trx) =>
          trx
            .updateTable("clusters")
            .set({ settings: JSON.stringify(merged) })
            .where("id", "=", c.id)
            .execute(),
        () => [
          {
            host: null,
            vm: null,
            type: "clusterSettingsChanged",
            level: "info",
            message: `availability settings of cluster ${c.name} changed: ${Object.keys(patch).join(", ")}`,
            data: { changed: patch },
          },
        ],
      );
      return merged;
    },
  );
  app.get(
    "/clusters/:id/issues",
    route("viewer", "clusters", "configuration issues", { params: IdParams }),
    async (req) => {
      const c = await findByKey(db, "clusters", (req.params as IdParams).id);
      const b = await loadClusterBundle(db, c.id);
      return { items: configIssues(b, clusterStatus(b, ctx.now().getTime(), await staleMs(db))) };
    },
  );
  app.get(
    "/clusters/:id/status",
    route("viewer", "clusters", "the master, every host's state and where every VM runs", {
      params: IdParams,
    }),
    async (req) => {
      const c = await findByKey(db, "clusters", (req.params as IdParams).id);
      const b = await loadClusterBundle(db, c.id);
      return clusterStatus(b, ctx.now().getTime(), await staleMs(db));
    },
  );
  app.get(
    "/clusters/:id/agent-config",
    route("admin", "clusters", "the configuration agents get (secrets left out)", { params: IdParams }),
    async (req) => {
      const c = await findByKey(db, "clusters", (req.params as IdParams).id);
      const rendered = renderCluster(await loadClusterBundle(db, c.id), ctx.secrets);
      return {
        version: rendered.version,
        clusterYaml: rendered.clusterYaml,
        secretFiles: Object.keys(rendered.secrets),
      };
    },
  );
}
