// The API test suite, run against a real server on each database (SQLite and PostgreSQL): CRUD,
// pagination and filters, bad input naming the field, tokens and roles, agent enrollment and sync,
// HA enablement and states, configuration issues, admission control, SSE, metrics, and a restart
// that loses nothing.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type RunningServer, removeDataDir, startTestServer } from "./client.ts";

export interface DatabaseSubject {
  /** null: SQLite in the data directory. */
  database: string | null;
  close(): Promise<void>;
}

export function apiSuite(name: string, open: () => Promise<DatabaseSubject>, skip: string | false = false) {
  describe(`management API on ${name}`, { skip }, () => {
    let subject: DatabaseSubject;
    let s: RunningServer;
    before(async () => {
      subject = await open();
      s = await startTestServer({ database: subject.database });
    });
    after(async () => {
      await s?.stop();
      removeDataDir(s?.dataDir ?? "");
      await subject?.close();
    });

    let credential = "";
    // biome-ignore lint/suspicious/noExplicitAny: the master's report, resent with changes
    let report: any = null;
    const ok = (a: { status: number; body: unknown }, status = 200) =>
      assert.equal(a.status, status, `expected ${status}, got ${a.status}: ${JSON.stringify(a.body)}`);

    it("builds an inventory: zone, cluster, hosts, datastores, offering, VMs", async () => {
      ok(await s.call("POST", "/api/v1/zones", { name: "z1" }), 201);
      ok(await s.call("POST", "/api/v1/clusters", { name: "c1", zone: "z1" }), 201);
      for (const [i, h] of ["h1", "h2", "h3"].entries())
        ok(
          await s.call("POST", "/api/v1/hosts", {
            name: h,
            cluster: "c1",
            address: `198.18.1.${i + 1}`,
            agentPort: 7946,
            cpus: 16,
            memoryMiB: 32768,
            tags: i === 0 ? ["ssd"] : [],
            faultDomain: `rack-${i}`,
            electionPriority: 0,
          }),
          201,
        );
      ok(await s.call("POST", "/api/v1/datastores", { name: "ds1", cluster: "c1", path: "/srv/ds1" }), 201);
      ok(await s.call("POST", "/api/v1/datastores", { name: "ds2", cluster: "c1", path: "/srv/ds2" }), 201);
      const offering = await s.call("POST", "/api/v1/offerings", {
        name: "small-ha",
        cpus: 2,
        memoryMiB: 2048,
        offerHa: true,
      });
      ok(offering, 201);
      assert.equal(offering.body.offerHa, true);
      const vm = await s.call("POST", "/api/v1/vms", {
        name: "web1",
        cluster: "c1",
        offering: "small-ha",
        start: false,
      });
      ok(vm, 201);
      assert.equal(vm.body.cpus, 2);
      assert.equal(vm.body.ha, true);
      const got = await s.call("GET", "/api/v1/vms/web1");
      ok(got);
      assert.equal(got.body.id, vm.body.id);
      ok(await s.call("GET", `/api/v1/vms/${vm.body.id}`));
      const hosts = await s.call("GET", "/api/v1/hosts?cluster=c1");
      ok(hosts);
      assert.deepEqual(
        hosts.body.items.map((h: { name: string }) => h.name),
        ["h1", "h2", "h3"],
      );
    });

    it("pages and filters lists", async () => {
      const page = await s.call("GET", "/api/v1/hosts?limit=2&offset=1");
      ok(page);
      assert.equal(page.body.total, 3);
      assert.deepEqual(
        page.body.items.map((h: { name: string }) => h.name),
        ["h2", "h3"],
      );
      const none = await s.call("GET", "/api/v1/hosts?haState=Available");
      ok(none);
      assert.equal(none.body.items.length, 0, "no agent has reported: no host is Available");
    });

    it("refuses bad input and names the field", async () => {
      const cases: [string, string, unknown, number, string][] = [
        ["POST", "/api/v1/offerings", { name: "x", cpus: "4", memoryMiB: 1024 }, 400, "body.cpus"],
        ["POST", "/api/v1/offerings", { name: "x", cpus: 4 }, 400, "body.memoryMiB"],
        [
          "POST",
          "/api/v1/offerings",
          { name: "x", cpus: 4, memoryMiB: 1024, colour: "red" },
          400,
          "body.colour",
        ],
        ["POST", "/api/v1/zones", { name: 3 }, 400, "body.name"],
        ["POST", "/api/v1/zones", { name: "bad name" }, 400, "body.name"],
        ["POST", "/api/v1/clusters", { name: "c9", zone: "nowhere" }, 400, "body.zone"],
        [
          "POST",
          "/api/v1/vms",
          { name: "v9", cluster: "c1", cpus: 1, memoryMiB: 64, host: "h9" },
          400,
          "body.host",
        ],
        [
          "PATCH",
          "/api/v1/clusters/c1/settings",
          { admissionControl: { policy: "percentage", cpuPercent: 500, memoryPercent: 10 } },
          400,
          "body.admissionControl",
        ],
        [
          "PATCH",
          "/api/v1/clusters/c1/settings",
          { timing: { heartbeatIntervalMs: -5 } },
          400,
          "body.timing.heartbeatIntervalMs",
        ],
        ["GET", "/api/v1/hosts?limit=0", undefined, 400, "query.limit"],
      ];
      for (const [method, path, body, status, field] of cases) {
        const a = await s.call(method, path, body);
        assert.equal(
          a.status,
          status,
          `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(a.body)}`,
        );
        assert.ok(
          String(a.body.error.field).startsWith(field),
          `${method} ${path}: field ${a.body.error.field}, wanted ${field} (${a.body.error.message})`,
        );
        assert.match(a.body.error.message, /\S/);
      }
      const malformed = await s.raw("POST", "/api/v1/zones", '{"name":');
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.error.code, "invalidInput");
      const unknown = await s.call("GET", "/api/v1/vms/no-such-vm");
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error.code, "notFound");
      const dup = await s.call("POST", "/api/v1/zones", { name: "z1" });
      assert.equal(dup.status, 409);
      assert.equal(dup.body.error.field, "body.name");
      // Nothing of a refused request was kept.
      const offerings = await s.call("GET", "/api/v1/offerings");
      assert.deepEqual(
        offerings.body.items.map((o: { name: string }) => o.name),
        ["small-ha"],
      );
    });

    it("checks tokens and roles", async () => {
      const none = await s.call("GET", "/api/v1/zones", undefined, null);
      assert.equal(none.status, 401);
      assert.equal(none.body.error.code, "unauthenticated");
      assert.equal((await s.call("GET", "/api/v1/zones", undefined, "made-up-token")).status, 401);
      const viewer = await s.call("POST", "/api/v1/tokens", { name: "ro", role: "viewer" });
      ok(viewer, 201);
      const operator = await s.call("POST", "/api/v1/tokens", { name: "ops", role: "operator" });
      ok(operator, 201);
      ok(await s.call("GET", "/api/v1/zones", undefined, viewer.body.token));
      const denied = await s.call("POST", "/api/v1/zones", { name: "z2" }, viewer.body.token);
      assert.equal(denied.status, 403);
      assert.match(denied.body.error.message, /admin/);
      assert.equal((await s.call("POST", "/api/v1/zones", { name: "z2" }, operator.body.token)).status, 403);
      assert.equal((await s.call("GET", "/api/v1/tokens", undefined, operator.body.token)).status, 403);
      const list = await s.call("GET", "/api/v1/tokens");
      ok(list);
      assert.ok(!JSON.stringify(list.body).includes(viewer.body.token), "token secrets are never listed");
      ok(await s.call("DELETE", "/api/v1/tokens/ro"), 204);
      assert.equal((await s.call("GET", "/api/v1/zones", undefined, viewer.body.token)).status, 401);
    });

    it("enables HA as Mold does and shows each host's HA state and provider", async () => {
      ok(await s.call("POST", "/api/v1/zones/z1/ha", { enabled: true }));
      ok(await s.call("POST", "/api/v1/clusters/c1/ha", { enabled: true, includeHosts: true }));
      const h1 = await s.call("GET", "/api/v1/hosts/h1");
      ok(h1);
      assert.equal(h1.body.haEnabled, true);
      assert.equal(h1.body.haState, "Ineligible", "HA on but no out-of-band management yet");
      assert.match(String(h1.body.haProvider), /\S/);
      ok(await s.call("POST", "/api/v1/hosts/h3/ha", { enabled: false }));
      assert.equal((await s.call("GET", "/api/v1/hosts/h3")).body.haState, "Disabled");
      ok(await s.call("POST", "/api/v1/hosts/h3/ha", { enabled: true }));
    });

    it("keeps out-of-band passwords out of every answer", async () => {
      const put = await s.call("PUT", "/api/v1/hosts/h1/oobm", {
        driver: "ipmitool",
        address: "198.18.0.1",
        port: 9101,
        user: "admin",
        password: "s3cret-bmc-pass",
      });
      ok(put);
      const noPw = await s.call("PUT", "/api/v1/hosts/h2/oobm", {
        driver: "ipmitool",
        address: "198.18.0.1",
        user: "admin",
      });
      assert.equal(noPw.status, 400);
      assert.equal(noPw.body.error.field, "body.password");
      for (const path of [
        "/api/v1/hosts/h1",
        "/api/v1/hosts",
        "/api/v1/clusters/c1/status",
        "/api/v1/events?limit=1000",
      ]) {
        const a = await s.call("GET", path);
        ok(a);
        assert.ok(!JSON.stringify(a.body).includes("s3cret-bmc-pass"), `${path} shows the password`);
      }
      const rendered = await s.call("GET", "/api/v1/clusters/c1/agent-config");
      ok(rendered);
      assert.ok(
        !JSON.stringify(rendered.body).includes("s3cret-bmc-pass"),
        "the agents' file names a password file",
      );
    });

    it("computes configuration issues", async () => {
      ok(await s.call("PUT", "/api/v1/settings/ha.tag", { value: "ha_host" }));
      const issues = await s.call("GET", "/api/v1/clusters/c1/issues");
      ok(issues);
      const kinds = new Set(issues.body.items.map((i: { kind: string }) => i.kind));
      for (const k of ["haTagUnmatched", "oobmMissing", "hostNotEnrolled"])
        assert.ok(kinds.has(k), `issue ${k} in ${JSON.stringify([...kinds])}`);
      assert.ok(!kinds.has("tooFewHeartbeatDatastores"), "two datastores are enough");
      ok(await s.call("PUT", "/api/v1/settings/ha.tag", { value: "" }));
      const after = await s.call("GET", "/api/v1/clusters/c1/issues");
      assert.ok(!after.body.items.some((i: { kind: string }) => i.kind === "haTagUnmatched"));
      const badSetting = await s.call("PUT", "/api/v1/settings/no.such.setting", { value: "1" });
      assert.equal(badSetting.status, 404);
    });

    it("enrolls an agent once, syncs it, and keeps user tokens off the agent endpoints", async () => {
      const enroll = await s.call("POST", "/api/v1/hosts/h1/enrollment-token", {});
      ok(enroll);
      const token = enroll.body.enrollmentToken as string;
      const got = await s.call("POST", "/api/v1/agent/enroll", { host: "h1", token }, null);
      ok(got);
      const again = await s.call("POST", "/api/v1/agent/enroll", { host: "h1", token }, null);
      assert.equal(again.status, 401, "an enrollment token works once");
      credential = got.body.credential as string;
      report = {
        configVersion: 0,
        role: "master",
        master: "h1",
        isolated: false,
        maintenance: false,
        vms: [],
        hosts: { h1: "master", h2: "connected", h3: "connected" },
        placement: {},
        events: [{ type: "masterElected", host: "h1", at: new Date().toISOString() }],
        done: [],
      };
      assert.equal(
        (await s.call("POST", "/api/v1/agent/sync", report)).status,
        401,
        "admin token on agent sync",
      );
      assert.equal(
        (await s.call("GET", "/api/v1/zones", undefined, credential)).status,
        401,
        "agent credential on user API",
      );
      const sync = await s.call("POST", "/api/v1/agent/sync", report, credential);
      ok(sync);
      assert.ok(sync.body.configVersion > 0);
      assert.match(sync.body.config.clusterYaml ?? JSON.stringify(sync.body.config), /h1/);
      const same = await s.call(
        "POST",
        "/api/v1/agent/sync",
        { ...report, configVersion: sync.body.configVersion, events: [] },
        credential,
      );
      ok(same);
      assert.equal(same.body.config, null, "an agent with the current version gets no file");
      const bad = await s.call("POST", "/api/v1/agent/sync", { ...report, vms: [{ vm: "x" }] }, credential);
      assert.equal(bad.status, 400);
      assert.match(bad.body.error.field, /^body\.vms\.0/);
      const events = await s.call("GET", "/api/v1/events?type=masterElected");
      ok(events);
      assert.equal(events.body.items.length, 1);
    });

    it("streams events over SSE", async () => {
      const controller = new AbortController();
      const res = await fetch(`${s.url}/api/v1/events/stream?token=${s.adminToken}`, {
        signal: controller.signal,
      });
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
      const reader = res.body!.getReader();
      ok(await s.call("POST", "/api/v1/zones", { name: "z-sse" }), 201);
      let text = "";
      const deadline = Date.now() + 10_000;
      while (!text.includes("z-sse") && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      controller.abort();
      assert.match(text, /event: (vigil|event|zoneCreated)|data: /);
      assert.ok(text.includes("z-sse"), `stream: ${text.slice(0, 500)}`);
      const denied = await fetch(`${s.url}/api/v1/events/stream`);
      assert.equal(denied.status, 401);
      await denied.body?.cancel();
    });

    it("applies admission control to a user's power-on and says why", async () => {
      // Three 16-CPU hosts, hostFailures 1: 32 CPUs must hold every protected powered-on VM.
      const masterSays = async (placement: Record<string, string>) => {
        const status = await s.call("GET", "/api/v1/clusters/c1/status");
        ok(status);
        ok(await s.call("POST", "/api/v1/agent/sync", { ...report, events: [], placement }, credential));
      };
      ok(
        await s.call("POST", "/api/v1/vms", { name: "big", host: "h2", cpus: 16, memoryMiB: 1024, ha: true }),
        201,
      );
      await masterSays({ big: "h2" });
      ok(
        await s.call("POST", "/api/v1/vms", { name: "mid", host: "h3", cpus: 16, memoryMiB: 1024, ha: true }),
        201,
      );
      await masterSays({ big: "h2", mid: "h3" });
      const refused = await s.call("POST", "/api/v1/vms", {
        name: "big2",
        host: "h1",
        cpus: 4,
        memoryMiB: 1024,
        ha: true,
      });
      assert.equal(refused.status, 409, JSON.stringify(refused.body));
      assert.equal(refused.body.error.code, "refused");
      assert.match(refused.body.error.message, /admission control \(hostFailures\)/);
      assert.equal(
        (await s.call("GET", "/api/v1/vms/big2")).status,
        404,
        "a refused power-on leaves nothing behind",
      );
      const running = await s.call("GET", "/api/v1/vms/big");
      assert.equal(running.body.state, "running");
      assert.equal(running.body.host, "h2");
    });

    it("moves a running VM through the master, judged by admission control", async () => {
      // From the previous test: big runs on h2, mid on h3 (16 CPUs each), h1 is free.
      const notRunning = await s.call("POST", "/api/v1/vms/web1/migrate", { host: "h1" });
      assert.equal(notRunning.status, 409, JSON.stringify(notRunning.body));
      assert.match(notRunning.body.error.message, /only a running VM moves/);
      const same = await s.call("POST", "/api/v1/vms/big/migrate", { host: "h2" });
      assert.equal(same.status, 409);
      assert.match(same.body.error.message, /already runs on h2/);
      const unknown = await s.call("POST", "/api/v1/vms/big/migrate", { host: "nowhere" });
      assert.equal(unknown.status, 400);
      assert.equal(unknown.body.error.field, "body.host");
      const full = await s.call("POST", "/api/v1/vms/big/migrate", { host: "h3" });
      assert.equal(full.status, 409, JSON.stringify(full.body));
      assert.equal(full.body.error.code, "refused");
      const moved = await s.call("POST", "/api/v1/vms/big/migrate", { host: "h1" });
      assert.equal(moved.status, 202, JSON.stringify(moved.body));
      assert.deepEqual(moved.body, { vm: "big", from: "h2", to: "h1", accepted: true });
      const sync = await s.call("POST", "/api/v1/agent/sync", { ...report, events: [] }, credential);
      ok(sync);
      assert.ok(
        sync.body.commands.some(
          (c: { type: string; vm: string; target: string }) =>
            c.type === "migrate" && c.vm === "big" && c.target === "h1",
        ),
        JSON.stringify(sync.body.commands),
      );
    });

    it("serves metrics, health and the OpenAPI document", async () => {
      const health = await s.call("GET", "/health", undefined, null);
      ok(health);
      assert.equal(health.body.status, "ok");
      const metrics = await s.call("GET", "/metrics", undefined, null);
      ok(metrics);
      assert.match(metrics.body, /^vigil_hosts\{cluster="c1",ha_state="Ineligible"\} \d+$/m);
      assert.match(
        metrics.body,
        /^vigil_http_requests_total\{method="POST",route="\/api\/v1\/zones",status="201"\} \d+$/m,
      );
      const doc = await s.call("GET", "/api/docs/json", undefined, null);
      ok(doc);
      assert.ok(doc.body.paths["/api/v1/vms"], "the OpenAPI document lists /api/v1/vms");
      const ui = await fetch(`${s.url}/api/docs/`);
      assert.equal(ui.status, 200);
      assert.match(await ui.text(), /swagger/i);
    });

    it("loses nothing across a restart", async () => {
      const before = await s.call("GET", "/api/v1/vms");
      const dataDir = s.dataDir;
      await s.stop();
      s = await startTestServer({ database: subject.database, dataDir });
      const after = await s.call("GET", "/api/v1/vms");
      ok(after);
      assert.deepEqual(after.body, before.body);
      assert.equal((await s.call("GET", "/api/v1/hosts/h1")).body.oobm.address, "198.18.0.1");
      assert.equal((await s.call("GET", "/api/v1/tokens")).status, 200, "the admin token survives");
      assert.equal((await s.call("GET", "/api/v1/events?type=masterElected")).body.items.length, 1);
    });

    it("deletes only what nothing depends on", async () => {
      ok(
        await s.call(
          "POST",
          "/api/v1/agent/sync",
          { ...report, events: [], placement: { big: "h2" } },
          credential,
        ),
      );
      const running = await s.call("DELETE", "/api/v1/vms/big");
      assert.equal(running.status, 409, "a VM the master sees running cannot be deleted");
      assert.match(running.body.error.message, /big/);
      const inUse = await s.call("DELETE", "/api/v1/clusters/c1");
      assert.equal(inUse.status, 409);
      ok(await s.call("DELETE", "/api/v1/vms/web1"), 204);
      assert.equal((await s.call("GET", "/api/v1/vms/web1")).status, 404);
      ok(await s.call("DELETE", "/api/v1/zones/z-sse"), 204);
    });
  });
}
