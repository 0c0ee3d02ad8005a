// "Ping" without ICMP (Node has no raw sockets, and the test machines have no ping binary): a TCP
// connect. A refused connection is an answer from a live host's kernel; only silence (a timeout, an
// unreachable network or route) counts as no answer.
import { connect } from "node:net";

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
