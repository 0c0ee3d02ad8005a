// The local link between the agent and its lease keeper: a Unix socket in the host's state
// directory, one JSON object per line. The keeper serves; the agent reconnects whenever the keeper
// restarts. Either side dying leaves the other running.
import { connect, createServer, type Server, type Socket } from "node:net";
import { createInterface } from "node:readline";
import type { VmEpoch } from "../core/records.ts";
import type { KeeperReport } from "./keeper-runtime.ts";

export type AgentToKeeper = { type: "agentStatus"; isolated: boolean; vms: VmEpoch[] };
export type KeeperToAgent = { type: "keeperReport" } & KeeperReport;

/** Lines longer than this are dropped: the link is local, but it still never trusts input. */
const lineBytesMax = 1024 * 1024;

function onLines(socket: Socket, handle: (value: unknown) => void): void {
  const lines = createInterface({ input: socket, crlfDelay: Number.POSITIVE_INFINITY });
  lines.on("line", (line) => {
    if (line.length > lineBytesMax) return;
    try {
      handle(JSON.parse(line));
    } catch {
      // A malformed line is dropped.
    }
  });
  // readline re-emits the socket's errors; a refused or broken link only means "try again later".
  lines.on("error", () => socket.destroy());
  socket.on("error", () => socket.destroy());
}

export class KeeperServer {
  private readonly clients = new Set<Socket>();
  private server: Server | null = null;
  private last: KeeperToAgent | null = null;

  constructor(
    private readonly path: string,
    private readonly onStatus: (status: AgentToKeeper) => void,
  ) {}

  async listen(): Promise<void> {
    const { rm } = await import("node:fs/promises");
    await rm(this.path, { force: true });
    this.server = createServer((socket) => {
      this.clients.add(socket);
      socket.on("close", () => this.clients.delete(socket));
      if (this.last !== null) socket.write(`${JSON.stringify(this.last)}\n`);
      onLines(socket, (value) => {
        const v = value as Partial<AgentToKeeper>;
        if (v.type === "agentStatus" && typeof v.isolated === "boolean" && Array.isArray(v.vms)) {
          this.onStatus({ type: "agentStatus", isolated: v.isolated, vms: v.vms.filter(isVmEpoch) });
        }
      });
    });
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.path, () => resolve());
    });
  }

  report(report: KeeperReport): void {
    this.last = { type: "keeperReport", ...report };
    const line = `${JSON.stringify(this.last)}\n`;
    for (const client of this.clients) client.write(line);
  }

  close(): void {
    for (const client of this.clients) client.destroy();
    this.server?.close();
  }
}

function isVmEpoch(v: unknown): v is VmEpoch {
  const o = v as Partial<VmEpoch>;
  return (
    typeof o?.vm === "string" && typeof o.epoch === "number" && Number.isInteger(o.epoch) && o.epoch >= 0
  );
}

export class KeeperClient {
  private socket: Socket | null = null;
  private closed = false;
  private retry: NodeJS.Timeout | null = null;

  constructor(
    private readonly path: string,
    private readonly onReport: (report: KeeperReport) => void,
    private readonly retryMs = 500,
  ) {}

  get connected(): boolean {
    return this.socket !== null;
  }

  start(): void {
    if (this.closed) return;
    const socket = connect(this.path);
    socket.once("connect", () => {
      this.socket = socket;
    });
    onLines(socket, (value) => {
      const v = value as Partial<KeeperToAgent>;
      if (
        v.type === "keeperReport" &&
        Array.isArray(v.fencedDatastores) &&
        typeof v.renewedAtMs === "object"
      ) {
        this.onReport({
          fencedDatastores: v.fencedDatastores.filter((x): x is string => typeof x === "string"),
          renewedAtMs: (v.renewedAtMs ?? {}) as Record<string, number>,
          fenceCounts: (v.fenceCounts ?? {}) as Record<string, number>,
        });
      }
    });
    socket.on("close", () => {
      this.socket = null;
      if (!this.closed) this.retry = setTimeout(() => this.start(), this.retryMs);
    });
  }

  send(status: AgentToKeeper): void {
    this.socket?.write(`${JSON.stringify(status)}\n`);
  }

  close(): void {
    this.closed = true;
    if (this.retry !== null) clearTimeout(this.retry);
    this.socket?.destroy();
  }
}
