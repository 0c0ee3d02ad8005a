// The agent's side of the server's sync call, once per interval: this host's status and the events
// since the last successful sync go up; a newer configuration and commands (power on, maintenance)
// come down. While the server is away, events are kept (up to a bound) and sent once it answers,
// and HA runs on the cached configuration.
import { readFile } from "node:fs/promises";
import type { EngineEvent } from "../core/events.ts";
import type { AgentInput } from "../core/io.ts";
import { ScenarioError } from "../sim/scenario.ts";
import type { AgentStatus } from "./agent-status.ts";
import type { ClusterFile } from "./config.ts";
import { type ServerConfig, storeServerConfig } from "./server-cache.ts";
import type { ServerLink } from "./server-link.ts";

type Log = (level: "info" | "warn" | "error", msg: string, fields: object) => void;

/** Events kept while the server is away; the oldest are dropped beyond this (and the drop logged). */
const pendingEventsMax = 10_000;
/** At most this many events per sync (the server's limit). */
const eventsPerSyncMax = 1000;
const reasonCharsMax = 2000;
const syncIntervalDefaultMs = 2000;

export interface ReportedEvent {
  type: string;
  host: string;
  vm?: string;
  subject?: string;
  target?: string;
  proof?: string;
  epoch?: number;
  state?: string;
  reason?: string;
  at: string;
}

export type ServerCommand =
  | { id: number; type: "powerOn"; vm: string; host: string | null }
  | { id: number; type: "maintenance"; enable: boolean }
  | { id: number; type: "migrate"; vm: string; target: string };

export interface SyncDeps {
  link: ServerLink;
  cacheDir: string;
  configVersion: number;
  /** What the host says about itself now (statusOf the runtime's engine state). */
  status: () => AgentStatus;
  feed: (input: AgentInput) => void;
  /** A new configuration was cached; the agent switches to it. */
  applyConfig: (cluster: ClusterFile) => void;
  log: Log;
}

export function toReportedEvent(event: EngineEvent, at: Date): ReportedEvent {
  const out: ReportedEvent = { type: event.type, host: event.host, at: at.toISOString() };
  if (event.vm !== undefined) out.vm = event.vm;
  if (event.subject !== undefined) out.subject = event.subject;
  if (event.target !== undefined) out.target = event.target;
  if (event.proof !== undefined) out.proof = event.proof;
  if (event.epoch !== undefined) out.epoch = event.epoch;
  if (event.state !== undefined) out.state = event.state;
  if (event.reason !== undefined) out.reason = event.reason.slice(0, reasonCharsMax);
  return out;
}

/** The default gateway of this host's network namespace, from /proc/net/route (null if none). */
export async function defaultGateway(): Promise<string | null> {
  const table = await readFile("/proc/net/route", "utf8").catch(() => "");
  for (const line of table.split("\n").slice(1)) {
    const [, destination, gateway] = line.trim().split(/\s+/);
    if (destination !== "00000000" || gateway === undefined) continue;
    const n = Number.parseInt(gateway, 16);
    return [n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255].join(".");
  }
  return null;
}

function commandProblem(c: unknown, i: number): string | null {
  const where = `commands[${i}]`;
  if (typeof c !== "object" || c === null) return `${where}: must be an object`;
  const o = c as Record<string, unknown>;
  if (!Number.isInteger(o.id) || (o.id as number) < 1) return `${where}.id: must be a whole number >= 1`;
  switch (o.type) {
    case "powerOn":
      if (typeof o.vm !== "string") return `${where}.vm: must be a string`;
      if (o.host !== null && typeof o.host !== "string") return `${where}.host: must be a string or null`;
      return null;
    case "maintenance":
      return typeof o.enable === "boolean" ? null : `${where}.enable: must be true or false`;
    case "migrate":
      if (typeof o.vm !== "string") return `${where}.vm: must be a string`;
      return typeof o.target === "string" ? null : `${where}.target: must be a string`;
    default:
      return `${where}.type: unknown command ${JSON.stringify(o.type)}`;
  }
}

export class ServerSync {
  private pending: ReportedEvent[] = [];
  private droppedEvents = 0;
  private done: number[] = [];
  private readonly applied = new Set<number>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private reachable: boolean | null = null;
  private rejectedVersion: number | null = null;
  private configVersion: number;

  constructor(private readonly deps: SyncDeps) {
    this.configVersion = deps.configVersion;
  }

  /** Called for every engine event (and for the agent's own alarms). */
  record(event: EngineEvent): void {
    this.pending.push(toReportedEvent(event, new Date()));
    if (this.pending.length > pendingEventsMax) {
      this.droppedEvents += this.pending.length - pendingEventsMax;
      this.pending.splice(0, this.pending.length - pendingEventsMax);
    }
  }

