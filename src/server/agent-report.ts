// What an agent tells the server at every sync: its role, its VMs and, on a master, every host's
// state and where every VM runs. The schema is strict: a malformed report is refused whole (400
// naming the field) and nothing of it is stored.
import { type Static, Type } from "typebox";
import type { ReportedEvent as AgentReportedEvent } from "../agent/server-sync.ts";

export const ReportedEventSchema = Type.Object(
  {
    type: Type.String({ minLength: 1, maxLength: 64 }),
    host: Type.String({ maxLength: 253 }),
    vm: Type.Optional(Type.String({ maxLength: 253 })),
    subject: Type.Optional(Type.String({ maxLength: 253 })),
    target: Type.Optional(Type.String({ maxLength: 253 })),
    proof: Type.Optional(Type.String({ maxLength: 32 })),
    epoch: Type.Optional(Type.Integer({ minimum: 0 })),
    state: Type.Optional(Type.String({ maxLength: 64 })),
    reason: Type.Optional(Type.String({ maxLength: 2000 })),
    /** ISO time the agent saw it. */
    at: Type.String({ minLength: 1, maxLength: 40 }),
  },
  { additionalProperties: false },
);

export const AgentReportSchema = Type.Object(
  {
    configVersion: Type.Integer({ minimum: 0 }),
    role: Type.String({ minLength: 1, maxLength: 32 }),
    master: Type.Union([Type.String({ maxLength: 253 }), Type.Null()]),
    isolated: Type.Boolean(),
    maintenance: Type.Boolean(),
    vms: Type.Array(
      Type.Object(
        {
          vm: Type.String({ minLength: 1 }),
          epoch: Type.Integer({ minimum: 0 }),
          state: Type.String({ minLength: 1 }),
        },
        { additionalProperties: false },
      ),
      { maxItems: 10000 },
    ),
    /** On a master: host -> its state as the master sees it. */
    hosts: Type.Union([Type.Record(Type.String(), Type.String()), Type.Null()]),
    /** On a master: VM -> host it runs on. */
    placement: Type.Union([Type.Record(Type.String(), Type.String()), Type.Null()]),
    events: Type.Array(ReportedEventSchema, { maxItems: 1000 }),
    /** Ids of commands carried out since the last sync. */
    done: Type.Array(Type.Integer({ minimum: 1 }), { maxItems: 1000 }),
  },
  { additionalProperties: false },
);
export type AgentReport = Static<typeof AgentReportSchema>;
export type ReportedEvent = Static<typeof ReportedEventSchema>;

/** A command the server hands an agent at sync: the agent's own type, which it validates on receipt. */
export type { ServerCommand as AgentCommand } from "../agent/server-sync.ts";

// The agent builds its reports from its own types (src/agent/server-sync.ts): the build fails if
// they drift from this schema.
type Holds<T extends true> = T;
export type AgentEventsFitTheSchema = Holds<
  [AgentReportedEvent] extends [ReportedEvent]
    ? [ReportedEvent] extends [AgentReportedEvent]
      ? true
      : false
    : false
>;
