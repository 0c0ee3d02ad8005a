// Global settings (ha.tag and the server's own knobs), each shown with its description and default.
import { Type } from "typebox";
import { sourceOf } from "../auth.ts";
import type { ServerContext } from "../context.ts";
import { ApiError } from "../errors.ts";
import { checkSettingValue, globalSettings, isSettingName, type SettingName } from "../global-settings.ts";
import { bumpAllConfigVersions } from "../inventory.ts";
import { type App, route } from "./common.ts";

export function settingRoutes(app: App, ctx: ServerContext): void {
  const db = ctx.store.db;
  const all = async () => {
    const stored = new Map(
      (await db.selectFrom("settings").selectAll().execute()).map((s) => [s.name, s.value]),
    );
    return (Object.keys(globalSettings) as SettingName[]).map((name) => ({
      name,
      value: stored.get(name) ?? globalSettings[name].default,
      default: globalSettings[name].default,
      type: globalSettings[name].type,
      description: globalSettings[name].description,
    }));
  };
  const NameParam = Type.Object({ name: Type.String({ minLength: 1 }) });
  const known = (name: string): SettingName => {
    if (!isSettingName(name))
      throw new ApiError(
        "notFound",
        `no setting "${name}"; known: ${Object.keys(globalSettings).join(", ")}`,
      );
    return name;
  };
  app.get("/settings", route("viewer", "settings", "list global settings", {}), async () => ({
    items: await all(),
  }));
  app.get(
    "/settings/:name",
    route("viewer", "settings", "show a global setting", { params: NameParam }),
    async (req) => {
      const name = known((req.params as { name: string }).name);
      return (await all()).find((s) => s.name === name);
    },
  );
  app.put(
    "/settings/:name",
    route("admin", "settings", "change a global setting", {
      params: NameParam,
      body: Type.Object({ value: Type.String({ maxLength: 1000 }) }, { additionalProperties: false }),
    }),
    async (req) => {
      const name = known((req.params as { name: string }).name);
      const value = checkSettingValue(name, (req.body as { value: string }).value);
      const at = ctx.now().toISOString();
      await db
        .insertInto("settings")
        .values({ name, value, updated_at: at })
        .onConflict((oc) => oc.column("name").doUpdateSet({ value, updated_at: at }))
        .execute();
      if (globalSettings[name].affectsAgents) await bumpAllConfigVersions(db);
      await ctx.events.record([
        {
          clusterId: null,
          host: null,
          vm: null,
          type: "settingChanged",
          level: "info",
          message: `setting ${name} set to "${value}"`,
          data: { name, value },
          source: sourceOf(req),
        },
      ]);
      return (await all()).find((s) => s.name === name);
    },
  );
}
