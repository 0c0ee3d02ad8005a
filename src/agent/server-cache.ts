// A server-managed agent keeps the server's last configuration on its own disk, so that it starts
// and fails over while no server answers. The cache is the same cluster.yaml an operator writes for
// a serverless cluster, the secret files it names, and server.json (version, isolation addresses,
// datastore paths). A configuration is written only after the agent's own parser accepted it.
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ScenarioError } from "../sim/scenario.ts";
import { type ClusterFile, parseClusterFile } from "./config.ts";
import { type CachedMeta, cachedClusterFile, clusterFileName, metaFile } from "./server-meta.ts";

/** What the server sends (src/server/render.ts's RenderedConfig). */
export interface ServerConfig {
  version: number;
  clusterYaml: string;
  secrets: Record<string, string>;
  isolationAddresses: string[];
  datastorePaths: Record<string, string>;
}

/** Secret file names come from the server: plain names only, never a path. */
const safeFileName = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Checks a configuration the server sent; returns the reason it cannot be used, or null. */
export function configProblem(config: unknown): string | null {
  if (typeof config !== "object" || config === null) return "config: must be an object";
  const c = config as Record<string, unknown>;
  if (!Number.isInteger(c.version) || (c.version as number) < 0)
    return "config.version: must be a whole number >= 0";
  if (typeof c.clusterYaml !== "string") return "config.clusterYaml: must be a string";
  if (typeof c.secrets !== "object" || c.secrets === null) return "config.secrets: must be an object";
  for (const [name, value] of Object.entries(c.secrets)) {
    if (!safeFileName.test(name) || name === metaFile || name === clusterFileName)
      return `config.secrets: ${JSON.stringify(name)} is not an acceptable file name`;
    if (typeof value !== "string") return `config.secrets.${name}: must be a string`;
  }
  if (!Array.isArray(c.isolationAddresses) || c.isolationAddresses.some((a) => typeof a !== "string"))
    return "config.isolationAddresses: must be a list of strings";
  if (typeof c.datastorePaths !== "object" || c.datastorePaths === null)
    return "config.datastorePaths: must be an object";
  for (const [name, value] of Object.entries(c.datastorePaths))
    if (typeof value !== "string" || !value.startsWith("/"))
      return `config.datastorePaths.${name}: must be an absolute path`;
  return null;
}

async function writeAtomic(path: string, content: string, mode: number): Promise<void> {
  await writeFile(`${path}.tmp`, content, { mode });
  await rename(`${path}.tmp`, path);
}

/**
 * Parses the configuration as the agent will read it and, only if that succeeds, writes it to the
 * cache: secrets first, cluster.yaml next, server.json last (a crash in between leaves an older
 * version number beside newer files, and the server simply sends the configuration again).
 * Throws ScenarioError (naming the field) when the agent would refuse it; nothing is written then.
 */
export async function storeServerConfig(cacheDir: string, config: ServerConfig): Promise<ClusterFile> {
  const problem = configProblem(config);
  if (problem !== null) throw new ScenarioError("server configuration", problem.split(":")[0]!, problem);
  const clusterPath = cachedClusterFile(cacheDir);
  const parsed = parseClusterFile(config.clusterYaml, clusterPath);
  await mkdir(cacheDir, { recursive: true, mode: 0o700 });
  for (const [name, content] of Object.entries(config.secrets))
    await writeAtomic(join(cacheDir, name), content, 0o600);
  await writeAtomic(clusterPath, config.clusterYaml, 0o600);
  const meta: CachedMeta = {
    version: config.version,
    isolationAddresses: config.isolationAddresses,
    datastorePaths: config.datastorePaths,
  };
  await writeAtomic(join(cacheDir, metaFile), JSON.stringify(meta, null, 2), 0o600);
  return parsed;
}
