// A cluster's availability settings, as vSphere's cluster HA dialog has them: host monitoring, the
// response to each failure type, admission control, heartbeat datastores, isolation addresses, VM
// monitoring, the default restart priority and advanced timings. Stored as JSON on the cluster; the
// safety bounds of the timings are checked by rendering the agents' file and reading it back the way
// an agent would (config-render.ts), so the server can never accept what an agent would refuse.
import { type Static, Type } from "typebox";
import { defaultTiming, type Timing } from "../core/cluster.ts";

const timingProps = Object.fromEntries(
  (Object.keys(defaultTiming) as (keyof Timing)[]).map((key) => [
    key,
    key === "clockRateErrorMax"
      ? Type.Number({ minimum: 0, maximum: 0.2 })
      : key === "restartAttemptsMax" || key === "localRestartAttemptsMax"
        ? Type.Integer({ minimum: 0, maximum: 100 })
        : Type.Integer({ minimum: 0, maximum: 3_600_000, description: "milliseconds" }),
  ]),
) as Record<keyof Timing, ReturnType<typeof Type.Integer>>;

export const AdmissionControlSchema = Type.Union([
  Type.Object({ policy: Type.Literal("disabled") }, { additionalProperties: false }),
  Type.Object(
    {
      policy: Type.Literal("hostFailures"),
      hostFailuresToTolerate: Type.Integer({ minimum: 0, maximum: 64 }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      policy: Type.Literal("percentage"),
      cpuPercent: Type.Integer({ minimum: 0, maximum: 100 }),
      memoryPercent: Type.Integer({ minimum: 0, maximum: 100 }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      policy: Type.Literal("slots"),
      hostFailuresToTolerate: Type.Integer({ minimum: 0, maximum: 64 }),
      slotCpus: Type.Optional(Type.Integer({ minimum: 1 })),
      slotMemoryMiB: Type.Optional(Type.Integer({ minimum: 1 })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      policy: Type.Literal("failoverHosts"),
      hosts: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    },
    { additionalProperties: false },
  ),
]);

export const ClusterSettingsSchema = Type.Object(
  {
    hostMonitoring: Type.Boolean({
      description: "off: no restarts after host failures (network maintenance)",
    }),
    responses: Type.Object(
      {
        hostFailure: Type.Union([Type.Literal("restart"), Type.Literal("disabled")]),
        isolation: Type.Union([Type.Literal("leaveOn"), Type.Literal("powerOff"), Type.Literal("shutdown")]),
        datastoreLoss: Type.Literal("powerOffRestart", {
          description:
            "a host that loses a datastore kills the VMs on it when its lease lapses; this is a safety rule, not a choice",
        }),
        guestHeartbeatLoss: Type.Union([Type.Literal("reset"), Type.Literal("disabled")]),
      },
      { additionalProperties: false },
    ),
    admissionControl: AdmissionControlSchema,
    heartbeatDatastores: Type.Object(
      {
        policy: Type.Literal("all", {
          description:
            "every datastore of the cluster carries heartbeats and leases; at least two are needed",
        }),
      },
      { additionalProperties: false },
    ),
    isolationAddresses: Type.Array(Type.String({ minLength: 1 })),
    vmMonitoring: Type.Union([
      Type.Literal("off"),
      Type.Literal("low"),
      Type.Literal("medium"),
      Type.Literal("high"),
      Type.Literal("custom"),
    ]),
    vmMonitoringCustom: Type.Optional(
      Type.Object(
        {
          failureIntervalMs: Type.Integer({ minimum: 1000 }),
          minUptimeMs: Type.Integer({ minimum: 0 }),
          maxResets: Type.Integer({ minimum: 0 }),
          resetWindowMs: Type.Integer({ minimum: 0 }),
        },
        { additionalProperties: false },
      ),
    ),
    defaultRestartPriority: Type.Union([
      Type.Literal("highest"),
      Type.Literal("high"),
      Type.Literal("medium"),
      Type.Literal("low"),
      Type.Literal("lowest"),
      Type.Literal("disabled"),
    ]),
    startCondition: Type.Union([
      Type.Literal("allocated"),
      Type.Literal("poweredOn"),
      Type.Literal("guestHeartbeat"),
    ]),
    timingProfile: Type.Union([Type.Literal("default"), Type.Literal("fast")]),
    timing: Type.Partial(Type.Object(timingProps, { additionalProperties: false })),
    /** The process driver's command for VMs that name none; `{vm}` is replaced by the VM name. */
    defaultVmCommand: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
  },
  { additionalProperties: false },
);
export type ClusterSettings = Static<typeof ClusterSettingsSchema>;

/** What every field means when it is not set: vSphere's and DESIGN section 4's defaults. */
export const defaultClusterSettings: ClusterSettings = {
  hostMonitoring: true,
  responses: {
    hostFailure: "restart",
    isolation: "powerOff",
    datastoreLoss: "powerOffRestart",
    guestHeartbeatLoss: "reset",
  },
  admissionControl: { policy: "hostFailures", hostFailuresToTolerate: 1 },
  heartbeatDatastores: { policy: "all" },
  isolationAddresses: [],
  vmMonitoring: "medium",
  defaultRestartPriority: "medium",
  startCondition: "poweredOn",
  timingProfile: "default",
  timing: {},
  defaultVmCommand: ["sleep", "infinity"],
};

/** Settings as a PATCH gives them: any subset, nested objects replaced whole except `responses`. */
export const ClusterSettingsPatchSchema = Type.Partial(ClusterSettingsSchema);
export type ClusterSettingsPatch = Static<typeof ClusterSettingsPatchSchema>;

export function mergeSettings(base: ClusterSettings, patch: ClusterSettingsPatch): ClusterSettings {
  const merged: ClusterSettings = { ...base, ...patch } as ClusterSettings;
  if (patch.responses !== undefined) merged.responses = { ...base.responses, ...patch.responses };
  if (patch.vmMonitoring !== undefined && patch.vmMonitoring !== "custom") delete merged.vmMonitoringCustom;
  return merged;
}

/** Stored JSON to settings; fields added by later versions get their defaults. */
export function readSettings(json: string): ClusterSettings {
  const stored = JSON.parse(json) as Partial<ClusterSettings>;
  return mergeSettings(defaultClusterSettings, stored);
}
