// Events and alarms: stored in the database, streamed to SSE clients. Every server polls the table
// for rows past the last id it saw, so a client connected to one server sees events that agents or
// users sent to another (several servers behind a load balancer share one PostgreSQL).
import type { Kysely, Selectable } from "kysely";
import type { Database, EventTable } from "../store/schema.ts";

export const eventLevels = {
  info: "something happened",
  warning: "something failed and was handled",
  alarm: "an operator should look: a VM is down and waits, a record is corrupt, a setting is unsafe",
} as const;
export type EventLevel = keyof typeof eventLevels;

export interface NewEvent {
  clusterId: string | null;
  host: string | null;
  vm: string | null;
  type: string;
  level: EventLevel;
  message: string;
  data: Record<string, unknown>;
  source: string;
  /** ISO time; the server's now when absent. */
  at?: string;
}

export interface EventView {
  id: number;
  at: string;
  clusterId: string | null;
  host: string | null;
  vm: string | null;
  type: string;
  level: string;
  message: string;
  data: Record<string, unknown>;
  source: string;
}

export function toEventView(row: Selectable<EventTable>): EventView {
  return {
    id: Number(row.id),
    at: row.at,
    clusterId: row.cluster_id,
    host: row.host,
    vm: row.vm,
    type: row.type,
    level: row.level,
    message: row.message,
    data: JSON.parse(row.data) as Record<string, unknown>,
    source: row.source,
  };
}

type Listener = (event: EventView) => void;

export class EventBus {
  private readonly listeners = new Set<Listener>();
  private lastId = 0;
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  /** Counters for /metrics. */
  readonly recordedByType = new Map<string, number>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => Date,
    private readonly pollMs = 500,
  ) {}

  async start(): Promise<void> {
    const last = await this.db
      .selectFrom("events")
      .select((eb) => eb.fn.max("id").as("max"))
      .executeTakeFirst();
    this.lastId = Number(last?.max ?? 0);
    this.timer = setInterval(() => void this.poll(), this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  async record(events: NewEvent[]): Promise<void> {
    if (events.length === 0) return;
    const at = this.now().toISOString();
    await this.db
      .insertInto("events")
      .values(
        events.map((e) => ({
          at: e.at ?? at,
          cluster_id: e.clusterId,
          host: e.host,
          vm: e.vm,
          type: e.type,
          level: e.level,
          message: e.message,
          data: JSON.stringify(e.data),
          source: e.source,
        })),
      )
      .execute();
    for (const e of events) this.recordedByType.set(e.type, (this.recordedByType.get(e.type) ?? 0) + 1);
    void this.poll();
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** One poll at a time; a poll asked for while one runs is folded into the next tick. */
  private poll(): Promise<void> {
    if (this.polling !== null) return this.polling;
    this.polling = (async () => {
      try {
        const rows = await this.db
          .selectFrom("events")
          .selectAll()
          .where("id", ">", this.lastId)
          .orderBy("id")
          .limit(1000)
          .execute();
        for (const row of rows) {
          this.lastId = Math.max(this.lastId, Number(row.id));
          const view = toEventView(row);
          for (const l of this.listeners) l(view);
        }
      } catch {
        // The database is away; the next tick tries again.
      } finally {
        this.polling = null;
      }
    })();
    return this.polling;
  }
}
