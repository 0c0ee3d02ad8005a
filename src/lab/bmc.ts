// The lab's BMCs: one real ipmi_sim (or Redfish BMC, `lab up --bmc redfish`) per host on the gateway
// address, each on its own port, whose power off and on run the host's power hook (kill every process
// of the namespace and take its link down; bring it up and start the agent). They outlive
// `vigil lab up`; `down` stops them by pid, `bmc-fail` freezes them with SIGSTOP.
import { readdir, readFile, readlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { IpmiSim } from "../power/ipmi/ipmi-sim.ts";
import { RedfishSim } from "../power/redfish/redfish-sim.ts";
import { hostDir, type LabHost, type LabState } from "./lab.ts";
import * as net from "./net.ts";

function pidFile(state: LabState, host: string): string {
  return join(hostDir(state, host), "bmc.pid");
}

export async function startLabBmc(state: LabState, host: LabHost, hook: string): Promise<void> {
  if (host.bmcPort === null) return;
  const password = (await readFile(join(state.dir, "bmc.pw"), "utf8")).trim();
  if (state.bmcKind === "redfish") {
    const redfish = new RedfishSim({
      address: net.gatewayAddress,
      port: host.bmcPort,
      user: "admin",
      password,
      systemId: host.name,
      dir: join(hostDir(state, host.name), "bmc"),
      onPowerOff: `${hook} set power 0`,
      onPowerOn: `${hook} set power 1`,
      keepAfterExit: true,
    });
    await redfish.start();
    await writeFile(pidFile(state, host.name), String(redfish.pid ?? ""));
    return;
  }
  const bmc = new IpmiSim({
    address: net.gatewayAddress,
    port: host.bmcPort,
    user: "admin",
    password,
    dir: join(hostDir(state, host.name), "bmc"),
    onPowerOff: `${hook} set power 0`,
    onPowerOn: `${hook} set power 1`,
    name: `bmc-${host.name}`,
    keepAfterExit: true,
  });
  await bmc.start();
  await writeFile(pidFile(state, host.name), String(bmc.pid ?? ""));
}

async function bmcPid(state: LabState, host: string): Promise<number | null> {
  const pid = Number((await readFile(pidFile(state, host), "utf8").catch(() => "")).trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** A failed BMC stops answering: its ipmi_sim is frozen (SIGSTOP) until healed (SIGCONT). */
export async function setLabBmcFailed(state: LabState, host: string, failed: boolean): Promise<void> {
  const pid = await bmcPid(state, host);
  if (pid === null) return;
  try {
    process.kill(-pid, failed ? "SIGSTOP" : "SIGCONT");
  } catch {
    // Gone already.
  }
}

export async function stopLabBmcs(state: LabState): Promise<void> {
  for (const host of state.hosts) {
    const pid = await bmcPid(state, host.name);
    if (pid === null) continue;
    for (const signal of ["SIGCONT", "SIGKILL"] as const) {
      try {
        process.kill(-pid, signal);
      } catch {
        // Gone already.
      }
    }
  }
}

/**
 * BMCs and servers of labs whose directory is gone (removed by hand, or left by a crashed run)
 * still hold their ports. There is one lab per machine (fixed bridge and addresses), so bringing one
 * up removes every lab BMC (a process whose working directory is a lab host's `bmc` directory) and
 * every lab server (listening on the gateway address).
 */
export async function killStrayLabBmcs(): Promise<void> {
  for (const entry of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const cwd = await readlink(`/proc/${entry}/cwd`).catch(() => "");
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    // A lab's management server listens on the gateway address: a stale one would answer the
    // next lab's agents.
    const labServer =
      cmdline.includes(`\0server\0`) && cmdline.includes(`\0--listen\0${net.gatewayAddress}\0`);
    if (!labServer && !/\/hosts\/h\d+\/bmc( \(deleted\))?$/.test(cwd)) continue;
    for (const signal of ["SIGCONT", "SIGKILL"] as const) {
      try {
        process.kill(Number(entry), signal);
      } catch {
        // Gone already.
      }
    }
  }
}
