// Global settings, as CloudStack has them: each with a description, a type, a default and bounds.
// Values are stored as text; reading one always gives a valid value of its type.
import { ApiError } from "./errors.ts";

interface SettingDef {
  description: string;
  type: "string" | "integer";
  default: string;
  min?: number;
  max?: number;
  /** The setting changes what agents run, so clusters' configuration versions move with it. */
  affectsAgents: boolean;
}

export const globalSettings = {
  "ha.tag": {
    description:
      "host tag of the hosts reserved for HA restarts (Mold's ha.tag): HA VMs restart only on hosts carrying it; empty: any host",
    type: "string",
    default: "",
    affectsAgents: true,
  },
  "oobm.action.timeout.ms": {
    description: "how long an out-of-band power action may take before it counts as failed",
    type: "integer",
    default: "60000",
    min: 1000,
    max: 600000,
    affectsAgents: false,
  },
  "agent.sync.interval.ms": {
    description: "how often agents report to the server and fetch configuration and commands",
    type: "integer",
    default: "2000",
    min: 250,
    max: 60000,
    affectsAgents: false,
  },
  "host.report.stale.ms": {
    description: "a host whose agent has not reported for this long is shown with state unknown",
    type: "integer",
    default: "10000",
    min: 1000,
    max: 3600000,
    affectsAgents: false,
  },
  "event.retention.days": {
    description: "events older than this are deleted",
    type: "integer",
    default: "30",
    min: 1,
    max: 3650,
    affectsAgents: false,
  },
} as const satisfies Record<string, SettingDef>;
export type SettingName = keyof typeof globalSettings;

export function isSettingName(name: string): name is SettingName {
  return Object.hasOwn(globalSettings, name);
}

/** Checks a value for a setting; throws invalidInput naming the field. Returns it normalised. */
export function checkSettingValue(name: SettingName, value: string): string {
  const def: SettingDef = globalSettings[name];
  if (def.type === "integer") {
    const n = Number(value);
    if (!Number.isInteger(n))
      throw new ApiError("invalidInput", `body.value: ${name} must be an integer`, "body.value");
    if (def.min !== undefined && n < def.min)
      throw new ApiError("invalidInput", `body.value: ${name} must be >= ${def.min}, got ${n}`, "body.value");
    if (def.max !== undefined && n > def.max)
      throw new ApiError("invalidInput", `body.value: ${name} must be <= ${def.max}, got ${n}`, "body.value");
    return String(n);
  }
  if (/[\s,]/.test(value))
    throw new ApiError("invalidInput", `body.value: ${name} must be one word, got "${value}"`, "body.value");
  return value;
}
