// What every route handler gets: the database, the secret box, the event bus and the logger.
import type { FastifyBaseLogger } from "fastify";
import type { Store } from "../store/open.ts";
import type { EventBus } from "./event-bus.ts";
import type { SecretBox } from "./secrets.ts";

export interface ServerContext {
  store: Store;
  secrets: SecretBox;
  events: EventBus;
  log: FastifyBaseLogger;
  /** The server's own clock, for timestamps (tests may pin it). */
  now: () => Date;
}