  start(): void {
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.once(), ms);
  }

  /** One sync; never throws. Resolves to the interval the server asked for. */
  async once(): Promise<number> {
    let next = syncIntervalDefaultMs;
    const sent = this.pending.slice(0, eventsPerSyncMax);
    const done = [...this.done];
    try {
      const answer = await this.deps.link.sync(
        await reportOf(this.configVersion, this.deps.status(), sent, done),
      );
      this.pending.splice(0, sent.length);
      this.done = this.done.filter((id) => !done.includes(id));
      if (this.reachable !== true)
        this.deps.log("info", "server reachable", {
          url: this.deps.link.url,
          droppedEvents: this.droppedEvents,
        });
      this.reachable = true;
      this.droppedEvents = 0;
      next = await this.handle(answer);
    } catch (error) {
      if (this.reachable !== false)
        this.deps.log("warn", "server unreachable; HA goes on with the cached configuration", {
          url: this.deps.link.url,
          error: error instanceof Error ? error.message : String(error),
        });
      this.reachable = false;
    }
    this.schedule(next);
    return next;
  }

  private async handle(answer: unknown): Promise<number> {
    const a = (typeof answer === "object" && answer !== null ? answer : {}) as Record<string, unknown>;
    const interval = Number.isInteger(a.syncIntervalMs)
      ? Math.min(60_000, Math.max(250, a.syncIntervalMs as number))
      : syncIntervalDefaultMs;
    if (a.config !== null && a.config !== undefined) await this.takeConfig(a.config as ServerConfig);
    const commands = Array.isArray(a.commands) ? a.commands : [];
    commands.forEach((c: unknown, i) => {
      const problem = commandProblem(c, i);
      if (problem !== null) {
        this.deps.log("warn", "server command ignored", { problem });
        return;
      }
      this.run(c as ServerCommand);
    });
    return interval;
  }

  private async takeConfig(config: ServerConfig): Promise<void> {
    if (config.version === this.configVersion || config.version === this.rejectedVersion) return;
    try {
      const cluster = await storeServerConfig(this.deps.cacheDir, config);
      this.configVersion = config.version;
      this.deps.log("info", "configuration updated", { version: config.version });
      this.deps.applyConfig(cluster);
    } catch (error) {
      if (!(error instanceof ScenarioError)) throw error;
      this.rejectedVersion = config.version;
      const reason = `version ${config.version}: ${error.message}`;
      this.deps.log("error", "configuration refused; the previous one stays", { reason });
      this.record({ type: "configRejected", host: this.deps.status().host, reason });
    }
  }

  private run(command: ServerCommand): void {
    this.done.push(command.id);
    if (this.applied.has(command.id)) return;
    this.applied.add(command.id);
    switch (command.type) {
      case "powerOn":
        this.deps.feed({ type: "powerOnRequested", vm: command.vm, host: command.host });
        return;
      case "maintenance":
        this.deps.feed({ type: "maintenanceRequested", enable: command.enable });
        return;
      case "migrate":
        this.deps.feed({ type: "migrateRequested", vm: command.vm, target: command.target });
        return;
      default: {
        const never: never = command;
        throw new Error(`unhandled command ${JSON.stringify(never)}`);
      }
    }
  }
}

/** The body of a sync call (src/server/agent-report.ts's schema). */
async function reportOf(configVersion: number, status: AgentStatus, events: ReportedEvent[], done: number[]) {
  const { host: _host, ...rest } = status;
  return { configVersion, ...rest, events, done, defaultGateway: await defaultGateway() };
}

/**
 * First start of a server-managed host: enroll, then sync until the server sends a configuration
 * (a host whose cluster has no datastore yet gets none). Retries every few seconds, forever.
 */
export async function fetchFirstConfig(
  link: ServerLink,
  cacheDir: string,
  host: string,
  log: Log,
): Promise<ClusterFile> {
  let warned = "";
  for (;;) {
    try {
      // No engine runs yet: the host reports itself as joining, with no VMs.
      const joining: AgentStatus = {
        host,
        role: "election",
        master: null,
        isolated: false,
        maintenance: false,
        vms: [],
        hosts: null,
        placement: null,
      };
      const answer = (await link.sync(await reportOf(0, joining, [], []))) as {
        config?: ServerConfig | null;
      };
      if (answer.config !== null && answer.config !== undefined)
        return await storeServerConfig(cacheDir, answer.config);
      if (warned !== "no config") log("warn", "the server has no configuration for this host yet", { host });
      warned = "no config";
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (warned !== message) log("warn", "waiting for the server", { url: link.url, error: message });
      warned = message;
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}
