// Enforces a process VM's declared CPUs and memory with cgroup v2 (`<root>/vigil/<vm>`: cpu.max and
// memory.max) when the host allows it; otherwise says why not, and the driver runs without limits.
import { accessSync, constants, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface CgroupSupport {
  enabled: boolean;
  /** Why limits are or are not enforced, for capabilities() and the host's HA state. */
  reason: string;
  /** `<root>/vigil` when enabled. */
  parent: string;
}

const periodUs = 100_000;

/** Checks cgroup v2 at `root` and prepares `<root>/vigil` with the cpu and memory controllers. */
export function detectCgroups(root: string | null): CgroupSupport {
  const off = (reason: string): CgroupSupport => ({ enabled: false, reason, parent: "" });
  if (root === null) return off("cgroups disabled by configuration");
  let controllers: string[];
  try {
    controllers = readFileSync(join(root, "cgroup.controllers"), "utf8").trim().split(/\s+/);
  } catch {
    return off(`no cgroup v2 hierarchy at ${root} (no cgroup.controllers)`);
  }
  const missing = ["cpu", "memory"].filter((c) => !controllers.includes(c));
  if (missing.length > 0) return off(`cgroup v2 at ${root} lacks the ${missing.join(" and ")} controller`);
  try {
    accessSync(root, constants.W_OK);
  } catch {
    return off(`${root} is not writable`);
  }
  const parent = join(root, "vigil");
  try {
    enableControllers(root);
    mkdirSync(parent, { recursive: true });
    enableControllers(parent);
  } catch (error) {
    return off(`cannot prepare ${parent}: ${(error as Error).message}`);
  }
  return { enabled: true, reason: `cpu and memory limits enforced under ${parent}`, parent };
}

/** Lets the children of `dir` use cpu and memory (cgroup.subtree_control). */
function enableControllers(dir: string): void {
  const file = join(dir, "cgroup.subtree_control");
  let current = "";
  try {
    current = readFileSync(file, "utf8");
  } catch {
    // A fresh directory on a real cgroupfs always has the file; elsewhere we write it.
  }
  const wanted = ["cpu", "memory"].filter((c) => !current.split(/\s+/).includes(c));
  if (wanted.length > 0) writeFileSync(file, wanted.map((c) => `+${c}`).join(" "));
}

/** Creates `vigil/<vm>` with its limits and returns its path. Throws when the kernel refuses. */
export function prepareVmCgroup(support: CgroupSupport, vm: string, cpus: number, memoryMiB: number): string {
  const dir = join(support.parent, vm);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "cpu.max"),
    cpus > 0 ? `${Math.max(1000, Math.round(cpus * periodUs))} ${periodUs}` : "max",
  );
  writeFileSync(join(dir, "memory.max"), memoryMiB > 0 ? String(Math.round(memoryMiB * 1024 * 1024)) : "max");
  return dir;
}

/** Removes an empty VM cgroup; a cgroup still holding processes stays (the kernel refuses). */
export function removeVmCgroup(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Busy or not empty: left for the next start of the VM, which reuses it.
  }
}

/** argv that moves itself into `dir` and then execs `command`, so every descendant starts inside it. */
export function inCgroup(dir: string, command: string[]): string[] {
  return [
    "/bin/sh",
    "-c",
    'echo $$ > "$1/cgroup.procs" && shift && exec "$@"',
    "vigil-cgroup",
    dir,
    ...command,
  ];
}
