// The Redfish BMC as its own process: `node --import <tsx> redfish-bmc-main.ts <dir> [--die-with-stdin]`.
// Its own process so that the lab's BMCs outlive `vigil lab up` and can be frozen with SIGSTOP, and so
// that a hook that blocks cannot stall the test runner. With --die-with-stdin it exits when its parent's
// stdin pipe closes: a test run killed by a timeout leaves no BMC behind.
import { startRedfishBmcServer } from "./redfish-bmc.ts";

const dir = process.argv[2];
if (dir === undefined) {
  process.stderr.write("usage: redfish-bmc-main.ts <dir> [--die-with-stdin]\n");
  process.exit(2);
}
if (process.argv.includes("--die-with-stdin")) {
  process.stdin.on("end", () => process.exit(0));
  process.stdin.on("error", () => process.exit(0));
  process.stdin.resume();
}
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => process.exit(0));
const { port } = await startRedfishBmcServer(dir);
process.stdout.write(`redfish BMC listening on port ${port}\n`);
