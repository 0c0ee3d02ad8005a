// Out-of-band management through the API against a real BMC (ipmi_sim, driven by ipmitool): the
// power actions change the BMC's power, the state is shown, and failures are clear.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { IpmiSim, ipmiToolsInstalled } from "../../src/power/ipmi/ipmi-sim.ts";
import { type RunningServer, removeDataDir, startTestServer } from "../server/client.ts";

const skip = ipmiToolsInstalled()
  ? false
  : "ipmi_sim and/or ipmitool are not installed (apt-get install openipmi ipmitool); out-of-band power is NOT tested";

describe("out-of-band power actions through the API", { skip }, () => {
  let s: RunningServer;
  let bmc: IpmiSim;
  before(async () => {
    bmc = new IpmiSim({ password: "oobm-Pw-4410" });
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

  it("refuses actions until configured and enabled", async () => {
    const none = await s.call("POST", "/api/v1/hosts/h1/oobm/power", { action: "STATUS" });
    assert.equal(none.status, 409);
    assert.match(none.body.error.message, /not configured/);
    const put = await s.call("PUT", "/api/v1/hosts/h1/oobm", {
      driver: "ipmitool",
      address: bmc.address,
      port: bmc.port,
      user: bmc.user,
      password: bmc.password,
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const disabled = await s.call("POST", "/api/v1/hosts/h1/oobm/power", { action: "STATUS" });
    assert.equal(disabled.status, 409);
    assert.match(disabled.body.error.message, /disabled/);
    assert.equal((await s.call("POST", "/api/v1/hosts/h1/oobm/enabled", { enabled: true })).status, 200);
    const bad = await s.call("POST", "/api/v1/hosts/h1/oobm/power", { action: "EXPLODE" });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.field, "body.action");
  });

  it("powers the host off and on through the BMC and shows the state", async () => {
    const status = await s.call("POST", "/api/v1/hosts/h1/oobm/power", { action: "STATUS" });
    assert.equal(status.status, 200, JSON.stringify(status.body));
    assert.equal(status.body.powerState, "On");
    const off = await s.call("POST", "/api/v1/hosts/h1/oobm/power", { action: "OFF" });
    assert.equal(off.status, 200, JSON.stringify(off.body));
    assert.equal(off.body.powerState, "Off");
    assert.equal(await bmc.powerState(), "off", "the BMC itself is off");
    assert.equal((await s.call("GET", "/api/v1/hosts/h1")).body.oobm.powerState, "Off");
    const on = await s.call("POST", "/api/v1/hosts/h1/oobm/power", { action: "ON" });
    assert.equal(on.body.powerState, "On");
    assert.equal(await bmc.powerState(), "on");
    const events = await s.call("GET", "/api/v1/events?type=oobmPowerAction");
    assert.deepEqual(
      events.body.items.map((e: { data: { action: string } }) => e.data.action),
      ["OFF", "ON"],
    );
    assert.ok(!JSON.stringify(events.body).includes(bmc.password));
  });

  it("says which BMC failed and why when the password is wrong", async () => {
    await s.call("PUT", "/api/v1/hosts/h1/oobm", {
      driver: "ipmitool",
      address: bmc.address,
      port: bmc.port,
      user: bmc.user,
      password: "wrong-password",
    });
    const failed = await s.call("POST", "/api/v1/hosts/h1/oobm/power", { action: "STATUS" });
    assert.equal(failed.status, 503);
    assert.match(failed.body.error.message, /authentication/);
    assert.ok(!failed.body.error.message.includes("wrong-password"));
  });
});
