// Durations as people write them in scenario files ("500ms", "30s", "2m", "1h", "1m30s", or a bare
// number of milliseconds), and back again for messages. One place so the parser and the CLI agree.

const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
type Unit = keyof typeof unitMs;

const bareNumber = /^\d+(?:\.\d+)?$/;
const compound = /^(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h)\s*)+$/;
const part = /(\d+(?:\.\d+)?)\s*(ms|s|m|h)/g;

/** Milliseconds, or undefined when `value` is not a non-negative duration. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const s = value.trim();
  if (bareNumber.test(s)) return Number(s);
  if (!compound.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(part)) {
    total += Number(m[1]) * unitMs[m[2] as Unit];
  }
  // 1.1s is 1100.0000000000002 in binary floating point; keep microsecond precision.
  return Math.round(total * 1000) / 1000;
}

/** 500 -> "500ms", 1500 -> "1.5s", 120000 -> "2m", 5400000 -> "90m", 7200000 -> "2h". */
export function formatDuration(ms: number): string {
  if (ms > 0 && ms % unitMs.h === 0) return `${ms / unitMs.h}h`;
  if (ms > 0 && ms % unitMs.m === 0) return `${ms / unitMs.m}m`;
  if (ms >= 1000) return `${ms / 1000}s`;
  return `${ms}ms`;
}
