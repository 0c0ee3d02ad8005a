// The agent transport over real UDP sockets on 127.0.0.1: every Message variant survives a round trip,
// and forged, replayed, foreign, oversized and malformed datagrams are dropped, counted by reason and
// never crash the receiver. Also the replay window's edges and the validator's error paths.
import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { after, before, beforeEach, describe, it } from "node:test";
import {
  type EncodeContext,
  encodeEnvelope,
  encodeMessage,
  messageSizeMaxBytes,
} from "../../src/agent/transport/codec.ts";
import { ReplayGuard, replayWindowSize } from "../../src/agent/transport/replay.ts";
import { type PeerAddress, type Received, UdpTransport } from "../../src/agent/transport/udp.ts";
import { validateMessage } from "../../src/agent/transport/validate-message.ts";
import type { HeartbeatMsg, Message } from "../../src/core/records.ts";

const clusterId = "c1";
const secret = "test-secret-0123456789abcdef";
const localhost = "127.0.0.1";

const heartbeat: HeartbeatMsg = {
  type: "heartbeat",
  from: "h1",
  role: "master",
  master: "h1",
  datastoresSeen: 2,
  electionPriority: -3,
  eligible: true,
  isolated: false,
  maintenance: false,
  standby: false,
  fencing: ["h4"],
  vms: [
    { vm: "vm1", epoch: 3 },
    { vm: "vm2", epoch: 0, starting: true },
    { vm: "vm3", epoch: 7, guestOk: true },
    { vm: "vm4", epoch: 1, starting: false, guestOk: false },
  ],
};
const everyVariant: Message[] = [
  heartbeat,
  { ...heartbeat, role: "election", master: null, fencing: [], vms: [] },
  { type: "startVm", from: "h1", vm: "vm1", epoch: 4, proof: "fenced" },
  { type: "vmStartFailed", from: "h1", vm: "vm1", epoch: 4, reason: "no memory" },
  { type: "migrateVm", from: "h1", vm: "vm1", target: "h2" },
  { type: "confirmDown", from: "h1", vm: "vm1", epoch: 4 },
];

