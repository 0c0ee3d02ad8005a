// What every subcommand that talks to the management server shares: the connection and output
// options, one error path (server refusals and unreachable servers exit 1, bad input exits 2), table
// or --json output, and lists that fetch every page unless --limit asks for one.
import { type Command, InvalidArgumentError } from "commander";
import { ApiClient, CliError, type ConnectionFlags, type Query, resolveConnection } from "./api-client.ts";
import type { Output } from "./sim-commands.ts";
import { type Column, renderObject, renderTable } from "./table.ts";

export interface CommonOptions extends ConnectionFlags {
  json?: boolean;
}

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

/** One API subcommand's run: its client (resolved on first use), output mode and streams. */
export class ApiRun {
  private resolved: ApiClient | null = null;
  readonly json: boolean;

  constructor(
    readonly io: Output,
    private readonly flags: CommonOptions,
  ) {
    this.json = flags.json === true;
  }

  get client(): ApiClient {
    this.resolved ??= new ApiClient(resolveConnection(this.flags));
    return this.resolved;
  }

  call(method: string, path: string, body?: unknown, query?: Query): Promise<unknown> {
    return this.client.call(method, path, body, query);
  }

  /** With --json the raw answer; otherwise the lines `human` makes of it. */
  print<T>(value: T, human: (value: T) => string[]): void {
    if (this.json) this.io.out(JSON.stringify(value, null, 2));
    else for (const line of human(value)) this.io.out(line);
  }

  printObject(value: unknown): void {
    this.print(value, renderObject);
  }

  printTable<T>(answer: { items: T[] }, columns: Column<T>[], noun: string): void {
    this.print(answer, (a) => (a.items.length === 0 ? [`no ${noun}`] : renderTable(columns, a.items)));
  }

  /** A line for people after a change with no answer body (204); nothing with --json. */
  done(message: string): void {
    if (!this.json) this.io.out(message);
  }

  /** Progress of a long action: on stderr, so --json output stays clean. */
  progress(message: string): void {
    this.io.err(message);
  }

  /**
   * One page when --limit or --offset is given; otherwise every page, fetched 1000 at a time, shown
   * as one page holding them all.
   */
  async list<T>(path: string, query: Query, page: { limit?: number; offset?: number }): Promise<Page<T>> {
    if (page.limit !== undefined || page.offset !== undefined)
      return (await this.call("GET", path, undefined, { ...query, ...page })) as Page<T>;
    const items: T[] = [];
    for (;;) {
      const got = (await this.call("GET", path, undefined, {
        ...query,
        limit: 1000,
        offset: items.length,
      })) as Page<T>;
      items.push(...got.items);
      if (got.items.length === 0 || items.length >= got.total)
        return { items, total: got.total, limit: items.length, offset: 0 };
    }
  }
}

const apiCommands = new Set<Command>();

/** A subcommand that talks to the server; `addConnectionOptions` gives it the common options. */
export function apiCommand(parent: Command, nameAndArgs: string, description: string): Command {
  const command = parent.command(nameAndArgs).description(description);
  apiCommands.add(command);
  return command;
}

/** Added last, so each command's help lists its own options first. */
export function addConnectionOptions(): void {
  for (const command of apiCommands)
    command
      .option("--url <url>", "server URL (else VIGIL_URL, the login config, http://127.0.0.1:8470)")
      .option("--token <token>", "API token (else --token-file, VIGIL_TOKEN, the login config)")
      .option("--token-file <file>", "read the API token from this file")
      .option("--json", "print the API's JSON instead of a table");
  apiCommands.clear();
}

/**
 * Wraps a subcommand's handler: commander passes (...arguments, options, command); the handler gets
 * the run, the options and the arguments. CliErrors become one line on stderr and the exit code.
 */
export function apiAction<O extends object>(
  io: Output,
  handler: (run: ApiRun, opts: O & CommonOptions, args: (string | string[] | undefined)[]) => Promise<void>,
): (...raw: unknown[]) => Promise<void> {
  return async (...raw: unknown[]) => {
    quietOnClosedPipe();
    const command = raw[raw.length - 1] as Command;
    const opts = command.opts() as O & CommonOptions;
    const args = raw.slice(0, -2) as (string | string[] | undefined)[];
    try {
      await handler(new ApiRun(io, opts), opts, args);
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      io.err(`vigil: ${error.message}`);
      process.exitCode = error.exitCode;
    }
  };
}

/** `vigil event watch | head -3` closes stdout early: that ends the command, quietly. */
let pipeWatched = false;
function quietOnClosedPipe(): void {
  if (pipeWatched) return;
  pipeWatched = true;
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
    throw error;
  });
}

export function usageError(message: string): CliError {
  return new CliError(message, 2);
}

/** `--enable` or `--disable`, exactly one. */
export function enableOrDisable(opts: { enable?: boolean; disable?: boolean }): boolean {
  if (opts.enable === true && opts.disable !== true) return true;
  if (opts.disable === true && opts.enable !== true) return false;
  throw usageError("give exactly one of --enable and --disable");
}

/**
 * Numbers go to the server as numbers; anything else goes as the text it is, so the server, which
 * holds every rule, refuses it and names the field (`body.cpus must be integer`).
 */
export function numberOrText(value: string): number | string {
  return /^-?\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value;
}

export function commaList(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** For --limit and --offset, which only shape the request: checked here. */
export function wholeNumber(name: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be a whole number >= ${min}, got "${value}"`);
    return n;
  };
}

export function pageOptions(command: Command): Command {
  return command
    .option("--limit <n>", "one page of at most n items (default: every page)", wholeNumber("--limit", 1))
    .option("--offset <n>", "skip the first n items", wholeNumber("--offset", 0));
}

/** Drops undefined fields, so a body carries only what the user gave. */
export function defined<T extends Record<string, unknown>>(body: T): Partial<T> {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function arg(args: (string | string[] | undefined)[], index: number): string {
  const value = args[index];
  if (typeof value !== "string") throw usageError("missing argument");
  return value;
}
