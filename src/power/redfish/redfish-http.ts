// Why: Redfish is JSON over HTTPS with Basic auth, and lab BMCs have self-signed certificates. Node's
// fetch cannot be told to skip certificate checks without the undici package, so this is a small
// client on node:https that also tells the failure modes apart (refused, silent, TLS, HTTP status,
// bad JSON), which fencing needs to report why a host could not be powered off.
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import type { PowerErrorKind } from "../power.ts";

export interface RedfishEndpoint {
  scheme: "https" | "http";
  address: string;
  port: number;
  /** Skip the certificate check (self-signed lab BMCs). */
  insecureTls: boolean;
  /** PEM certificate(s) to trust instead of the system store. */
  ca?: string;
  /** The full `Authorization` header value; never logged. */
  authorization: string;
}

export interface RedfishReply {
  statusCode: number;
  /** Parsed JSON body, or undefined for an empty body (204). */
  body: unknown;
}

/** A failed exchange, classified; `kind` is a PowerErrorKind, `what` is safe to show. */
export class HttpFailure extends Error {
  readonly kind: PowerErrorKind;
  /** True when the request certainly never reached the BMC, so sending it again is safe. */
  readonly notDelivered: boolean;

  constructor(kind: PowerErrorKind, what: string, notDelivered = false) {
    super(what);
    this.kind = kind;
    this.notDelivered = notDelivered;
  }
}

const bodyLimitBytes = 1024 * 1024;

const tlsTrustCodes = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** Classifies a socket-level error of node:http(s). */
function socketFailure(err: NodeJS.ErrnoException): HttpFailure {
  const code = err.code ?? "";
  if (code === "ECONNREFUSED")
    return new HttpFailure("unreachable", "BMC does not answer (connection refused)", true);
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH" || code === "EADDRNOTAVAIL")
    return new HttpFailure("unreachable", `BMC does not answer (${code})`, true);
  if (code === "ENOTFOUND" || code === "EAI_AGAIN")
    return new HttpFailure("unreachable", "BMC address does not resolve", true);
  if (code === "ECONNRESET" || code === "EPIPE")
    return new HttpFailure("unreachable", `BMC closed the connection (${code})`);
  if (tlsTrustCodes.has(code))
    return new HttpFailure(
      "config",
      `the BMC's TLS certificate is not trusted (${code}); give its CA, or set insecureTls for a self-signed lab BMC`,
      true,
    );
  if (code === "EPROTO" || code.startsWith("ERR_SSL"))
    return new HttpFailure("protocol", `TLS handshake failed (${code}); is it an HTTPS port?`, true);
  return new HttpFailure("unreachable", `BMC connection failed (${code || err.message})`);
}

/** The human part of a Redfish error body: `error.message` or the first extended message. */
export function redfishMessage(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== "object" || error === null) return undefined;
  const e = error as { message?: unknown; "@Message.ExtendedInfo"?: unknown };
  const info = e["@Message.ExtendedInfo"];
  if (Array.isArray(info)) {
    const first = info[0] as { Message?: unknown } | undefined;
    if (typeof first?.Message === "string") return first.Message;
  }
  return typeof e.message === "string" ? e.message : undefined;
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      text += chunk;
      if (text.length > bodyLimitBytes) {
        res.destroy();
        reject(new HttpFailure("protocol", `reply larger than ${bodyLimitBytes} bytes`));
      }
    });
    res.on("end", () => resolve(text));
    res.on("error", (err: NodeJS.ErrnoException) => reject(socketFailure(err)));
    res.on("aborted", () => reject(new HttpFailure("unreachable", "BMC closed the connection mid-reply")));
  });
}

/**
 * One request, no retries, no redirects. Resolves with any HTTP status (the caller decides what a
 * 4xx means); rejects with an HttpFailure for socket, TLS, timeout and JSON problems.
 */
export function redfishRequest(
  endpoint: RedfishEndpoint,
  method: "GET" | "POST",
  path: string,
  json: unknown,
  timeoutMs: number,
): Promise<RedfishReply> {
  const payload = json === undefined ? undefined : JSON.stringify(json);
  const options: RequestOptions = {
    host: endpoint.address,
    port: endpoint.port,
    method,
    path,
    agent: false, // one connection per call: BMCs drop idle keep-alive connections at will
    headers: {
      Accept: "application/json",
      Authorization: endpoint.authorization,
      "OData-Version": "4.0",
      ...(payload === undefined
        ? {}
        : { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) }),
    },
    ...(endpoint.scheme === "https"
      ? {
          rejectUnauthorized: !endpoint.insecureTls,
          ...(endpoint.ca === undefined ? {} : { ca: endpoint.ca }),
          servername: /^[\d.]+$|:/.test(endpoint.address) ? undefined : endpoint.address,
        }
      : {}),
  };
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome();
    };
    const req = (endpoint.scheme === "https" ? httpsRequest : httpRequest)(options, (res) => {
      readBody(res).then(
        (text) =>
          finish(() => {
            const statusCode = res.statusCode ?? 0;
            if (text.trim() === "") return resolve({ statusCode, body: undefined });
            try {
              resolve({ statusCode, body: JSON.parse(text) as unknown });
            } catch {
              // An error page from a proxy or a BMC's web UI is not worth failing the status on.
              if (statusCode >= 400) return resolve({ statusCode, body: undefined });
              reject(new HttpFailure("protocol", `${method} ${path}: reply is not JSON`));
            }
          }),
        (err: unknown) => finish(() => reject(err)),
      );
    });
    const timer = setTimeout(() => {
      finish(() => reject(new HttpFailure("timeout", `no reply within ${timeoutMs} ms`)));
      req.destroy();
    }, timeoutMs);
    req.on("error", (err: NodeJS.ErrnoException) => finish(() => reject(socketFailure(err))));
    req.end(payload);
  });
}
