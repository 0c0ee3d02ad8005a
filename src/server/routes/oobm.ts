// Out-of-band management, as CloudStack has it: per host a driver, address, port, user and password
// (encrypted at rest, never returned), an enabled switch (also per cluster and zone at once), and
// the power actions ON, OFF, CYCLE, RESET, SOFT and STATUS with the power state shown.
import { Type } from "typebox";
import { IpmitoolDriver } from "../../power/ipmi/ipmitool-driver.ts";
import { type PowerDriver, PowerError } from "../../power/power.ts";
import { RedfishDriver } from "../../power/redfish/redfish-driver.ts";
import { sourceOf } from "../auth.ts";
import type { ServerContext } from "../context.ts";
import { ApiError } from "../errors.ts";
import { asInt, findByKey, type Host } from "../inventory.ts";
import { type App, changeCluster, IdParams, route } from "./common.ts";
import { hostView } from "./hosts.ts";

export const oobmDrivers = {
  ipmitool: "IPMI over LAN (lanplus) through ipmitool",
  redfish: "Redfish over HTTPS (ComputerSystem.Reset); insecureTls for a self-signed BMC certificate",
} as const;
export type OobmDriver = keyof typeof oobmDrivers;

/** The BMC port when none is given. */
export const oobmDefaultPorts: Record<OobmDriver, number> = { ipmitool: 623, redfish: 443 };

function isOobmDriver(name: string | null): name is OobmDriver {
  return name !== null && Object.hasOwn(oobmDrivers, name);
}

export const powerActions = {
  ON: "power on",
  OFF: "hard power off, no guest shutdown",
  CYCLE: "off, then on",
  RESET: "hard reset",
  SOFT: "ACPI soft off: the OS shuts down",
  STATUS: "read the power state",
} as const;
export type PowerAction = keyof typeof powerActions;

export function powerDriverFor(host: Host, password: string, timeoutMs: number): PowerDriver {
  const driver = host.oob_driver;
  if (!isOobmDriver(driver))
    throw new ApiError("unavailable", `out-of-band driver ${driver} is not available in this server`);
  const common = {
    address: host.oob_address!,
    port: host.oob_port ?? oobmDefaultPorts[driver],
    user: host.oob_user!,
    password,
    callTimeoutMs: timeoutMs,
  };
  switch (driver) {
    case "ipmitool":
      return new IpmitoolDriver(common);
    case "redfish":
      return new RedfishDriver({ ...common, insecureTls: host.oob_insecure_tls === 1 });
  }
}

const powerState = (s: "on" | "off") => (s === "on" ? "On" : "Off");

