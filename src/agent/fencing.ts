// The master's fencing of a dead host through its BMC, from the cluster file's `bmcs` settings.
// The password is read from its file at each fence and handed to the power driver, which passes it to
// ipmitool through the environment, never on a command line.
import { readFileSync } from "node:fs";
import { IpmitoolDriver } from "../power/ipmi/ipmitool-driver.ts";
import type { BmcSettings } from "./config.ts";
import type { Fencer } from "./runtime.ts";

export function makeFencer(settings: BmcSettings | undefined): Fencer | null {
  if (settings === undefined) return null;
  return {
    fence: async () => {
      let password: string;
      try {
        password = readFileSync(settings.passwordFile, "utf8").trim();
      } catch (error) {
        return {
          poweredOff: false,
          detail: `cannot read the BMC password file: ${(error as Error).message}`,
        };
      }
      const driver = new IpmitoolDriver({
        address: settings.address,
        port: settings.port,
        user: settings.user,
        password,
      });
      return await driver.fence();
    },
  };
}
