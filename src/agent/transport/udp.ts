// The agents' network transport over UDP (node:dgram) on one configurable port: heartbeats, election
// and master orders between hosts. Every datagram is authenticated and replay-checked by the codec;
// whatever arrives that is malformed, forged, replayed, oversized or invalid is dropped and counted.
// Nothing that comes from the network or the socket throws out of this class.
import { createSocket, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import type { Message } from "../../core/records.ts";
import {
  type ClusterKey,
  type DecodeResult,
  type DropReason,
  decodeMessage,
  dropReasons,
  encodeMessage,
  type Sender,
} from "./codec.ts";
import { ReplayGuard } from "./replay.ts";

/** Shorter secrets are refused when the transport is built. */
export const clusterSecretMinBytes = 16;
/** After the first drop of a reason is logged, later ones are logged at most this often (counted always). */
export const dropLogIntervalMs = 10_000;

export interface PeerAddress {
  address: string;
  port: number;
}

export type Log = (event: string, fields: object) => void;

export interface UdpTransportOptions extends ClusterKey {
  /** This host's name, as the other hosts know it. */
  host: string;
  /** Grows on every agent start, e.g. the start time in ms (see the README for a clock going back). */
  incarnation: number;
  /** Every other host of the cluster; only these may send to us. */
  addressBook: ReadonlyMap<string, PeerAddress>;
  log: Log;
  /** Clock for log rate limiting; Date.now by default. */
  nowMs?: () => number;
}

/** Where a message came from: the authenticated sender and the socket address it arrived from. */
export interface Received {
  sender: Sender;
  remote: PeerAddress;
}

export type MessageHandler = (msg: Message, from: Received) => void;

export interface TransportStats {
  /** Datagrams the socket confirmed sent. */
  sent: number;
  /** Datagrams received, good or bad. */
  received: number;
  /** Messages handed to the handlers. */
  delivered: number;
  dropped: Record<DropReason, number>;
  /** Sends refused (unknown host, not started, encoding failed) or failed in the socket. */
  sendErrors: number;
  socketErrors: number;
  /** Exceptions thrown by message handlers (caught). */
  handlerErrors: number;
}

function zeroDrops(): Record<DropReason, number> {
  const out = {} as Record<DropReason, number>;
  for (const reason of Object.keys(dropReasons) as DropReason[]) out[reason] = 0;
  return out;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class UdpTransport {
  readonly #opts: UdpTransportOptions;
  readonly #nowMs: () => number;
  readonly #replay: ReplayGuard;
  readonly #handlers: MessageHandler[] = [];
  #addressBook: ReadonlyMap<string, PeerAddress>;
  #socket: Socket | null = null;
  #sequence = 0;
  readonly #stats: TransportStats = {
    sent: 0,
    received: 0,
    delivered: 0,
    dropped: zeroDrops(),
    sendErrors: 0,
    socketErrors: 0,
    handlerErrors: 0,
  };
  /** Per drop reason: when it was last logged and how many were not logged since. */
  readonly #dropLog = new Map<DropReason, { atMs: number; suppressed: number }>();

  /** Throws on a bad configuration (short secret, bad incarnation); never afterwards. */
  constructor(opts: UdpTransportOptions) {
    const secretBytes = typeof opts.secret === "string" ? Buffer.byteLength(opts.secret) : opts.secret.length;
    if (secretBytes < clusterSecretMinBytes)
      throw new RangeError(`the cluster secret must be at least ${clusterSecretMinBytes} bytes`);
    if (!Number.isSafeInteger(opts.incarnation) || opts.incarnation < 0)
      throw new RangeError(`incarnation must be a whole number >= 0, got ${opts.incarnation}`);
    this.#opts = opts;
    this.#nowMs = opts.nowMs ?? Date.now;
    this.#addressBook = opts.addressBook;
    this.#replay = new ReplayGuard(this.#peers());
  }

  /** Replaces the address book (configuration change): new hosts may send, removed ones no longer. */
  setAddressBook(addressBook: ReadonlyMap<string, PeerAddress>): void {
    this.#addressBook = addressBook;
    this.#replay.setHosts(this.#peers());
  }

  /** Binds the port; resolves with the bound address (port 0 picks a free one), rejects on bind failure. */
  start(where: { bindAddress: string; port: number }): Promise<PeerAddress> {
    if (this.#socket !== null) return Promise.reject(new Error("transport already started"));
    if (!Number.isInteger(where.port) || where.port < 0 || where.port > 65535)
      return Promise.reject(new RangeError(`port must be 0 to 65535, got ${where.port}`));
    const socket = createSocket({ type: isIPv6(where.bindAddress) ? "udp6" : "udp4" });
    this.#socket = socket;
    return new Promise((resolve, reject) => {
      const onBindError = (err: Error) => {
        this.#stats.socketErrors++;
        this.#log("transport.bindFailed", { ...where, error: err.message });
        this.#socket = null;
        socket.close();
        reject(err);
      };
      socket.once("error", onBindError);
      socket.on("message", (buf, rinfo) => this.#receive(buf, { address: rinfo.address, port: rinfo.port }));
      const onBound = () => {
        socket.off("error", onBindError);
        socket.on("error", (err) => {
          this.#stats.socketErrors++;
          this.#log("transport.socketError", { error: err.message });
        });
        const bound = socket.address();
        this.#log("transport.started", { address: bound.address, port: bound.port });
        resolve({ address: bound.address, port: bound.port });
      };
      try {
        socket.bind(where.port, where.bindAddress, onBound);
      } catch (err) {
        onBindError(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** Registers a handler for every accepted message; returns a function that removes it. */
  onMessage(handler: MessageHandler): () => void {
    this.#handlers.push(handler);
    return () => {
      const at = this.#handlers.indexOf(handler);
      if (at >= 0) this.#handlers.splice(at, 1);
    };
  }

  /** Sends to a host of the address book. False when it could not be handed to the socket. */
  send(toHost: string, msg: Message): boolean {
    const socket = this.#socket;
    if (socket === null) return this.#sendFailed(toHost, msg, "transport not started");
    const peer = toHost === this.#opts.host ? undefined : this.#addressBook.get(toHost);
    if (peer === undefined) return this.#sendFailed(toHost, msg, "not in the address book");
    try {
      this.#sequence++;
      const buf = encodeMessage(msg, {
        clusterId: this.#opts.clusterId,
        secret: this.#opts.secret,
        host: this.#opts.host,
        incarnation: this.#opts.incarnation,
        sequence: this.#sequence,
      });
      socket.send(buf, peer.port, peer.address, (err) => {
        if (err) this.#sendFailed(toHost, msg, err.message);
        else this.#stats.sent++;
      });
      return true;
    } catch (err) {
      return this.#sendFailed(toHost, msg, errorText(err));
    }
  }

  /** A copy of the counters. */
  stats(): TransportStats {
    return { ...this.#stats, dropped: { ...this.#stats.dropped } };
  }

  /** Closes the socket; later sends fail (counted), later datagrams are not received. */
  close(): Promise<void> {
    const socket = this.#socket;
    this.#socket = null;
    if (socket === null) return Promise.resolve();
    return new Promise((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }

  /** Hosts that may send to us: the address book without ourselves. */
  #peers(): string[] {
    return [...this.#addressBook.keys()].filter((h) => h !== this.#opts.host);
  }

  /** A throwing log function must not take the transport down with it. */
  #log(event: string, fields: object): void {
    try {
      this.#opts.log(event, fields);
    } catch {
      // Nowhere left to report it.
    }
  }

  #sendFailed(toHost: string, msg: Message, error: string): false {
    this.#stats.sendErrors++;
    this.#log("transport.sendFailed", { to: toHost, type: msg.type, error });
    return false;
  }

  #receive(buf: Buffer, remote: PeerAddress): void {
    this.#stats.received++;
    const result: DecodeResult = decodeMessage(buf, {
      clusterId: this.#opts.clusterId,
      secret: this.#opts.secret,
      replay: this.#replay,
    });
    if (!result.ok) {
      this.#stats.dropped[result.reason]++;
      this.#logDrop(result.reason, result.detail, remote, buf.length);
      return;
    }
    this.#stats.delivered++;
    for (const handler of [...this.#handlers]) {
      try {
        handler(result.msg, { sender: result.sender, remote });
      } catch (err) {
        this.#stats.handlerErrors++;
        this.#log("transport.handlerFailed", { type: result.msg.type, error: errorText(err) });
      }
    }
  }

  /** Logs drops without letting a flood of garbage flood the log. */
  #logDrop(reason: DropReason, detail: string, remote: PeerAddress, bytes: number): void {
    const now = this.#nowMs();
    const last = this.#dropLog.get(reason);
    if (last !== undefined && now - last.atMs < dropLogIntervalMs) {
      last.suppressed++;
      return;
    }
    const fields = { reason, detail, from: `${remote.address}:${remote.port}`, bytes };
    this.#log("transport.dropped", { ...fields, suppressedSinceLastLog: last?.suppressed ?? 0 });
    this.#dropLog.set(reason, { atMs: now, suppressed: 0 });
  }
}