export function oobmRoutes(app: App, ctx: ServerContext): void {
  const db = ctx.store.db;
  app.put(
    "/hosts/:id/oobm",
    route(
      "admin",
      "oobm",
      "configure out-of-band management of a host (the password is kept when not given)",
      {
        params: IdParams,
        body: Type.Object(
          {
            driver: Type.Union(Object.keys(oobmDrivers).map((d) => Type.Literal(d))),
            address: Type.String({ minLength: 1, maxLength: 253 }),
            port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
            user: Type.String({ minLength: 1, maxLength: 64 }),
            password: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
            insecureTls: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        ),
      },
    ),
    async (req) => {
      const host = await findByKey(db, "hosts", (req.params as IdParams).id);
      const b = req.body as {
        driver: OobmDriver;
        address: string;
        port?: number;
        user: string;
        password?: string;
        insecureTls?: boolean;
      };
      if (b.insecureTls === true && b.driver !== "redfish")
        throw new ApiError(
          "invalidInput",
          "body.insecureTls: only the redfish driver uses TLS",
          "body.insecureTls",
        );
      const port = b.port ?? oobmDefaultPorts[b.driver];
      if (b.password === undefined && host.oob_password_enc === null)
        throw new ApiError(
          "invalidInput",
          "body.password: needed the first time out-of-band management is configured",
          "body.password",
        );
      await changeCluster(
        ctx,
        req,
        host.cluster_id,
        (trx) =>
          trx
            .updateTable("hosts")
            .set({
              oob_driver: b.driver,
              oob_address: b.address,
              oob_port: port,
              oob_user: b.user,
              oob_insecure_tls: b.insecureTls === true ? 1 : 0,
              ...(b.password === undefined ? {} : { oob_password_enc: ctx.secrets.encrypt(b.password) }),
            })
            .where("id", "=", host.id)
            .execute(),
        () => [
          {
            host: host.name,
            vm: null,
            type: "oobmConfigured",
            level: "info",
            message: `out-of-band management of ${host.name} set to ${b.driver} ${b.user}@${b.address}:${port}${b.insecureTls === true ? " (certificate not checked)" : ""}`,
            data: {
              driver: b.driver,
              address: b.address,
              port,
              insecureTls: b.insecureTls === true,
              passwordChanged: b.password !== undefined,
            },
          },
        ],
      );
      return (await hostView(ctx, await findByKey(db, "hosts", host.id))).oobm;
    },
  );
  const Enabled = Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false });
  app.post(
    "/hosts/:id/oobm/enabled",
    route("admin", "oobm", "enable or disable out-of-band management of a host", {
      params: IdParams,
      body: Enabled,
    }),
    async (req) => {
      const host = await findByKey(db, "hosts", (req.params as IdParams).id);
      const { enabled } = req.body as { enabled: boolean };
      if (enabled && host.oob_driver === null)
        throw new ApiError(
          "refused",
          `out-of-band management of ${host.name} is not configured; PUT /hosts/${host.name}/oobm first`,
        );
      await setOobmEnabled(ctx, req, host.cluster_id, [host], enabled);
      return (await hostView(ctx, await findByKey(db, "hosts", host.id))).oobm;
    },
  );
  app.post(
    "/clusters/:id/oobm/enabled",
    route("admin", "oobm", "enable or disable out-of-band management of every configured host of a cluster", {
      params: IdParams,
      body: Enabled,
    }),
    async (req) => {
      const c = await findByKey(db, "clusters", (req.params as IdParams).id);
      const { enabled } = req.body as { enabled: boolean };
      const hosts = await db.selectFrom("hosts").selectAll().where("cluster_id", "=", c.id).execute();
      const configured = hosts.filter((h) => h.oob_driver !== null);
      await setOobmEnabled(ctx, req, c.id, configured, enabled);
      return {
        enabled,
        hosts: configured.map((h) => h.name),
        skipped: hosts.filter((h) => h.oob_driver === null).map((h) => h.name),
      };
    },
  );
  app.post(
    "/hosts/:id/oobm/power",
    route("operator", "oobm", "issue a power action through the host's BMC", {
      params: IdParams,
      body: Type.Object(
        { action: Type.Union(Object.keys(powerActions).map((a) => Type.Literal(a))) },
        { additionalProperties: false },
      ),
    }),
    async (req) => {
      const host = await findByKey(db, "hosts", (req.params as IdParams).id);
      const { action } = req.body as { action: PowerAction };
      if (host.oob_driver === null || host.oob_password_enc === null)
        throw new ApiError("refused", `out-of-band management of ${host.name} is not configured`);
      if (host.oob_enabled === 0)
        throw new ApiError("refused", `out-of-band management of ${host.name} is disabled`);
      const timeout = await db
        .selectFrom("settings")
        .select("value")
        .where("name", "=", "oobm.action.timeout.ms")
        .executeTakeFirst();
      const driver = powerDriverFor(
        host,
        ctx.secrets.decrypt(host.oob_password_enc),
        Number(timeout?.value ?? 60000),
      );
      let state: "On" | "Off" | "Unknown" = "Unknown";
      try {
        if (action !== "STATUS") {
          const call = {
            ON: driver.on,
            OFF: driver.off,
            CYCLE: driver.cycle,
            RESET: driver.reset,
            SOFT: driver.soft,
          }[action];
          await call.call(driver);
        }
        state = powerState(await driver.status());
      } catch (error) {
        const message = error instanceof PowerError ? error.message : String(error);
        await ctx.events.record([
          {
            clusterId: host.cluster_id,
            host: host.name,
            vm: null,
            type: "oobmPowerActionFailed",
            level: "warning",
            message: `${action} on ${host.name} failed: ${message}`,
            data: { action, kind: error instanceof PowerError ? error.kind : "unknown" },
            source: sourceOf(req),
          },
        ]);
        throw new ApiError("unavailable", `${action} on ${host.name} failed: ${message}`);
      }
      await db.updateTable("hosts").set({ oob_power_state: state }).where("id", "=", host.id).execute();
      if (action !== "STATUS") {
        await ctx.events.record([
          {
            clusterId: host.cluster_id,
            host: host.name,
            vm: null,
            type: "oobmPowerAction",
            level: action === "OFF" || action === "CYCLE" || action === "RESET" ? "warning" : "info",
            message: `${action} issued to ${host.name} through ${driver.target}; power state now ${state}`,
            data: { action, powerState: state },
            source: sourceOf(req),
          },
        ]);
      }
      return { host: host.name, action, powerState: state };
    },
  );
}

async function setOobmEnabled(
  ctx: ServerContext,
  req: Parameters<typeof sourceOf>[0],
  clusterId: string,
  hosts: Host[],
  enabled: boolean,
): Promise<void> {
  if (hosts.length === 0) return;
  await changeCluster(
    ctx,
    req,
    clusterId,
    (trx) =>
      trx
        .updateTable("hosts")
        .set({ oob_enabled: asInt(enabled) })
        .where(
          "id",
          "in",
          hosts.map((h) => h.id),
        )
        .execute(),
    () =>
      hosts.map((h) => ({
        host: h.name,
        vm: null,
        type: enabled ? "oobmEnabled" : "oobmDisabled",
        level: "info" as const,
        message: `out-of-band management ${enabled ? "enabled" : "disabled"} on ${h.name}`,
        data: {},
      })),
  );
}
