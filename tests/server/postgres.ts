// A throwaway PostgreSQL for tests: Debian's server binaries, a fresh cluster in a temporary
// directory, listening only on loopback at a free port, removed when the test ends. PostgreSQL
// refuses to run as root, so as root it runs as the `postgres` user the package creates.
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

function binDir(): string | null {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length === 0 ? null : join(root, versions[0]!, "bin");
}

/** Why PostgreSQL tests cannot run here, or null when they can. */
export function postgresUnavailable(): string | null {
  if (binDir() === null) return "PostgreSQL server binaries not installed (apt-get install -y postgresql)";
  return null;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface TestPostgres {
  url: string;
  stop(): Promise<void>;
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = binDir();
  if (bin === null) throw new Error(postgresUnavailable()!);
  const dir = mkdtempSync(join(tmpdir(), "vigil-pg-"));
  const data = join(dir, "data");
  const asRoot = process.getuid?.() === 0;
  const run = (tool: string, args: string[]) =>
    asRoot
      ? (["runuser", ["-u", "postgres", "--", join(bin, tool), ...args]] as const)
      : ([join(bin, tool), args] as const);
  if (asRoot) {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
    chownSync(dir, uid, gid);
  }
  chmodSync(dir, 0o700);
  const [initCmd, initArgs] = run("initdb", [
    "-D",
    data,
    "-U",
    "vigil",
    "--auth=trust",
    "-E",
    "UTF8",
    "--no-sync",
  ]);
  execFileSync(initCmd, [...initArgs], { stdio: "pipe" });
  const port = await freePort();
  const [cmd, args] = run("postgres", [
    "-D",
    data,
    "-p",
    String(port),
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    `unix_socket_directories=${dir}`,
    "-c",
    "fsync=off",
  ]);
  const child = spawn(cmd, [...args], { stdio: ["ignore", "ignore", "pipe"], detached: false });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const [ready, readyArgs] = run("pg_isready", ["-h", "127.0.0.1", "-p", String(port)]);
  for (let i = 0; ; i++) {
    try {
      execFileSync(ready, [...readyArgs], { stdio: "ignore" });
      break;
    } catch {
      if (i > 100 || child.exitCode !== null) {
        child.kill("SIGKILL");
        throw new Error(`PostgreSQL did not start: ${stderr}`);
      }
      await sleep(100);
    }
  }
  const [create, createArgs] = run("createdb", [
    "-h",
    "127.0.0.1",
    "-p",
    String(port),
    "-U",
    "vigil",
    "vigil",
  ]);
  execFileSync(create, [...createArgs], { stdio: "pipe" });
  return {
    url: `postgres://vigil@127.0.0.1:${port}/vigil`,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGINT"); // fast shutdown
        await Promise.race([exited, sleep(5000)]);
        if (child.exitCode === null) child.kill("SIGKILL");
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
