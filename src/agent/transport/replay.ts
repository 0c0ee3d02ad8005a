// Replay protection for authenticated messages. An attacker on the network can record a valid
// datagram and send it again later; the HMAC still verifies, so each receiver remembers, per sender,
// what it has already accepted (the sliding window of IPsec, RFC 4303 section 3.4.3).
//
// Per configured sender: the highest (incarnation, sequence) accepted and a bitmap of the last
// `replayWindowSize` sequence numbers below it. A packet that is new but reordered within the window
// passes; a duplicate, one older than the window, or one from an older incarnation is a replay; a
// higher incarnation (the sender restarted) resets the window. Memory is bounded: one fixed-size entry
// per configured host (two numbers and one 64-bit bitmap), never one per claimed sender name.

/** How many sequence numbers below the highest accepted one may still arrive (reordering). */
export const replayWindowSize = 64;
const windowMask = (1n << BigInt(replayWindowSize)) - 1n;

export const replayVerdicts = {
  fresh: "not seen before: accept",
  duplicate: "this sequence number was already accepted",
  tooOld: `more than ${replayWindowSize} sequence numbers behind the highest accepted one`,
  oldIncarnation: "from an incarnation older than the sender's current one",
  unknownSender: "not a configured host: not tracked",
} as const;
export type ReplayVerdict = keyof typeof replayVerdicts;

interface SenderWindow {
  incarnation: number;
  /** Highest sequence accepted in this incarnation. */
  highest: number;
  /** Bit i set: sequence `highest - i` was accepted. Bit 0 is `highest` itself. */
  seen: bigint;
}

export class ReplayGuard {
  /** Configured hosts; null = known but nothing accepted yet. */
  readonly #senders = new Map<string, SenderWindow | null>();

  constructor(hosts: Iterable<string>) {
    this.setHosts(hosts);
  }

  /** Tracks exactly these hosts: keeps the windows of those that stay, forgets removed ones. */
  setHosts(hosts: Iterable<string>): void {
    const keep = new Set(hosts);
    for (const host of this.#senders.keys()) if (!keep.has(host)) this.#senders.delete(host);
    for (const host of keep) if (!this.#senders.has(host)) this.#senders.set(host, null);
  }

  isKnown(host: string): boolean {
    return this.#senders.has(host);
  }

  /** Classifies a packet without remembering it: call `accept` once the whole message is valid. */
  check(host: string, incarnation: number, sequence: number): ReplayVerdict {
    if (!this.#senders.has(host)) return "unknownSender";
    const w = this.#senders.get(host);
    if (w === null || w === undefined || incarnation > w.incarnation) return "fresh";
    if (incarnation < w.incarnation) return "oldIncarnation";
    if (sequence > w.highest) return "fresh";
    const behind = w.highest - sequence;
    if (behind >= replayWindowSize) return "tooOld";
    return (w.seen >> BigInt(behind)) & 1n ? "duplicate" : "fresh";
  }

  /** Remembers an accepted packet. Returns false (and changes nothing) unless `check` says fresh. */
  accept(host: string, incarnation: number, sequence: number): boolean {
    if (this.check(host, incarnation, sequence) !== "fresh") return false;
    const w = this.#senders.get(host);
    if (w === null || w === undefined || incarnation > w.incarnation) {
      this.#senders.set(host, { incarnation, highest: sequence, seen: 1n });
    } else if (sequence > w.highest) {
      const shift = sequence - w.highest;
      w.seen = shift >= replayWindowSize ? 1n : ((w.seen << BigInt(shift)) | 1n) & windowMask;
      w.highest = sequence;
    } else {
      w.seen |= 1n << BigInt(w.highest - sequence);
    }
    return true;
  }
}
