// Out-of-band management through the API with the redfish driver against a real HTTPS Redfish BMC
// (RedfishSim): power actions reach the BMC, insecureTls is needed for its self-signed certificate,
// and the agents' rendered cluster file carries driver redfish with insecureTls.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parse } from "yaml";
import { opensslInstalled, RedfishSim } from "../../src/power/redfish/redfish-sim.ts";
import { type RunningServer, removeDataDir, startTestServer } from "../server/client.ts";

const skip = (await opensslInstalled())
  ? false
  : "openssl is not installed; Redfish out-of-band power is NOT tested";

describe("out-of-band power actions through the API, redfish driver", { skip }, () => {
  let s: RunningServer;
  let bmc: RedfishSim;
  const power = (action: string) => s.call("POST", "/api/v1/hosts/h1/oobm/power", { action });
  const configure = (extra: Record<string, unknown>) =>
    s.call("PUT", "/api/v1/hosts/h1/oobm", {
      driver: "redfish",
      address: bmc.address,
      port: bmc.port,
      user: bmc.user,
      password: bmc.password,
      ...extra,
    });

  before(async () => {
    bmc = new RedfishSim({ password: "oobm-Redfish-Pw-3307", cycleOffMs: 200 });
    await bmc.start();
    s = await startTestServer({ database: null });
    const setup: [string, string, unknown][] = [
      ["POST", "/api/v1/zones", { name: "z" }],
      ["POST", "/api/v1/clusters", { name: "c", zone: "z" }],
      [
        "POST",
        "/api/v1/hosts",
        { name: "h1", cluster: "c", address: "198.18.2.1", agentPort: 7946, cpus: 8, memoryMiB: 8192 },
      ],
    ];
    for (const [method, path, body] of setup)
      assert.equal((await s.call(method, path, body)).status, 201, path);
  });
  after(async () => {
    await s?.stop();
    removeDataDir(s?.dataDir ?? "");
    await bmc?.stop();
  });

  it("accepts driver redfish with the port defaulting to 443, and refuses insecureTls for ipmitool", async () => {
    const ipmiTls = await s.call("PUT", "/api/v1/hosts/h1/oobm", {
      driver: "ipmitool",
      address: bmc.address,
      user: "admin",
      password: "x",
      insecureTls: true,
    });
    assert.equal(ipmiTls.status, 400, JSON.stringify(ipmiTls.body));
    assert.equal(ipmiTls.body.error.field, "body.insecureTls");
    const noPort = await s.call("PUT", "/api/v1/hosts/h1/oobm", {
      driver: "redfish",
      address: bmc.address,
      user: "admin",
      password: "x",
    });
    assert.equal(noPort.status, 200, JSON.stringify(noPort.body));
    assert.equal(noPort.body.port, 443);
    assert.equal(noPort.body.insecureTls, false);
  });

  it("without insecureTls the self-signed certificate is refused, with the reason", async () => {
    assert.equal((await configure({})).status, 200);
    assert.equal((await s.call("POST", "/api/v1/hosts/h1/oobm/enabled", { enabled: true })).status, 200);
    const refused = await power("STATUS");
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.match(refused.body.error.message, /certificate is not trusted/);
  });

  it("with insecureTls powers the host off, on and cycles it through the BMC, and shows the state", async () => {
    const put = await configure({ insecureTls: true });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.driver, "redfish");
    assert.equal(put.body.insecureTls, true);
    const status = await power("STATUS");
    assert.equal(status.status, 200, JSON.stringify(status.body));
    assert.equal(status.body.powerState, "On");
    const off = await power("OFF");
    assert.equal(off.body.powerState, "Off", JSON.stringify(off.body));
    assert.equal(await bmc.powerState(), "off", "the BMC itself is off");
    assert.equal((await s.call("GET", "/api/v1/hosts/h1")).body.oobm.powerState, "Off");
    const on = await power("ON");
    assert.equal(on.body.powerState, "On");
    assert.equal(await bmc.powerState(), "on");
    assert.equal((await power("CYCLE")).status, 200);
    const applied = (await bmc.hookLog()).map((l) => l.replace(/^\S+ /, ""));
    assert.deepEqual(applied.slice(0, 3), ["reset ForceOff", "reset On", "reset PowerCycle"]);
    const events = await s.call("GET", "/api/v1/events?type=oobmPowerAction");
    assert.ok(!JSON.stringify(events.body).includes(bmc.password), "an event shows the password");
    assert.match(events.body.items[0].message, /through redfish admin@127\.0\.0\.1:\d+/);
  });

  it("renders driver redfish with insecureTls into the agents' cluster file", async () => {
    assert.equal((await s.call("POST", "/api/v1/zones/z/ha", { enabled: true })).status, 200);
    const ha = await s.call("POST", "/api/v1/clusters/c/ha", { enabled: true, includeHosts: true });
    assert.equal(ha.status, 200, JSON.stringify(ha.body));
    const rendered = await s.call("GET", "/api/v1/clusters/c/agent-config");
    assert.equal(rendered.status, 200, JSON.stringify(rendered.body));
    const yaml = parse(rendered.body.clusterYaml as string) as {
      bmcs: Record<string, Record<string, unknown>>;
    };
    assert.deepEqual(yaml.bmcs.h1, {
      driver: "redfish",
      address: bmc.address,
      port: bmc.port,
      user: bmc.user,
      passwordFile: "bmc-h1.pw",
      insecureTls: true,
    });
    assert.ok(!JSON.stringify(rendered.body).includes(bmc.password), "the rendered file shows the password");
  });

  it("a wrong password is a 503 naming authentication", async () => {
    await configure({ insecureTls: true, password: "wrong-password" });
    const failed = await power("STATUS");
    assert.equal(failed.status, 503);
    assert.match(failed.body.error.message, /authentication failed \(HTTP 401/);
    assert.ok(!failed.body.error.message.includes("wrong-password"), failed.body.error.message);
  });
});
