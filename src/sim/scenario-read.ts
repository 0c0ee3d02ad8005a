// Small validating readers for the plain values YAML gives us. Each takes the value and its path in
// the file and returns a typed value or throws Invalid naming the path, what was wanted and what was
// found, so every check in the scenario parser reports errors the same way.

import { formatDuration, parseDuration } from "./duration.ts";

export type Path = readonly (string | number)[];
export type Read<T> = (value: unknown, path: Path) => T;

/** A problem at `path`; parseScenario turns it into a ScenarioError with the line. */
export class Invalid extends Error {
  constructor(
    readonly path: Path,
    readonly detail: string,
  ) {
    super(`${formatPath(path)}: ${detail}`);
  }
}

/** ["vms", 2, "memoryMiB"] -> "vms[2].memoryMiB". */
export function formatPath(path: Path): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(seg)) out += out === "" ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** The value as a message shows it after "got". */
export function show(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  return String(v);
}

/** Edits (insert, delete, substitute, swap two neighbours) that turn a into b. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number) => d[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] ?? [];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, at(i - 2, j - 2) + 1);
      row[j] = best;
    }
  }
  return at(a.length, b.length);
}

/** The candidate nearest to `word` (ignoring case), when near enough to be a likely typo. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.floor(word.length / 3) + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** "; did you mean "x"?" or "; expected one of a, b, c" for a word not among `valid`. */
export function hint(word: string, valid: readonly string[]): string {
  const near = closest(word, valid);
  return near !== undefined ? `; did you mean "${near}"?` : `; expected one of ${valid.join(", ")}`;
}

export function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A mapping whose keys are all among `keys`. */
export function mapping(v: unknown, path: Path, keys: readonly string[]): Record<string, unknown> {
  if (!isMapping(v)) throw new Invalid(path, `must be a mapping, got ${show(v)}`);
  for (const key of Object.keys(v)) {
    if (!keys.includes(key)) throw new Invalid([...path, key], `unknown key "${key}"${hint(key, keys)}`);
  }
  return v;
}

/** A key that must be present (null counts as absent). */
export function req<T>(o: Record<string, unknown>, key: string, path: Path, read: Read<T>): T {
  const v = o[key];
  if (v === undefined || v === null) throw new Invalid([...path, key], "required key is missing");
  return read(v, [...path, key]);
}

/** A key that may be absent (or null); `def` then. */
export function opt<T, D = T>(
  o: Record<string, unknown>,
  key: string,
  path: Path,
  read: Read<T>,
  def: D,
): T | D {
  const v = o[key];
  return v === undefined || v === null ? def : read(v, [...path, key]);
}

export const text: Read<string> = (v, path) => {
  if (typeof v !== "string" || v.trim() === "")
    throw new Invalid(path, `must be a non-empty string, got ${show(v)}`);
  return v.trim();
};

export const bool: Read<boolean> = (v, path) => {
  if (typeof v !== "boolean") throw new Invalid(path, `must be true or false, got ${show(v)}`);
  return v;
};

export function integer(min: number, what: string): Read<number> {
  return (v, path) => {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
      throw new Invalid(path, `must be ${what}, got ${show(v)}`);
    }
    return v;
  };
}
export const positiveInt = integer(1, "a positive integer");
export const nonNegativeInt = integer(0, "an integer >= 0");
export const anyInt = integer(Number.MIN_SAFE_INTEGER, "an integer");

/** A number in [min, max] (or (min, max) when exclusive). */
export function numberIn(min: number, max: number, exclusive = false): Read<number> {
  return (v, path) => {
    const ok =
      typeof v === "number" && Number.isFinite(v) && (exclusive ? v > min && v < max : v >= min && v <= max);
    if (!ok) {
      const range = exclusive ? `between ${min} and ${max} (exclusive)` : `from ${min} to ${max}`;
      throw new Invalid(path, `must be a number ${range}, got ${show(v)}`);
    }
    return v;
  };
}

/** One of the keys of an `as const` description map. */
export function choice<M extends Record<string, unknown>>(map: M): Read<keyof M & string> {
  const valid = Object.keys(map);
  return (v, path) => {
    if (typeof v === "string" && valid.includes(v)) return v;
    const near = typeof v === "string" ? closest(v, valid) : undefined;
    if (near !== undefined) {
      const options = valid.length <= 12 ? valid.join(", ") : `${valid.length} values`;
      throw new Invalid(path, `must be one of ${options}, got ${show(v)}; did you mean "${near}"?`);
    }
    throw new Invalid(path, `must be one of ${valid.join(", ")}, got ${show(v)}`);
  };
}

/** A duration: "500ms", "30s", "2m", "1h", "1m30s" or a number of ms. `positive` rejects 0. */
export function duration(positive = false): Read<number> {
  return (v, path) => {
    const ms = parseDuration(v);
    if (ms === undefined) {
      throw new Invalid(path, `must be a duration like 500ms, 30s, 2m, 1h or a number of ms, got ${show(v)}`);
    }
    if (positive && ms <= 0) throw new Invalid(path, `must be longer than 0, got ${formatDuration(ms)}`);
    return ms;
  };
}

export function list<T>(read: Read<T>, minLength = 0): Read<T[]> {
  return (v, path) => {
    if (!Array.isArray(v)) throw new Invalid(path, `must be a list, got ${show(v)}`);
    if (v.length < minLength) {
      throw new Invalid(
        path,
        `must list at least ${minLength} item${minLength === 1 ? "" : "s"}, got ${v.length}`,
      );
    }
    return v.map((item, i) => read(item, [...path, i]));
  };
}

/** A list without repeats; `what` names the items in the message ("host"). */
export function uniqueList<T extends string>(read: Read<T>, what: string, minLength = 0): Read<T[]> {
  return (v, path) => {
    const items = list(read, minLength)(v, path);
    const seen = new Set<string>();
    items.forEach((item, i) => {
      if (seen.has(item)) throw new Invalid([...path, i], `${what} "${item}" is listed twice`);
      seen.add(item);
    });
    return items;
  };
}

/** A list, or a single item standing for a list of one. */
export function oneOrMore<T extends string>(read: Read<T>, what: string): Read<T[]> {
  return (v, path) => (Array.isArray(v) ? uniqueList(read, what, 1)(v, path) : [read(v, path)]);
}
