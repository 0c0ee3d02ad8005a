// `vigil server --tls-cert --tls-key` serves HTTPS (a certificate made with openssl for the test),
// and refuses a half TLS configuration with a clear error.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { startServer } from "../../src/server/main.ts";

describe("server over TLS", () => {
  const dir = mkdtempSync(join(tmpdir(), "vigil-tls-"));
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ],
    { stdio: "ignore" },
  );
  const options = {
    dataDir: join(dir, "data"),
    database: null,
    listen: "127.0.0.1",
    port: 0,
    tlsCert: cert,
    tlsKey: key,
    secretKeyFile: null,
    log: false,
  };

  after(() => rmSync(dir, { recursive: true, force: true }));

  it("answers over HTTPS with the given certificate, and the URL says https", async () => {
    const lines: string[] = [];
    const { server, url } = await startServer(options, (line) => lines.push(line));
    try {
      assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.match(lines[0] ?? "", /on https:\/\//);
      const body = await new Promise<string>((resolve, reject) => {
        const req = request(`${url}/health`, { ca: readFileSync(cert) }, (res) => {
          let text = "";
          res.on("data", (chunk: Buffer) => {
            text += chunk.toString();
          });
          res.on("end", () => resolve(text));
        });
        req.on("error", reject);
        req.end();
      });
      assert.equal(JSON.parse(body).status, "ok");
      const plain = await fetch(`${url.replace("https:", "http:")}/health`).then(
        () => "answered",
        () => "refused",
      );
      assert.equal(plain, "refused", "plain HTTP must not be served on the TLS port");
    } finally {
      await server.close();
      await server.ctx.store.close();
    }
  });

  it("refuses a certificate without its key", async () => {
    await assert.rejects(
      startServer({ ...options, tlsKey: null }, () => {}),
      /--tls-cert and --tls-key go together/,
    );
  });
});
