// How the CLI reaches the management server: which URL and token (flags, then environment, then the
// config file `vigil login` writes, then the server's own admin.token when run on the server), and
// one HTTP call that turns every failure into a message a person can act on.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

export const defaultServerUrl = "http://127.0.0.1:8470";
export const apiPrefix = "/api/v1";

/** A failure the CLI reports in one line; `exitCode` 1 when the call failed, 2 when the input was bad. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
  ) {
    super(message);
  }
}

/** The server answered with its error shape: `{ error: { code, message, field? } }`. */
export class ApiFailure extends CliError {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly serverMessage: string,
    readonly field: string | null,
  ) {
    super(`server refused (${status} ${code}): ${serverMessage}${field === null ? "" : ` [${field}]`}`, 1);
  }
}

/** No answer at all: the server is down, the address wrong, TLS failed. Worth retrying in a watch. */
export class Unreachable extends CliError {}

export interface CliConfig {
  url?: string;
  token?: string;
}

export interface ConnectionFlags {
  url?: string;
  token?: string;
  tokenFile?: string;
}

export interface Connection {
  url: string;
  token: string;
  /** Where the token came from, for error messages. */
  tokenSource: string;
}

type Env = Record<string, string | undefined>;

/** An empty variable (`VIGIL_URL= vigil ...`) counts as unset. */
function envValue(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === "" ? undefined : value;
}

export function configPath(env: Env = process.env): string {
  return (
    envValue(env, "VIGIL_CLI_CONFIG") ??
    join(envValue(env, "XDG_CONFIG_HOME") ?? join(homedir(), ".config"), "vigil", "cli.json")
  );
}

export function readConfig(path: string): CliConfig {
  if (!existsSync(path)) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new CliError(`${path}: not valid JSON (${(error as Error).message})`, 2);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new CliError(`${path}: expected an object with "url" and "token"`, 2);
  const { url, token } = parsed as Record<string, unknown>;
  return {
    ...(typeof url === "string" ? { url } : {}),
    ...(typeof token === "string" ? { token } : {}),
  };
}

/** Written 0600 in a 0700 directory: the file holds a bearer token. */
export function writeConfig(path: string, config: CliConfig): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
}

/** The data directory `vigil server` uses by default; its admin.token works when run on the server. */
function serverDataDir(env: Env): string {
  return (
    envValue(env, "VIGIL_DATA_DIR") ??
    (process.getuid?.() === 0 ? "/var/lib/vigil" : join(homedir(), ".vigil"))
  );
}

export function readSecretFile(path: string, what: string): string {
  try {
    const text = readFileSync(path, "utf8").replace(/\r?\n$/, "");
    if (text === "") throw new CliError(`${what} ${path} is empty`, 2);
    return text;
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`, 2);
  }
}

export function normaliseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(`server URL "${url}" is not a URL (expected e.g. ${defaultServerUrl})`, 2);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    throw new CliError(`server URL "${url}" must start with http:// or https://`, 2);
  return url.replace(/\/+$/, "");
}

function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function resolveConnection(flags: ConnectionFlags, env: Env = process.env): Connection {
  const file = configPath(env);
  const config = readConfig(file);
  const url = normaliseUrl(flags.url ?? envValue(env, "VIGIL_URL") ?? config.url ?? defaultServerUrl);
  if (flags.token !== undefined) return { url, token: flags.token, tokenSource: "--token" };
  if (flags.tokenFile !== undefined)
    return { url, token: readSecretFile(flags.tokenFile, "token file"), tokenSource: flags.tokenFile };
  const envToken = envValue(env, "VIGIL_TOKEN");
  if (envToken !== undefined) return { url, token: envToken, tokenSource: "VIGIL_TOKEN" };
  // A stored token belongs to the server it was stored for; another --url does not get it.
  if (config.token !== undefined && (config.url === undefined || normaliseUrl(config.url) === url))
    return { url, token: config.token, tokenSource: file };
  // The local server's admin token, only for a server on this host.
  const adminToken = join(serverDataDir(env), "admin.token");
  if (isLoopback(url) && existsSync(adminToken)) {
    try {
      return { url, token: readSecretFile(adminToken, "admin token"), tokenSource: adminToken };
    } catch {
      // Unreadable (another user's server): fall through to the message below.
    }
  }
  throw new CliError(
    `no API token for ${url}: give --token or --token-file, set VIGIL_TOKEN, or run ` +
      `"vigil login --url ${url} --token <token>" (writes ${file}); the first admin token is in the ` +
      "server's <data-dir>/admin.token",
    2,
  );
}

export type Query = Record<string, string | number | boolean | undefined>;

export function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
  const text = params.toString();
  return text === "" ? path : `${path}?${text}`;
}

/** Why fetch failed, as the system said it (ECONNREFUSED, ENOTFOUND, a TLS error). */
function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}

export class ApiClient {
  constructor(readonly connection: Connection) {}

  /** The answer's parsed JSON (null for 204); a refusal throws ApiFailure, no answer throws CliError. */
  async call(method: string, path: string, body?: unknown, query?: Query): Promise<unknown> {
    const res = await this.send(method, withQuery(`${apiPrefix}${path}`, query), body);
    const text = await res.text();
    let parsed: unknown = null;
    if (text !== "") {
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new CliError(
          `${this.connection.url} answered ${res.status} with something that is not JSON: ${text.slice(0, 200)}`,
          1,
        );
      }
    }
    if (!res.ok) throw failureOf(res.status, parsed, this.connection);
    return parsed;
  }

  /** The raw response of a long-lived call (the event stream); the caller reads and closes the body. */
  async open(path: string, query: Query, headers: Record<string, string>, signal: AbortSignal) {
    const res = await this.send("GET", withQuery(`${apiPrefix}${path}`, query), undefined, headers, signal);
    if (!res.ok) {
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // Keep the text.
      }
      throw failureOf(res.status, parsed, this.connection);
    }
    return res;
  }

  private async send(
    method: string,
    pathAndQuery: string,
    body: unknown,
    extraHeaders: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<Response> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.connection.token}`,
      accept: "application/json",
      ...extraHeaders,
    };
    if (body !== undefined) headers["content-type"] = "application/json";
    try {
      return await fetch(`${this.connection.url}${pathAndQuery}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (error) {
      if ((error as Error).name === "AbortError") throw error;
      throw new Unreachable(
        `cannot reach the server at ${this.connection.url} (${networkReason(error)}); ` +
          "is vigil server running there? Set --url, VIGIL_URL or vigil login",
        1,
      );
    }
  }
}

function failureOf(status: number, body: unknown, connection: Connection): CliError {
  const error = (body as { error?: { code?: unknown; message?: unknown; field?: unknown } } | null)?.error;
  if (error !== undefined && typeof error.message === "string") {
    const failure = new ApiFailure(
      status,
      typeof error.code === "string" ? error.code : "error",
      error.message,
      typeof error.field === "string" ? error.field : null,
    );
    if (status === 401)
      return new CliError(`${failure.message}; the token from ${connection.tokenSource} was not accepted`, 1);
    return failure;
  }
  return new CliError(`${connection.url} answered ${status}: ${JSON.stringify(body).slice(0, 300)}`, 1);
}
