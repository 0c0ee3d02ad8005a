// The `vigil` command. Subcommands live in their own files; this one only wires them to commander.
import { homedir } from "node:os";
import { join } from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { parseDuration } from "../sim/duration.ts";
import { addApiCommands } from "./api-commands.ts";
import { addLabCommands } from "./lab-commands.ts";
import { fuzzCommand, simRun } from "./sim-commands.ts";

const defaultServerDataDir =
  process.env.VIGIL_DATA_DIR ?? (process.getuid?.() === 0 ? "/var/lib/vigil" : join(homedir(), ".vigil"));

const io = { out: (line: string) => console.log(line), err: (line: string) => console.error(line) };

function positiveInt(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new InvalidArgumentError(`${name} must be a whole number >= 1, got "${value}"`);
    return n;
  };
}

function duration(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined)
    throw new InvalidArgumentError(`--duration must look like 90s, 2m or 500ms, got "${value}"`);
  return ms;
}

export function buildProgram(): Command {
  const program = new Command("vigil").description("High availability for KVM/QEMU clusters").exitOverride();
  const sim = program.command("sim").description("the deterministic simulator: scenarios and fuzzing");
  sim
    .command("run")
    .description("run scenario files, print their timelines and check their expectations")
    .argument("<files...>", "scenario files (YAML)")
    .option("--json", "print the result as JSON")
    .option("-q, --quiet", "print only the verdicts, not the timeline")
    .action((files: string[], opts: { json?: boolean; quiet?: boolean }) => {
      process.exitCode = simRun(files, opts, io);
    });
  sim
    .command("fuzz")
    .description("run random fault mixes and report seeds that break an invariant")
    .option("--seeds <n>", "how many seeds", positiveInt("--seeds"), 100)
    .option("--first-seed <n>", "the first seed", positiveInt("--first-seed"), 1)
    .option("--hosts <n>", "hosts per cluster", positiveInt("--hosts"), 8)
    .option("--vms <n>", "VMs per cluster", positiveInt("--vms"), 64)
    .option("--duration <d>", "length of the fault phase (e.g. 120s)", duration, 120_000)
    .option("--json", "print the result as JSON")
    .option(
      "--break <rule>",
      "TEST ONLY: break a safety rule to see the checkers catch it (restartWithoutProof)",
    )
    .action(
      (opts: {
        seeds: number;
        firstSeed: number;
        hosts: number;
        vms: number;
        duration: number;
        json?: boolean;
        break?: string;
      }) => {
        if (opts.break !== undefined && opts.break !== "restartWithoutProof") {
          io.err(`--break: unknown rule "${opts.break}"; known: restartWithoutProof`);
          process.exitCode = 2;
          return;
        }
        process.exitCode = fuzzCommand(
          {
            seeds: opts.seeds,
            firstSeed: opts.firstSeed,
            hosts: opts.hosts,
            vms: opts.vms,
            durationMs: opts.duration,
            json: opts.json === true,
            breakRule: opts.break ?? null,
          },
          io,
        );
      },
    );
  addLabCommands(program, io, positiveInt);
  program
    .command("agent")
    .description("run the HA agent of this host (starts its lease keeper when none runs)")
    .requiredOption("--config <file>", "agent.yaml")
    .action(async (opts: { config: string }) => {
      await runHostProcess("agent", opts.config);
    });
  program
    .command("keeper")
    .description("run the lease keeper of this host (normally started by the agent)")
    .requiredOption("--config <file>", "agent.yaml")
    .action(async (opts: { config: string }) => {
      await runHostProcess("keeper", opts.config);
    });
  program
    .command("start")
    .description(
      "try Vigil: a server with hosts to manage (as root the lab, else simulated hosts on loopback), HA on, a few VMs",
    )
    .option("--hosts <n>", "hosts", positiveInt("--hosts"), 3)
    .action(async (opts: { hosts: number }) => {
      const { startDemo } = await import("../lab/demo.ts");
      const demo = await startDemo(opts, io.out);
      const stop = demo.stop;
      if (stop === null) return;
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      await stop();
      io.out("stopped: server, hosts and VMs");
    });
  program
    .command("server")
    .description("run the management server (REST API, events, out-of-band management)")
    .option("--data-dir <dir>", "SQLite database, secret key and first admin token", defaultServerDataDir)
    .option("--database <url>", "postgres://user:pass@host/db instead of SQLite in the data directory")
    .option("--listen <address>", "address to listen on", "127.0.0.1")
    .option("--port <n>", "port", portNumber, 8470)
    .option("--tls-cert <file>", "PEM certificate: serve HTTPS")
    .option("--tls-key <file>", "PEM private key of --tls-cert")
    .option("--secret-key-file <file>", "key for secrets at rest (default <data-dir>/secret.key)")
    .option("--log", "log every request (pino, JSON)")
    .action(
      async (opts: {
        dataDir: string;
        database?: string;
        listen: string;
        port: number;
        tlsCert?: string;
        tlsKey?: string;
        secretKeyFile?: string;
        log?: boolean;
      }) => {
        const { runServer } = await import("../server/main.ts");
        await runServer(
          {
            dataDir: opts.dataDir,
            database: opts.database ?? process.env.VIGIL_DATABASE ?? null,
            listen: opts.listen,
            port: opts.port,
            tlsCert: opts.tlsCert ?? null,
            tlsKey: opts.tlsKey ?? null,
            secretKeyFile: opts.secretKeyFile ?? null,
            log: opts.log === true,
          },
          io.out,
        );
      },
    );
  addApiCommands(program, io);
  return program;
}

function portNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError(`--port must be a whole number from 0 to 65535, got "${value}"`);
  return n;
}

/** Loads the host process lazily (the simulator does not need its dependencies); bad files exit 2. */
async function runHostProcess(which: "agent" | "keeper", config: string): Promise<void> {
  const { ScenarioError } = await import("../sim/scenario.ts");
  const host = await import("../agent/main.ts");
  try {
    await (which === "agent" ? host.runAgent(config) : host.runKeeper(config));
  } catch (error) {
    if (error instanceof ScenarioError) {
      io.err(`${error.sourceName}${error.line === undefined ? "" : `:${error.line}`}: ${error.message}`);
      process.exitCode = 2;
      return;
    }
    throw error;
  }
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  const code = (error as { exitCode?: number }).exitCode;
  if (typeof code === "number") process.exitCode = code === 0 ? 0 : 2;
  else throw error;
}
