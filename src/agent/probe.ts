// "Ping" without ICMP (Node has no raw sockets, and the test machines have no ping binary): a TCP
// connect. A refused connection is an answer from a live host's kernel; only silence (a timeout, an
// unreachable network or route) counts as no answer.
import { connect } from "node:net";
import type { Timing } from "../core/cluster.ts";

/**
 * How long the master waits for a silent host's kernel to answer. The dead verdict waits for this
 * answer, so a fixed second would cost the fast profile most of its detection budget; a host that
 * cannot answer a SYN within one heartbeat interval (or one I/O timeout, if longer) on the cluster
 * network counts as silent. A wrong "silent" alone never fences: the datastore heartbeat must be
 * stale too.
 */
export function hostProbeTimeoutMs(timing: Timing): number {
  return Math.max(timing.heartbeatIntervalMs, timing.ioTimeoutMs);
}

/**
 * Isolation addresses (a gateway, say) may be slower than cluster hosts, and a wrong "no answer"
 * there makes a host apply its isolation response: they keep a full second at least.
 */
export function isolationProbeTimeoutMs(timing: Timing): number {
  return Math.max(1000, hostProbeTimeoutMs(timing));
}

export function tcpProbe(address: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    const done = (alive: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(alive);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once("connect", () => done(true));
    socket.once("error", (error: NodeJS.ErrnoException) => done(error.code === "ECONNREFUSED"));
  });
}
