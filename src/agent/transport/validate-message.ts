// Checks that a value decoded from the network is a well-formed Message of src/core/records.ts before
// the engine sees it. Every field of every variant has a check (the compiler enforces the coverage),
// unknown fields are refused, and a failure names the field path and the problem.
import { agentRoles, type Message, restartProofs, type VmEpoch } from "../../core/records.ts";

type Check = ((value: unknown, path: string) => string | null) & { optional?: true };

/** One check per field of T, optional fields included; an extra or missing key is a compile error. */
type FieldChecks<T> = { [F in keyof T]-?: Check };

const name: Check = (v, p) =>
  typeof v === "string" && v.length > 0 ? null : `${p}: expected a non-empty string`;
const text: Check = (v, p) => (typeof v === "string" ? null : `${p}: expected a string`);
const nat: Check = (v, p) =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? null : `${p}: expected a whole number >= 0`;
const int: Check = (v, p) =>
  typeof v === "number" && Number.isSafeInteger(v) ? null : `${p}: expected a whole number`;
const bool: Check = (v, p) => (typeof v === "boolean" ? null : `${p}: expected true or false`);

function literal(expected: string): Check {
  return (v, p) => (v === expected ? null : `${p}: expected "${expected}"`);
}

function oneOf(values: Readonly<Record<string, string>>): Check {
  return (v, p) =>
    typeof v === "string" && Object.hasOwn(values, v)
      ? null
      : `${p}: expected one of ${Object.keys(values).join(", ")}`;
}

function nullable(check: Check): Check {
  return (v, p) => (v === null ? null : check(v, p));
}

function optional(check: Check): Check {
  const wrapped: Check = (v, p) => (v === undefined ? null : check(v, p));
  wrapped.optional = true;
  return wrapped;
}

function listOf(item: Check): Check {
  return (v, p) => {
    if (!Array.isArray(v)) return `${p}: expected a list`;
    for (const [i, element] of v.entries()) {
      const problem = item(element, `${p}[${i}]`);
      if (problem !== null) return problem;
    }
    return null;
  };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function checkObject(v: unknown, p: string, fields: Readonly<Record<string, Check>>): string | null {
  if (!isPlainObject(v)) return `${p}: expected an object`;
  for (const key of Object.keys(v)) {
    if (!Object.hasOwn(fields, key)) return `${p}.${key}: unknown field`;
  }
  for (const [key, check] of Object.entries(fields)) {
    if (!Object.hasOwn(v, key) && check.optional !== true) return `${p}.${key}: missing`;
    const problem = check(v[key], `${p}.${key}`);
    if (problem !== null) return problem;
  }
  return null;
}

function objectOf<T>(fields: FieldChecks<T>): Check {
  return (v, p) => checkObject(v, p, fields);
}

const vmEpochFields: FieldChecks<VmEpoch> = {
  vm: name,
  epoch: nat,
  starting: optional(bool),
  guestOk: optional(bool),
};

type Variant<K extends Message["type"]> = Extract<Message, { type: K }>;

const variants: { [K in Message["type"]]: FieldChecks<Variant<K>> } = {
  heartbeat: {
    type: literal("heartbeat"),
    from: name,
    role: oneOf(agentRoles),
    master: nullable(name),
    datastoresSeen: nat,
    electionPriority: int,
    eligible: bool,
    isolated: bool,
    maintenance: bool,
    standby: bool,
    fencing: listOf(name),
    vms: listOf(objectOf<VmEpoch>(vmEpochFields)),
  },
  startVm: { type: literal("startVm"), from: name, vm: name, epoch: nat, proof: oneOf(restartProofs) },
  vmStartFailed: { type: literal("vmStartFailed"), from: name, vm: name, epoch: nat, reason: text },
  migrateVm: { type: literal("migrateVm"), from: name, vm: name, target: name },
  confirmDown: { type: literal("confirmDown"), from: name, vm: name, epoch: nat },
};

/** Returns null when `value` is a well-formed Message, else `<path>: <problem>`. */
export function validateMessage(value: unknown, path = "msg"): string | null {
  if (!isPlainObject(value)) return `${path}: expected an object`;
  const type = value.type;
  if (typeof type !== "string" || !Object.hasOwn(variants, type))
    return `${path}.type: expected one of ${Object.keys(variants).join(", ")}`;
  return checkObject(value, path, variants[type as Message["type"]]);
}
