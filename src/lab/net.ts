// The lab's network: one Linux network namespace per host, veth pairs to one bridge, addresses from
// 198.18.0.0/15 only, and a gateway address on the bridge that answers ping (the default isolation
// address). Faults are made with iproute2 alone: a link taken down isolates a host, blackhole routes
// between groups partition them.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const exec = promisify(execFile);

/** Everything the lab creates carries this prefix, so `down` finds it even after a crash. */
export const labPrefix = "vgl";
export const bridgeName = `${labPrefix}br0`;
export const gatewayAddress = "198.18.0.1";
export const networkPrefixLength = 24;

export function hostAddress(index: number): string {
  if (index < 0 || index > 200) throw new Error(`host index ${index} out of the lab's range 0..200`);
  return `198.18.0.${10 + index}`;
}

export function namespaceOf(host: string): string {
  return `${labPrefix}-${host}`;
}

/** The bridge side of a host's veth pair (interface names are limited to 15 characters). */
export function bridgePortOf(host: string): string {
  return `${labPrefix}p-${host}`.slice(0, 15);
}

async function ip(...args: string[]): Promise<string> {
  const { stdout } = await exec("ip", args);
  return stdout;
}

async function ipQuiet(...args: string[]): Promise<void> {
  try {
    await exec("ip", args);
  } catch {
    // Cleanup of something already gone.
  }
}

export function requireRoot(): void {
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    throw new Error("vigil lab needs root: it creates network namespaces, veth pairs and a bridge");
  }
}

export async function createBridge(): Promise<void> {
  await ipQuiet("link", "del", bridgeName);
  await ip("link", "add", bridgeName, "type", "bridge");
  await ip("addr", "add", `${gatewayAddress}/${networkPrefixLength}`, "dev", bridgeName);
  await ip("link", "set", bridgeName, "up");
}

export async function createHost(host: string, index: number): Promise<void> {
  const ns = namespaceOf(host);
  const port = bridgePortOf(host);
  await ipQuiet("netns", "del", ns);
  await ipQuiet("link", "del", port);
  await ip("netns", "add", ns);
  await ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns);
  await ip("link", "set", port, "master", bridgeName);
  await ip("link", "set", port, "up");
  await ip("-n", ns, "link", "set", "lo", "up");
  await ip("-n", ns, "addr", "add", `${hostAddress(index)}/${networkPrefixLength}`, "dev", "eth0");
  await ip("-n", ns, "link", "set", "eth0", "up");
  await ip("-n", ns, "route", "add", "default", "via", gatewayAddress);
}

/** Isolation: the host's management network is cut (storage is a shared directory, so it stays). */
export async function setLink(host: string, up: boolean): Promise<void> {
  await ip("link", "set", bridgePortOf(host), up ? "up" : "down");
}

/** Blackholes traffic from `host` to each address (one direction; call for both sides). */
export async function blackhole(host: string, addresses: string[]): Promise<void> {
  for (const address of addresses)
    await ipQuiet("-n", namespaceOf(host), "route", "replace", "blackhole", `${address}/32`);
}

export async function clearBlackholes(host: string): Promise<void> {
  const routes = await ip("-n", namespaceOf(host), "route", "show", "type", "blackhole");
  for (const line of routes.split("\n")) {
    const target = line.trim().split(/\s+/)[1];
    if (target !== undefined && target !== "")
      await ipQuiet("-n", namespaceOf(host), "route", "del", "blackhole", target);
  }
}

/** Process ids inside a host's namespace. */
export async function namespacePids(host: string): Promise<number[]> {
  try {
    const out = await ip("netns", "pids", namespaceOf(host));
    return out
      .split("\n")
      .map((l) => Number(l.trim()))
      .filter((n) => Number.isInteger(n) && n > 0);
  } catch {
    return [];
  }
}

/** Every namespace and link the lab ever made, whatever state file survives. */
export async function removeAll(): Promise<void> {
  const list = await ip("netns", "list").catch(() => "");
  for (const line of list.split("\n")) {
    const ns = line.trim().split(/\s+/)[0];
    if (ns === undefined || !ns.startsWith(`${labPrefix}-`)) continue;
    for (const pid of await namespacePids(ns.slice(labPrefix.length + 1))) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    await ipQuiet("netns", "del", ns);
  }
  const links = await ip("-o", "link", "show").catch(() => "");
  for (const line of links.split("\n")) {
    const name = line.split(":")[1]?.trim().split("@")[0];
    if (name?.startsWith(labPrefix)) await ipQuiet("link", "del", name);
  }
}
