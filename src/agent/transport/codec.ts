// The wire format of agent-to-agent messages: an envelope that says which cluster, host and agent
// start (incarnation) sent it and in which order (sequence), authenticated with HMAC-SHA256 under the
// cluster secret. Decoding never throws: anything wrong becomes a DropReason the transport counts.
//
// Layout (big-endian), all of it covered by the trailing HMAC:
//   "VG" | version u8 | clusterId len u8 + UTF-8 | sender len u8 + UTF-8 | incarnation u64 |
//   sequence u64 | payload len u32 | payload (the Message as UTF-8 JSON) | HMAC-SHA256 (32 bytes)
// The header is read before the HMAC is checked, so a foreign cluster or unknown host is told apart
// from a forgery, but nothing in it is trusted and the JSON is parsed only after authentication.
import { createHmac, timingSafeEqual } from "node:crypto";
import type { Message } from "../../core/records.ts";
import type { ReplayGuard, ReplayVerdict } from "./replay.ts";
import { validateMessage } from "./validate-message.ts";

export const envelopeVersion = 1;
/** Whole datagram, envelope included. Below the 65,507-byte UDP payload limit of IPv4. */
export const messageSizeMaxBytes = 60 * 1024;
const magic = Buffer.from("VG", "ascii");
const macBytes = 32;
const nameMaxBytes = 255;
const fixedHeaderBytes = magic.length + 1 + 1 + 1 + 8 + 8 + 4;

export const dropReasons = {
  malformed: "not a Vigil envelope of this version, or its payload is not JSON",
  oversized: `larger than ${messageSizeMaxBytes} bytes`,
  wrongCluster: "sent by an agent of another cluster",
  unknownSender: "the sender is not a configured host of this cluster (or claims to be this host)",
  unauthenticated: "the HMAC does not verify with the cluster secret",
  replayed: "already accepted, older than the replay window, or from an older incarnation",
  invalidMessage: "authenticated, but the message fails validation",
} as const;
export type DropReason = keyof typeof dropReasons;

export interface ClusterKey {
  clusterId: string;
  /** The cluster secret shared by every agent; the HMAC key. */
  secret: Uint8Array | string;
}

export interface EncodeContext extends ClusterKey {
  /** This host. */
  host: string;
  /** Grows on every agent start (e.g. the start time in ms); at most Number.MAX_SAFE_INTEGER. */
  incarnation: number;
  /** Grows with every message of this incarnation. */
  sequence: number;
}

export interface DecodeContext extends ClusterKey {
  /** Knows the accepted senders and what each already sent; updated on success. */
  replay: ReplayGuard;
}

export interface Sender {
  host: string;
  incarnation: number;
  sequence: number;
}

export type DecodeResult =
  | { ok: true; msg: Message; sender: Sender }
  | { ok: false; reason: DropReason; detail: string };

function mac(secret: Uint8Array | string, data: Uint8Array): Buffer {
  return createHmac("sha256", secret).update(data).digest();
}

function nameBytes(value: string, what: string): Buffer {
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length === 0 || bytes.length > nameMaxBytes)
    throw new RangeError(`${what} must be 1 to ${nameMaxBytes} bytes of UTF-8, got ${bytes.length}`);
  return bytes;
}

function u64(value: number, what: string): Buffer {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new RangeError(`${what} must be a whole number from 0 to 2^53-1, got ${value}`);
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(value));
  return out;
}

/**
 * Encodes and signs a message. Throws (a programming or configuration error, never network input)
 * when a name is empty or too long, a counter is not a safe whole number, the secret is empty or
 * the result exceeds messageSizeMaxBytes (e.g. a heartbeat listing thousands of VMs).
 */
export function encodeMessage(msg: Message, ctx: EncodeContext): Buffer {
  return encodeEnvelope(Buffer.from(JSON.stringify(msg), "utf8"), ctx);
}

/** Wraps and signs any payload bytes; encodeMessage's lower half (tests use it to sign bad payloads). */
export function encodeEnvelope(payload: Uint8Array, ctx: EncodeContext): Buffer {
  if (ctx.secret.length === 0) throw new RangeError("the cluster secret is empty");
  const cluster = nameBytes(ctx.clusterId, "clusterId");
  const sender = nameBytes(ctx.host, "host");
  const length = Buffer.alloc(4);
  length.writeUInt32BE(payload.length);
  const signed = Buffer.concat([
    magic,
    Buffer.from([envelopeVersion, cluster.length]),
    cluster,
    Buffer.from([sender.length]),
    sender,
    u64(ctx.incarnation, "incarnation"),
    u64(ctx.sequence, "sequence"),
    length,
    payload,
  ]);
  const out = Buffer.concat([signed, mac(ctx.secret, signed)]);
  if (out.length > messageSizeMaxBytes)
    throw new RangeError(`a message of ${out.length} bytes is over the limit of ${messageSizeMaxBytes}`);
  return out;
}

