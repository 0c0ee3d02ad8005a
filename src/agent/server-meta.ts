// The cached configuration's meta file (server.json), read by the agent and the keeper at start
// (src/agent/config.ts) and written by the server link (server-cache.ts).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const metaFile = "server.json";
export const clusterFileName = "cluster.yaml";

export interface CachedMeta {
  version: number;
  isolationAddresses: string[];
  datastorePaths: Record<string, string>;
}

export function cachedClusterFile(cacheDir: string): string {
  return join(cacheDir, clusterFileName);
}

/** The cached meta, or null when this host never got a configuration (or the file is unreadable). */
export function readCachedMeta(cacheDir: string): CachedMeta | null {
  const path = join(cacheDir, metaFile);
  if (!existsSync(path) || !existsSync(cachedClusterFile(cacheDir))) return null;
  try {
    const raw = JSON.parse(readFileSync(path, "utf8")) as Partial<CachedMeta>;
    if (typeof raw.version !== "number" || !Array.isArray(raw.isolationAddresses)) return null;
    return {
      version: raw.version,
      isolationAddresses: raw.isolationAddresses.filter((a): a is string => typeof a === "string"),
      datastorePaths:
        typeof raw.datastorePaths === "object" && raw.datastorePaths !== null ? raw.datastorePaths : {},
    };
  } catch {
    return null;
  }
}
