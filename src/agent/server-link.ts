// The agent's calls to the management server: enrollment (a one-time token for a credential of its
// own) and the sync call (report up; configuration and commands down). The server is never in the
// failover path: every failure here is logged and retried later, and HA goes on from the cache.
import { readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import type { ServerLinkSettings } from "./config.ts";

export class ServerCallError extends Error {
  override readonly name = "ServerCallError";
  /** HTTP status, or null when no answer came (refused, timeout, TLS). */
  readonly status: number | null;

  constructor(status: number | null, message: string) {
    super(message);
    this.status = status;
  }
}

const callTimeoutMs = 10_000;
const answerBytesMax = 16 * 1024 * 1024;

export class ServerLink {
  private readonly ca: Buffer | undefined;
  private credential: string | null = null;

  constructor(
    private readonly settings: ServerLinkSettings,
    private readonly host: string,
    private readonly cacheDir: string,
  ) {
    this.ca = settings.caFile === null ? undefined : readFileSync(settings.caFile);
  }

  get url(): string {
    return this.settings.url;
  }

  private credentialFile(): string {
    return join(this.cacheDir, "credential");
  }

  /** The agent credential: kept from an earlier enrollment, or got now with the one-time token. */
  async ensureCredential(): Promise<string> {
    if (this.credential !== null) return this.credential;
    const kept = (await readFile(this.credentialFile(), "utf8").catch(() => "")).trim();
    if (kept !== "") {
      this.credential = kept;
      return kept;
    }
    if (this.settings.enrollTokenFile === null)
      throw new ServerCallError(null, "server.enrollTokenFile: not set, and this host has no credential yet");
    const token = (await readFile(this.settings.enrollTokenFile, "utf8")).trim();
    // The token works once: make sure the credential can be kept before spending it.
    await mkdir(this.cacheDir, { recursive: true, mode: 0o700 });
    const answer = (await this.post("/api/v1/agent/enroll", { host: this.host, token }, null)) as {
      credential?: unknown;
    };
    if (typeof answer.credential !== "string" || answer.credential === "")
      throw new ServerCallError(200, "the enrollment answer has no credential");
    await writeFile(this.credentialFile(), answer.credential, { mode: 0o600 });
    this.credential = answer.credential;
    return answer.credential;
  }

  async sync(report: object): Promise<unknown> {
    const credential = await this.ensureCredential();
    return await this.post("/api/v1/agent/sync", report, credential);
  }

  private post(path: string, body: object, token: string | null): Promise<unknown> {
    const url = new URL(`${this.settings.url}${path}`);
    const payload = JSON.stringify(body);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(payload)),
    };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        url,
        {
          method: "POST",
          headers,
          timeout: callTimeoutMs,
          ...(this.ca === undefined ? {} : { ca: this.ca }),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > answerBytesMax) req.destroy(new Error(`answer larger than ${answerBytesMax} bytes`));
            else chunks.push(chunk);
          });
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown;
            try {
              parsed = JSON.parse(text);
            } catch {
              reject(new ServerCallError(res.statusCode ?? null, `${path}: the answer is not JSON`));
              return;
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) resolve(parsed);
            else {
              const message =
                (parsed as { error?: { message?: string } }).error?.message ?? text.slice(0, 200);
              if (status === 401 && token !== null) this.credential = null;
              reject(new ServerCallError(status, `${path}: ${status} ${message}`));
            }
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer within ${callTimeoutMs} ms`)));
      req.on("error", (error) => reject(new ServerCallError(null, `${url.origin}${path}: ${error.message}`)));
      req.end(payload);
    });
  }
}
