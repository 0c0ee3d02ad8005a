// The keeper reports on every renewal round; the report almost never changes shape (the same
// datastores, the same fences), so the agent updates its maps in place instead of rebuilding them.
import type { AgentState } from "./agent-state.ts";
import type { AgentInput } from "./io.ts";

export function onKeeperReport(
  state: AgentState,
  input: Extract<AgentInput, { type: "keeperReport" }>,
): void {
  if (!sameInOrder(state.fencedDatastores, input.fencedDatastores)) {
    state.fencedDatastores = new Set(input.fencedDatastores);
  }
  state.leaseRenewedAtMs = updatedMap(state.leaseRenewedAtMs, input.renewedAtMs);
  state.fenceCounts = updatedMap(state.fenceCounts, input.fenceCounts);
}

function sameInOrder(set: Set<string>, list: string[]): boolean {
  if (set.size !== list.length) return false;
  let i = 0;
  for (const item of set) if (item !== list[i++]) return false;
  return true;
}

/** The map with the record's entries in the record's key order: the same map, updated, when the keys match in order. */
function updatedMap(map: Map<string, number>, record: Record<string, number>): Map<string, number> {
  const keys = Object.keys(record);
  if (keys.length !== map.size) return new Map(Object.entries(record));
  let i = 0;
  for (const key of map.keys()) if (key !== keys[i++]) return new Map(Object.entries(record));
  for (const key of keys) map.set(key, record[key]!);
  return map;
}
