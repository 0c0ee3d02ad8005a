// One error shape for every failure the API returns: { error: { code, message, field? } }, where
// `field` names the bad input (`body.cpus`, `params.id`, `query.limit`).
import type { FastifyError, FastifyInstance } from "fastify";

export const errorCodes = {
  invalidInput: "the request body, path or query does not match the schema",
  unauthenticated: "no token, or a token the server does not know",
  forbidden: "the token's role does not allow this",
  notFound: "no such resource",
  conflict: "the change clashes with the current state (a duplicate name, a resource in use)",
  refused: "the action was judged and refused (admission control, HA state)",
  unavailable: "a part the action needs (a BMC, the database) did not answer",
  internal: "a bug: the server logged it",
} as const;
export type ErrorCode = keyof typeof errorCodes;

const statusOf: Record<ErrorCode, number> = {
  invalidInput: 400,
  unauthenticated: 401,
  forbidden: 403,
  notFound: 404,
  conflict: 409,
  refused: 409,
  unavailable: 503,
  internal: 500,
};

export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
  get status(): number {
    return statusOf[this.code];
  }
}

export const notFound = (what: string, key: string) => new ApiError("notFound", `no ${what} "${key}"`);
export const invalid = (field: string, message: string) =>
  new ApiError("invalidInput", `${field}: ${message}`, field);

/** fastify's validation errors carry `instancePath` like `/cpus`; this names the field `body.cpus`. */
function validationField(error: FastifyError): string {
  const first = error.validation?.[0];
  const context = error.validationContext ?? "body";
  const where = context === "querystring" ? "query" : context;
  if (first === undefined) return where;
  let path = first.instancePath.replace(/^\//, "").replaceAll("/", ".");
  const params = first.params as { missingProperty?: string; additionalProperty?: string };
  const extra = params.missingProperty ?? params.additionalProperty;
  if (extra !== undefined) path = path === "" ? extra : `${path}.${extra}`;
  return path === "" ? where : `${where}.${path}`;
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof ApiError) {
      return reply.status(error.status).send({
        error: { code: error.code, message: error.message, ...(error.field ? { field: error.field } : {}) },
      });
    }
    if (error.validation !== undefined) {
      const field = validationField(error);
      const first = error.validation[0];
      const params = first?.params as { additionalProperty?: string } | undefined;
      const detail =
        params?.additionalProperty !== undefined ? "is not a known field" : (first?.message ?? error.message);
      return reply
        .status(400)
        .send({ error: { code: "invalidInput", message: `${field} ${detail}`, field } });
    }
    if (error.statusCode === 400 || error.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
      // Malformed JSON, empty bodies with a JSON content type, wrong content types.
      return reply
        .status(400)
        .send({ error: { code: "invalidInput", message: error.message, field: "body" } });
    }
    if (error.statusCode === 413 || error.statusCode === 415) {
      return reply
        .status(error.statusCode)
        .send({ error: { code: "invalidInput", message: error.message, field: "body" } });
    }
    request.log.error({ err: error }, "unhandled error");
    return reply
      .status(500)
      .send({ error: { code: "internal", message: "internal error; see the server log" } });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({
      error: { code: "notFound", message: `no route ${request.method} ${request.url.split("?")[0]}` },
    }),
  );
}