interface Header {
  clusterId: string;
  sender: Sender;
  payloadStart: number;
  payloadEnd: number;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Reads the unauthenticated header; a string saying what is wrong when it is not well formed. */
function readHeader(buf: Buffer): Header | string {
  if (buf.length < fixedHeaderBytes + 2 + macBytes) return `only ${buf.length} bytes`;
  if (buf[0] !== magic[0] || buf[1] !== magic[1]) return "no Vigil magic bytes";
  if (buf[2] !== envelopeVersion) return `envelope version ${buf[2]}, expected ${envelopeVersion}`;
  let at = 3;
  const names: string[] = [];
  for (const what of ["clusterId", "sender"]) {
    const len = buf[at] ?? 0;
    if (len === 0 || at + 1 + len > buf.length) return `bad ${what} length`;
    try {
      names.push(strictUtf8.decode(buf.subarray(at + 1, at + 1 + len)));
    } catch {
      return `${what} is not UTF-8`;
    }
    at += 1 + len;
  }
  if (at + 20 + macBytes > buf.length) return "truncated header";
  const incarnation = buf.readBigUInt64BE(at);
  const sequence = buf.readBigUInt64BE(at + 8);
  const payloadLength = buf.readUInt32BE(at + 16);
  const payloadStart = at + 20;
  if (incarnation > BigInt(Number.MAX_SAFE_INTEGER) || sequence > BigInt(Number.MAX_SAFE_INTEGER))
    return "counter above 2^53-1";
  if (payloadStart + payloadLength + macBytes !== buf.length)
    return `payload length ${payloadLength} does not match the datagram (${buf.length} bytes)`;
  return {
    clusterId: names[0] ?? "",
    sender: { host: names[1] ?? "", incarnation: Number(incarnation), sequence: Number(sequence) },
    payloadStart,
    payloadEnd: payloadStart + payloadLength,
  };
}

const replayDetails: Readonly<Record<Exclude<ReplayVerdict, "fresh">, string>> = {
  duplicate: "duplicate sequence number",
  tooOld: "sequence number behind the replay window",
  oldIncarnation: "older incarnation",
  unknownSender: "sender not tracked",
};

function drop(reason: DropReason, detail: string): DecodeResult {
  return { ok: false, reason, detail };
}

/**
 * Checks, in order: size, envelope, cluster, sender, HMAC, replay, JSON, Message shape (including
 * that msg.from is the authenticated sender). Records the packet in ctx.replay only when it is
 * accepted. Never throws.
 */
export function decodeMessage(buf: Uint8Array, ctx: DecodeContext): DecodeResult {
  try {
    if (buf.length > messageSizeMaxBytes) return drop("oversized", `${buf.length} bytes`);
    const bytes = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.length);
    const header = readHeader(bytes);
    if (typeof header === "string") return drop("malformed", header);
    const { sender } = header;
    if (header.clusterId !== ctx.clusterId)
      return drop("wrongCluster", `cluster ${JSON.stringify(header.clusterId)}`);
    if (!ctx.replay.isKnown(sender.host))
      return drop("unknownSender", `sender ${JSON.stringify(sender.host)}`);
    if (ctx.secret.length === 0) return drop("unauthenticated", "no cluster secret configured");
    const signedEnd = header.payloadEnd;
    const expected = mac(ctx.secret, bytes.subarray(0, signedEnd));
    if (!timingSafeEqual(expected, bytes.subarray(signedEnd, signedEnd + macBytes)))
      return drop("unauthenticated", `claims to be from ${JSON.stringify(sender.host)}`);
    const verdict = ctx.replay.check(sender.host, sender.incarnation, sender.sequence);
    if (verdict !== "fresh")
      return drop(
        "replayed",
        `${replayDetails[verdict]} from ${sender.host} (${sender.incarnation}/${sender.sequence})`,
      );
    let value: unknown;
    try {
      value = JSON.parse(strictUtf8.decode(bytes.subarray(header.payloadStart, header.payloadEnd)));
    } catch {
      return drop("malformed", `authenticated payload from ${sender.host} is not UTF-8 JSON`);
    }
    const problem = validateMessage(value);
    if (problem !== null) return drop("invalidMessage", problem);
    const msg = value as Message;
    if (msg.from !== sender.host)
      return drop("invalidMessage", `msg.from: ${msg.from} is not the sender ${sender.host}`);
    ctx.replay.accept(sender.host, sender.incarnation, sender.sequence);
    return { ok: true, msg, sender };
  } catch (err) {
    // Not expected; a bug here must still not crash the agent.
    return drop("malformed", `decoder error: ${err instanceof Error ? err.message : String(err)}`);
  }
}
