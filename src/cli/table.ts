// Tables for people: aligned columns with a header, and key/value listings of one object.

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
  /** Numbers read better right-aligned. */
  align?: "left" | "right";
}

/** How a cell shows a value: empty for none, yes/no for booleans, lists joined with commas. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return "-";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (Array.isArray(value)) return value.length === 0 ? "-" : value.map(cellText).join(",");
  if (typeof value === "object") return JSON.stringify(value);
  const text = String(value);
  return text === "" ? "-" : text.replaceAll("\n", " ");
}

export function renderTable<T>(columns: Column<T>[], rows: T[]): string[] {
  const cells = rows.map((row) => columns.map((c) => cellText(c.value(row))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (texts: string[]) =>
    texts
      .map((text, i) => (columns[i]!.align === "right" ? text.padStart(widths[i]!) : text.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)];
}

/** Nested objects as dotted keys (`oobm.enabled`), so one object reads as a two-column listing. */
export function flatten(value: unknown, prefix = ""): [string, unknown][] {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return [[prefix, value]];
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return [[prefix, "-"]];
  return entries.flatMap(([key, v]) => flatten(v, prefix === "" ? key : `${prefix}.${key}`));
}

export function renderObject(value: unknown): string[] {
  const pairs = flatten(value);
  const width = Math.max(0, ...pairs.map(([key]) => key.length));
  return pairs.map(([key, v]) => `${key.padEnd(width)}  ${cellText(v)}`.trimEnd());
}
