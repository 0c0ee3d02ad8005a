// `vigil lab ...`: bring a multi-host lab up and down on this machine and inject faults into it.
import type { Command } from "commander";
import * as lab from "../lab/lab.ts";
import type { Output } from "./sim-commands.ts";

export function addLabCommands(
  program: Command,
  io: Output,
  positiveInt: (name: string) => (v: string) => number,
): void {
  const cmd = program
    .command("lab")
    .description("a multi-host lab in network namespaces on this machine (needs root)");
  const dirOption = "--dir <dir>";
  const withLab = (action: (state: lab.LabState, ...args: string[]) => Promise<void>) => {
    return async (...args: unknown[]) => {
      const opts = args.find((a) => typeof a === "object" && a !== null && !Array.isArray(a) && "dir" in a) as
        | { dir: string }
        | undefined;
      const positional = args.filter((a): a is string => typeof a === "string");
      const state = lab.loadLab(opts?.dir ?? lab.defaultLabDir);
      await action(state, ...positional);
    };
  };
  cmd
    .command("up")
    .description("create the hosts, their BMCs and agents, and start the VMs")
    .option("--hosts <n>", "hosts", positiveInt("--hosts"), 5)
    .option("--vms <n>", "VMs", positiveInt("--vms"), 50)
    .option("--datastores <n>", "datastores", positiveInt("--datastores"), 2)
    .option("--bmc <kind>", "the hosts' BMCs: ipmi (ipmi_sim) or redfish (HTTPS, self-signed)", "ipmi")
    .option("--no-bmc", "hosts without BMCs (the lease path only)")
    .option("--fast", "the fast timing profile (250 ms heartbeats)")
    .option("--isolation-response <r>", "leaveOn, powerOff or shutdown", "powerOff")
    .option("--server", "run a vigil server that configures the agents (create VMs through it)")
    .option(dirOption, "where the lab keeps its state", lab.defaultLabDir)
    .action(
      async (opts: {
        hosts: number;
        vms: number;
        datastores: number;
        bmc: string | false;
        fast?: boolean;
        server?: boolean;
        dir: string;
        isolationResponse: string;
      }) => {
        const response = opts.isolationResponse;
        if (response !== "leaveOn" && response !== "powerOff" && response !== "shutdown") {
          throw new Error(`--isolation-response: expected leaveOn, powerOff or shutdown, got "${response}"`);
        }
        const bmc = opts.bmc;
        if (bmc !== false && bmc !== "ipmi" && bmc !== "redfish")
          throw new Error(`--bmc: expected ipmi or redfish, got "${bmc}"`);
        await lab.up(
          {
            ...opts,
            bmc: bmc !== false,
            ...(bmc === false ? {} : { bmcKind: bmc }),
            fast: opts.fast === true,
            server: opts.server === true,
            isolationResponse: response,
          },
          io.out,
        );
      },
    );
  const server = cmd.command("server").description("the lab's management server (labs made with --server)");
  for (const [name, description] of [
    ["start", "start it again (agents resync; nothing was lost)"],
    ["stop", "stop it: HA goes on without it"],
  ] as const)
    server
      .command(name)
      .description(description)
      .option(dirOption, "the lab's directory", lab.defaultLabDir)
      .action(
        withLab(async (state) => {
          if (state.server !== true) throw new Error("this lab runs without a server (lab up --server)");
          const { labServerOf, startLabServer, stopLabServer } = await import("../lab/lab-server.ts");
          const s = labServerOf(state.dir);
          await (name === "start" ? startLabServer(s) : stopLabServer(s));
          io.out(`lab server ${name === "start" ? `up on ${s.url}` : "stopped"}`);
        }),
      );
  cmd
    .command("down")
    .description("remove every namespace, bridge, BMC and process the lab made")
    .option(dirOption, "the lab's directory", lab.defaultLabDir)
    .action(async (opts: { dir: string }) => {
      await lab.down(opts.dir, io.out);
    });
  cmd
    .command("status")
    .description("hosts, master, host states and where each VM runs")
    .option(dirOption, "the lab's directory", lab.defaultLabDir)
    .option("--json", "print JSON")
    .action(async (opts: { dir: string; json?: boolean }) => {
      const hosts = await lab.status(lab.loadLab(opts.dir));
      if (opts.json === true) {
        io.out(JSON.stringify(hosts, null, 2));
        return;
      }
      const master = hosts.find((h) => h.role === "master");
      io.out(`master: ${master?.host ?? "none"}`);
      io.out(`${"host".padEnd(6)} ${"power".padEnd(6)} ${"role".padEnd(9)} ${"state".padEnd(12)} VMs`);
      for (const h of hosts) {
        const seen = master?.host === h.host ? "master" : (master?.view?.[h.host] ?? "-");
        io.out(
          `${h.host.padEnd(6)} ${(h.powered ? "on" : "off").padEnd(6)} ${h.role.padEnd(9)} ${seen.padEnd(12)} ${h.vms.join(" ")}`,
        );
      }
    });
  const fault = (name: string, description: string) =>
    cmd.command(name).description(description).option(dirOption, "the lab's directory", lab.defaultLabDir);
  fault("crash", "power loss of a host (its BMC still answers)")
    .argument("<host>")
    .action(withLab((state, host) => lab.crash(state, host!)));
  fault("isolate", "cut a host's management network (storage stays)")
    .argument("<host>")
    .action(withLab((state, host) => lab.isolate(state, host!)));
  fault("partition", "split the network into groups: partition h1,h2 h3")
    .argument("<groups...>")
    .action(
      withLab((state, ...groups) =>
        lab.partition(
          state,
          groups.map((g) => g.split(",")),
        ),
      ),
    );
  fault("storage-cut", "a host loses datastores (all when none named)")
    .argument("<host>")
    .argument("[datastores...]")
    .action(withLab((state, host, ...ds) => lab.storageCut(state, host!, ds)));
  fault("agent-kill", "kill a host's agent process; VMs and keeper keep running")
    .argument("<host>")
    .action(withLab((state, host) => lab.agentKill(state, host!)));
  fault("agent-start", "start a host's agent again")
    .argument("<host>")
    .action(withLab((state, host) => lab.agentStart(state, host!)));
  fault("bmc-fail", "a host's BMC stops answering")
    .argument("<host>")
    .action(withLab((state, host) => lab.bmcFail(state, host!, true)));
  fault("heal", "undo isolation, partitions, storage cuts and BMC failures (of one host or all)")
    .argument("[host]")
    .action(withLab((state, host) => lab.heal(state, host ?? null)));
  fault("power", "power a host on or off")
    .argument("<onoff>")
    .argument("<host>")
    .action(
      withLab(async (state, onoff, host) => {
        if (onoff !== "on" && onoff !== "off") throw new Error(`power: expected on or off, got ${onoff}`);
        await lab.power(state, host!, onoff === "on");
      }),
    );
}
