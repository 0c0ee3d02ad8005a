// Health and Prometheus metrics. /metrics is public, as scrapers expect; it shows counts, no names
// of secrets.
import type { ServerContext } from "../context.ts";
import { haStates } from "../ha-state.ts";
import { vmStates } from "../views.ts";
import { type App, route } from "./common.ts";
import { hostViews } from "./hosts.ts";

export interface HttpCounters {
  requests: Map<string, number>;
}

export function metaRoutes(app: App, ctx: ServerContext, http: HttpCounters, version: string): void {
  app.get(
    "/health",
    route("public", "meta", "liveness and database reachability", {}),
    async (_req, reply) => {
      try {
        await ctx.store.db.selectFrom("zones").select("id").limit(1).execute();
        return { status: "ok", version, database: ctx.store.dialect };
      } catch (error) {
        return reply.status(503).send({ status: "database unreachable", error: (error as Error).message });
      }
    },
  );
  app.get("/metrics", route("public", "meta", "Prometheus metrics", {}), async (_req, reply) => {
    const lines: string[] = [];
    const family = (name: string, help: string, type: "gauge" | "counter") =>
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    const label = (v: string) => v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
    const hosts = await hostViews(ctx);
    family("vigil_hosts", "hosts by cluster and HA state", "gauge");
    const byHa = new Map<string, number>();
    for (const h of hosts)
      byHa.set(`${h.cluster}\u0000${h.haState}`, (byHa.get(`${h.cluster}\u0000${h.haState}`) ?? 0) + 1);
    for (const c of new Set(hosts.map((h) => h.cluster)))
      for (const s of Object.keys(haStates))
        lines.push(`vigil_hosts{cluster="${label(c)}",ha_state="${s}"} ${byHa.get(`${c}\u0000${s}`) ?? 0}`);
    family("vigil_vms", "VMs by cluster and state", "gauge");
    const vms = await ctx.store.db.selectFrom("clusters").select(["id", "name"]).execute();
    const { clusterStatus } = await import("../views.ts");
    const { loadClusterBundle } = await import("../inventory.ts");
    const { staleMs } = await import("./hosts.ts");
    const stale = await staleMs(ctx.store.db);
    for (const c of vms) {
      const status = clusterStatus(await loadClusterBundle(ctx.store.db, c.id), ctx.now().getTime(), stale);
      for (const s of Object.keys(vmStates))
        lines.push(
          `vigil_vms{cluster="${label(c.name)}",state="${s}"} ${status.vms.filter((v) => v.state === s).length}`,
        );
    }
    family("vigil_events_recorded_total", "events this server recorded, by type", "counter");
    for (const [type, n] of [...ctx.events.recordedByType].sort())
      lines.push(`vigil_events_recorded_total{type="${label(type)}"} ${n}`);
    family("vigil_http_requests_total", "HTTP requests by method, route and status", "counter");
    for (const [key, n] of [...http.requests].sort()) {
      const [method, url, status] = key.split("\u0000");
      lines.push(
        `vigil_http_requests_total{method="${method}",route="${label(url ?? "")}",status="${status}"} ${n}`,
      );
    }
    return reply.type("text/plain; version=0.0.4").send(`${lines.join("\n")}\n`);
  });
}
