// The master's fencing of a dead host through its BMC, from the cluster file's `bmcs` settings.
// The password is read from its file at each fence and handed to the power driver: ipmitool gets it
// through its environment, Redfish in the Authorization header; never on a command line.
import { readFileSync } from "node:fs";
import { IpmitoolDriver } from "../power/ipmi/ipmitool-driver.ts";
import type { PowerDriver } from "../power/power.ts";
import { RedfishDriver } from "../power/redfish/redfish-driver.ts";
import type { BmcSettings } from "./config.ts";
import type { Fencer } from "./runtime.ts";

/** The power driver for a host's BMC settings. Throws (a PowerError or a file error) when it cannot be built. */
export function powerDriverFor(settings: BmcSettings, password: string): PowerDriver {
  switch (settings.driver) {
    case "ipmitool":
      return new IpmitoolDriver({
        address: settings.address,
        port: settings.port,
        user: settings.user,
        password,
      });
    case "redfish":
      return new RedfishDriver({
        address: settings.address,
        port: settings.port,
        user: settings.user,
        password,
        insecureTls: settings.insecureTls,
        ...(settings.caFile === undefined ? {} : { ca: readFileSync(settings.caFile, "utf8") }),
        ...(settings.systemId === undefined ? {} : { systemId: settings.systemId }),
      });
  }
}

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
      let driver: PowerDriver;
      try {
        driver = powerDriverFor(settings, password);
      } catch (error) {
        return {
          poweredOff: false,
          detail: `cannot set up the ${settings.driver} BMC driver: ${(error as Error).message}`,
        };
      }
      return await driver.fence();
    },
  };
}
