// `vigil event list|alarms|watch`: the event log, the alarms among it, and the live stream (SSE),
// which picks up where it left off when the connection drops.
import type { Command } from "commander";
import { CliError, type Query, Unreachable } from "./api-client.ts";
import { type ApiRun, apiAction, apiCommand, wholeNumber } from "./api-kit.ts";
import { sseMessages } from "./event-stream.ts";
import type { Output } from "./sim-commands.ts";
import type { Column } from "./table.ts";

interface EventView {
  id: number;
  at: string;
  host: string | null;
  vm: string | null;
  type: string;
  level: string;
  message: string;
  source: string;
}

interface Filters {
  cluster?: string;
  host?: string;
  vm?: string;
  type?: string;
  level?: string;
  after?: number;
}

const eventColumns: Column<EventView>[] = [
  { header: "ID", value: (e) => e.id, align: "right" },
  { header: "AT", value: (e) => e.at },
  { header: "LEVEL", value: (e) => e.level },
  { header: "TYPE", value: (e) => e.type },
  { header: "HOST", value: (e) => e.host },
  { header: "VM", value: (e) => e.vm },
  { header: "MESSAGE", value: (e) => e.message },
];

const reconnectDelayMs = 2000;
/** Three missed keep-alives. */
const silentLimitMs = 45_000;

function filterOptions(command: Command): Command {
  return command
    .option("--cluster <cluster>", "only events of this cluster")
    .option("--host <host>", "only events about this host")
    .option("--vm <vm>", "only events about this VM")
    .option("--type <type>", "only events of this type (vmRestarted, hostDeclaredDead, ...)")
    .option("--level <level>", "only info, warning or alarm")
    .option("--after <id>", "only events with a larger id", wholeNumber("--after", 0));
}

function filterQuery(o: Filters): Query {
  return { cluster: o.cluster, host: o.host, vm: o.vm, type: o.type, level: o.level, after: o.after };
}

function eventLine(e: EventView): string {
  const about = [e.host === null ? "" : `host=${e.host}`, e.vm === null ? "" : `vm=${e.vm}`].filter((s) => s);
  return `${e.at}  ${e.level.padEnd(7)}  ${e.type}  ${e.message}${about.length === 0 ? "" : `  (${about.join(" ")})`}`;
}

/** The id of the newest event now: a cursor, so a reconnect replays what came while it was away. */
async function newestEventId(run: ApiRun): Promise<number> {
  const answer = (await run.call("GET", "/events", undefined, { limit: 1 })) as { items: EventView[] };
  return answer.items[0]?.id ?? 0;
}

/**
 * Follows the stream until `count` events came (or forever). Reconnects from the last id it saw
 * when the stream ends or goes silent (the server sends a keep-alive every 15 s; a server that went
 * away without closing the connection sends nothing).
 */
async function watch(run: ApiRun, o: Filters & { count?: number }): Promise<void> {
  let lastId = o.after ?? (await newestEventId(run));
  let seen = 0;
  for (;;) {
    const controller = new AbortController();
    let idle: NodeJS.Timeout | undefined;
    const stillAlive = () => {
      clearTimeout(idle);
      idle = setTimeout(
        () => controller.abort(new Error(`nothing heard for ${silentLimitMs / 1000}s`)),
        silentLimitMs,
      );
    };
    try {
      const query = { ...filterQuery(o), after: lastId };
      stillAlive();
      const res = await run.client.open(
        "/events/stream",
        query,
        { accept: "text/event-stream" },
        controller.signal,
      );
      run.progress(`watching events at ${run.client.connection.url} (Ctrl-C to stop)`);
      for await (const message of sseMessages(res.body!, stillAlive)) {
        const event = JSON.parse(message.data) as EventView;
        lastId = event.id;
        if (run.json) run.io.out(JSON.stringify(event));
        else run.io.out(eventLine(event));
        seen += 1;
        if (o.count !== undefined && seen >= o.count) break;
      }
      if (o.count !== undefined && seen >= o.count) {
        // Leaving the loop cancelled the body; this ends the connection itself.
        controller.abort();
        return;
      }
      run.progress("the server closed the event stream; reconnecting");
    } catch (error) {
      // A refusal (bad token, unknown cluster) will not get better by retrying; a lost server may.
      if (error instanceof CliError && !(error instanceof Unreachable)) throw error;
      const reason = controller.signal.aborted
        ? String(controller.signal.reason?.message)
        : (error as Error).message;
      run.progress(`the event stream broke (${reason}); reconnecting from event ${lastId}`);
    } finally {
      clearTimeout(idle);
    }
    await new Promise((resolve) => setTimeout(resolve, reconnectDelayMs));
  }
}

export function addEventCommands(program: Command, io: Output): void {
  const event = program.command("event").description("the event log, alarms, and the live event stream");
  filterOptions(apiCommand(event, "list", "list events, oldest first (the newest --limit that match)"))
    .option("--limit <n>", "at most n events (default 100, at most 10000)", wholeNumber("--limit", 1))
    .action(
      apiAction<Filters & { limit?: number }>(io, async (run, o) => {
        const answer = await run.call("GET", "/events", undefined, { ...filterQuery(o), limit: o.limit });
        run.printTable(answer as { items: EventView[] }, eventColumns, "events");
      }),
    );
  apiCommand(event, "alarms", "alarms: VMs that wait, corrupt records, unsafe or unmatched settings")
    .option("--cluster <cluster>", "only alarms of this cluster")
    .option("--limit <n>", "at most n alarms", wholeNumber("--limit", 1))
    .action(
      apiAction<{ cluster?: string; limit?: number }>(io, async (run, o) => {
        const answer = await run.call("GET", "/alarms", undefined, { cluster: o.cluster, limit: o.limit });
        run.printTable(answer as { items: EventView[] }, eventColumns, "alarms");
      }),
    );
  filterOptions(
    apiCommand(event, "watch", "follow live events (one line each; --json: one JSON object per line)"),
  )
    .option("--count <n>", "stop after n events", wholeNumber("--count", 1))
    .action(apiAction<Filters & { count?: number }>(io, (run, o) => watch(run, o)));
}
