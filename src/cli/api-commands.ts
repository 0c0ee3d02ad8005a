// Every subcommand that talks to the management server, and `vigil login`, which stores where the
// server is and the token to use, so the others need neither flag.
import type { Command } from "commander";
import { addRuleCommands, addSettingCommands, addTokenCommands } from "./admin-commands.ts";
import {
  ApiClient,
  configPath,
  normaliseUrl,
  readConfig,
  readSecretFile,
  writeConfig,
} from "./api-client.ts";
import { addConnectionOptions, apiAction, usageError } from "./api-kit.ts";
import { addClusterCommands } from "./cluster-commands.ts";
import { addEventCommands } from "./event-commands.ts";
import { addHostCommands } from "./host-commands.ts";
import { addDatastoreCommands, addOfferingCommands, addZoneCommands } from "./inventory-commands.ts";
import { addOobmCommands } from "./oobm-commands.ts";
import type { Output } from "./sim-commands.ts";
import { addVmCommands } from "./vm-commands.ts";

function addLoginCommand(program: Command, io: Output): void {
  program
    .command("login")
    .description(`store the server URL and an API token in ${configPath()} (mode 0600; $VIGIL_CLI_CONFIG)`)
    .requiredOption("--url <url>", "the server, e.g. https://vigil.example:8470")
    .option("--token <token>", "the API token (else --token-file, VIGIL_TOKEN)")
    .option("--token-file <file>", "read the API token from this file")
    .option("--no-verify", "store them without checking that the server takes the token")
    .action(
      apiAction<{ url: string; token?: string; tokenFile?: string; verify: boolean }>(io, async (run, o) => {
        const url = normaliseUrl(o.url);
        const token =
          o.token ??
          (o.tokenFile === undefined ? undefined : readSecretFile(o.tokenFile, "token file")) ??
          process.env.VIGIL_TOKEN;
        if (token === undefined || token === "")
          throw usageError("vigil login needs a token: --token, --token-file or VIGIL_TOKEN");
        if (o.verify) {
          // Any read that needs a token proves it works; zones are few.
          await new ApiClient({ url, token, tokenSource: "--token" }).call("GET", "/zones", undefined, {
            limit: 1,
          });
        }
        const file = configPath();
        writeConfig(file, { ...readConfig(file), url, token });
        run.done(`logged in to ${url}; wrote ${file}`);
      }),
    );
  program
    .command("logout")
    .description("remove the stored token from the login config")
    .action(
      apiAction(io, async (run) => {
        const file = configPath();
        const { token: _dropped, ...rest } = readConfig(file);
        writeConfig(file, rest);
        run.done(`removed the token from ${file}`);
      }),
    );
}

export function addApiCommands(program: Command, io: Output): void {
  addLoginCommand(program, io);
  addZoneCommands(program, io);
  addClusterCommands(program, io);
  addHostCommands(program, io);
  addOobmCommands(program, io);
  addDatastoreCommands(program, io);
  addOfferingCommands(program, io);
  addVmCommands(program, io);
  addRuleCommands(program, io);
  addSettingCommands(program, io);
  addTokenCommands(program, io);
  addEventCommands(program, io);
  addConnectionOptions();
}