/** A signed envelope as host h3 (configured on the receiver, but no transport of its own). */
function fromH3(msg: unknown, over: Partial<EncodeContext> = {}): Buffer {
  const ctx = { clusterId, secret, host: "h3", incarnation: 1000, sequence: 1, ...over };
  const m = { ...(msg as object), from: ctx.host } as Message;
  return encodeMessage(m, ctx);
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("UdpTransport on 127.0.0.1", () => {
  let a: UdpTransport;
  let b: UdpTransport;
  let bAddr: PeerAddress;
  let raw: Socket;
  let got: { msg: Message; from: Received }[] = [];
  let logs: { event: string; fields: Record<string, unknown> }[] = [];

  before(async () => {
    const log = (event: string, fields: object) => logs.push({ event, fields: fields as never });
    a = new UdpTransport({ clusterId, secret, host: "h1", incarnation: 1, addressBook: new Map(), log });
    b = new UdpTransport({ clusterId, secret, host: "h2", incarnation: 1, addressBook: new Map(), log });
    const aAddr = await a.start({ bindAddress: localhost, port: 0 });
    bAddr = await b.start({ bindAddress: localhost, port: 0 });
    const book = new Map([
      ["h1", aAddr],
      ["h2", bAddr],
      ["h3", { address: localhost, port: 9 }],
    ]);
    a.setAddressBook(book);
    b.setAddressBook(book);
    b.onMessage((msg, from) => got.push({ msg, from }));
    raw = createSocket("udp4");
    await new Promise<void>((r) => raw.bind(0, localhost, r));
  });
  after(async () => {
    await Promise.all([a.close(), b.close(), new Promise<void>((r) => raw.close(() => r()))]);
  });
  beforeEach(() => {
    got = [];
    logs = [];
  });

  /** Sends datagrams from the raw socket and waits until b has received them all. */
  async function inject(...datagrams: Buffer[]): Promise<void> {
    const target = b.stats().received + datagrams.length;
    for (const d of datagrams) raw.send(d, bAddr.port, localhost);
    await waitFor(`${datagrams.length} datagrams`, () => b.stats().received >= target);
  }

  /** Runs `body`, then returns how the counters of b moved. */
  async function delta(body: () => Promise<void>) {
    const s0 = b.stats();
    await body();
    const s1 = b.stats();
    const dropped = Object.fromEntries(
      Object.entries(s1.dropped)
        .map(([k, v]) => [k, v - s0.dropped[k as keyof typeof s0.dropped]])
        .filter(([, v]) => v !== 0),
    );
    return { delivered: s1.delivered - s0.delivered, dropped };
  }

  it("delivers every Message variant intact, from the authenticated sender", async () => {
    for (const msg of everyVariant) assert.equal(a.send("h2", msg), true);
    await waitFor("every variant", () => got.length === everyVariant.length);
    assert.deepEqual(
      got.map((g) => g.msg),
      everyVariant,
    );
    assert.deepEqual(
      got.map((g) => [g.from.sender.host, g.from.sender.incarnation]),
      everyVariant.map(() => ["h1", 1]),
    );
    const seqs = got.map((g) => g.from.sender.sequence);
    assert.deepEqual(
      seqs,
      [...seqs].sort((x, y) => x - y),
    );
    await waitFor("sent counter", () => a.stats().sent >= everyVariant.length);
  });

  it("drops a message signed with another secret, or altered in transit, as unauthenticated", async () => {
    const forged = fromH3(heartbeat, { secret: "not-the-cluster-secret", sequence: 1 });
    const altered = fromH3(heartbeat, { sequence: 2 });
    altered[altered.indexOf("vm1") + 2] = "9".charCodeAt(0);
    const d = await delta(() => inject(forged, altered));
    assert.deepEqual(d, { delivered: 0, dropped: { unauthenticated: 2 } });
  });

  it("drops the same bytes sent twice as replayed, and accepts the next message", async () => {
    const first = fromH3(heartbeat, { incarnation: 2000, sequence: 1 });
    const d = await delta(() => inject(first, first, fromH3(heartbeat, { incarnation: 2000, sequence: 2 })));
    assert.deepEqual(d, { delivered: 2, dropped: { replayed: 1 } });
  });

  it("accepts messages reordered within the window, once each", async () => {
    const seq = (sequence: number) => fromH3(heartbeat, { incarnation: 3000, sequence });
    const d = await delta(() => inject(seq(100), seq(98), seq(99), seq(98), seq(100 - replayWindowSize)));
    assert.deepEqual(d, { delivered: 3, dropped: { replayed: 2 } });
  });

  it("accepts a restarted sender (higher incarnation) and refuses its previous incarnation", async () => {
    const msg = (incarnation: number, sequence: number) => fromH3(heartbeat, { incarnation, sequence });
    const d = await delta(() => inject(msg(4000, 50), msg(5000, 1), msg(4000, 51), msg(5000, 2)));
    assert.deepEqual(d, { delivered: 3, dropped: { replayed: 1 } });
    assert.deepEqual(
      got.map((g) => [g.from.sender.incarnation, g.from.sender.sequence]),
      [
        [4000, 50],
        [5000, 1],
        [5000, 2],
      ],
    );
  });

  it("drops oversized datagrams", async () => {
    const d = await delta(() => inject(Buffer.alloc(messageSizeMaxBytes + 1, 0x56)));
    assert.deepEqual(d, { delivered: 0, dropped: { oversized: 1 } });
  });

  it("drops random bytes, truncated envelopes and bad JSON as malformed, and keeps working", async () => {
    const ctx = { clusterId, secret, host: "h3", incarnation: 6000, sequence: 1 };
    const good = fromH3(heartbeat, { incarnation: 6000, sequence: 2 });
    const badVersion = Buffer.from(good);
    badVersion[2] = 99;
    const garbage = [
      Buffer.alloc(0),
      Buffer.from("not a vigil message"),
      Buffer.from(Array.from({ length: 500 }, (_, i) => (i * 7919 + 13) % 256)),
      good.subarray(0, good.length - 1),
      badVersion,
      encodeEnvelope(Buffer.from('{"type": "heartbeat", '), ctx),
      encodeEnvelope(Buffer.from([0xff, 0xfe, 0x7b, 0x7d]), { ...ctx, sequence: 3 }),
      encodeEnvelope(Buffer.from("[".repeat(50_000)), { ...ctx, sequence: 4 }),
    ];
    const d = await delta(() => inject(...garbage, good));
    assert.deepEqual(d, { delivered: 1, dropped: { malformed: garbage.length } });
  });

  it("drops an authenticated envelope whose message is invalid, naming the field", async () => {
    const badVms = [...heartbeat.vms, { vm: "vm5", epoch: -1 }];
    const wrongFrom = encodeMessage(everyVariant[2]!, {
      clusterId,
      secret,
      host: "h3",
      incarnation: 7000,
      sequence: 2,
    });
    const d = await delta(() =>
      inject(fromH3({ ...heartbeat, vms: badVms }, { incarnation: 7000 }), wrongFrom),
    );
    assert.deepEqual(d, { delivered: 0, dropped: { invalidMessage: 2 } });
    const drop = logs.find((l) => l.event === "transport.dropped" && l.fields.reason === "invalidMessage");
    assert.equal(drop?.fields.detail, "msg.vms[4].epoch: expected a whole number >= 0");
  });

  it("drops messages from unknown hosts or claiming to be the receiver, and from other clusters", async () => {
    const d = await delta(() =>
      inject(
        fromH3(heartbeat, { host: "h9" }),
        fromH3(heartbeat, { host: "h2" }),
        fromH3(heartbeat, { clusterId: "c2", incarnation: 8000 }),
      ),
    );
    assert.deepEqual(d, { delivered: 0, dropped: { unknownSender: 2, wrongCluster: 1 } });
  });

  it("counts failed sends and handler exceptions instead of throwing", async () => {
    const s0 = a.stats();
    assert.equal(a.send("h9", heartbeat), false);
    assert.equal(a.send("h1", heartbeat), false);
    const tooBig = { ...heartbeat, fencing: Array.from({ length: 10_000 }, (_, i) => `host-${i}`) };
    assert.equal(a.send("h2", tooBig), false);
    assert.equal(a.stats().sendErrors - s0.sendErrors, 3);
    const off = b.onMessage(() => {
      throw new Error("handler bug");
    });
    const d = await delta(() => inject(fromH3(heartbeat, { incarnation: 9000 })));
    off();
    assert.equal(d.delivered, 1);
    assert.equal(got.length, 1);
    assert.equal(b.stats().handlerErrors, 1);
  });
});

describe("ReplayGuard", () => {
  it("keeps exactly replayWindowSize sequence numbers below the highest", () => {
    const g = new ReplayGuard(["h1"]);
    assert.equal(g.accept("h1", 1, 100), true);
    assert.equal(g.check("h1", 1, 100 - replayWindowSize), "tooOld");
    assert.equal(g.check("h1", 1, 101 - replayWindowSize), "fresh");
    assert.equal(g.accept("h1", 1, 99 + replayWindowSize), true);
    assert.equal(g.check("h1", 1, 100), "duplicate");
    assert.equal(g.check("h1", 1, 101), "fresh");
    assert.equal(g.accept("h1", 1, 100), false);
  });

  it("tracks only configured hosts and forgets removed ones", () => {
    const g = new ReplayGuard(["h1"]);
    assert.equal(g.check("h2", 1, 1), "unknownSender");
    assert.equal(g.accept("h1", 5, 1), true);
    g.setHosts(["h1", "h2"]);
    assert.equal(g.check("h1", 4, 9), "oldIncarnation");
    g.setHosts(["h2"]);
    assert.equal(g.isKnown("h1"), false);
  });
});

describe("validateMessage", () => {
  it("accepts every variant and names the first bad field", () => {
    for (const msg of everyVariant) assert.equal(validateMessage(msg), null);
    const cases: [unknown, string][] = [
      [null, "msg: expected an object"],
      [{ ...heartbeat, type: "hello" }, "msg.type: expected one of heartbeat, startVm"],
      [{ ...heartbeat, role: "king" }, "msg.role: expected one of election, master, slave"],
      [{ ...heartbeat, extra: 1 }, "msg.extra: unknown field"],
      [{ type: "confirmDown", from: "h1", vm: "vm1" }, "msg.epoch: missing"],
      [{ ...heartbeat, fencing: ["h4", ""] }, "msg.fencing[1]: expected a non-empty string"],
      [{ ...heartbeat, vms: [{ vm: "a", epoch: 1, starting: "yes" }] }, "msg.vms[0].starting: expected true"],
      [{ ...heartbeat, electionPriority: 1.5 }, "msg.electionPriority: expected a whole number"],
      [{ ...everyVariant[2], proof: "hope" }, "msg.proof: expected one of fenced,"],
      [{ ...everyVariant[4], target: 3 }, "msg.target: expected a non-empty string"],
    ];
    for (const [value, expected] of cases) {
      const problem = validateMessage(value) ?? "null";
      assert.ok(problem.startsWith(expected), `expected "${expected}...", got "${problem}"`);
    }
  });
});
