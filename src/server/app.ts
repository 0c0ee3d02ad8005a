// Builds the server: fastify with TypeBox validation, the OpenAPI document and its interactive docs
// at /api/docs, every route under /api/v1 behind its access rule, health and /metrics at the root,
// and the first admin token on a fresh database (there is no other way in).
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { Ajv } from "ajv";
import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import type { Store } from "../store/open.ts";
import { installAuth } from "./auth.ts";
import type { ServerContext } from "./context.ts";
import { installErrorHandler } from "./errors.ts";
import { EventBus } from "./event-bus.ts";
import { newId } from "./inventory.ts";
import { agentRoutes } from "./routes/agent.ts";
import { clusterRoutes } from "./routes/clusters.ts";
import { datastoreRoutes } from "./routes/datastores.ts";
import { eventRoutes } from "./routes/events.ts";
import { hostRoutes } from "./routes/hosts.ts";
import { type HttpCounters, metaRoutes } from "./routes/meta.ts";
import { offeringRoutes } from "./routes/offerings.ts";
import { oobmRoutes } from "./routes/oobm.ts";
import { ruleRoutes } from "./routes/rules.ts";
import { settingRoutes } from "./routes/settings.ts";
import { tokenRoutes } from "./routes/tokens.ts";
import { vmRoutes } from "./routes/vms.ts";
import { zoneRoutes } from "./routes/zones.ts";
import { newToken, SecretBox, sha256 } from "./secrets.ts";

export const apiPrefix = "/api/v1";
export const adminTokenFile = "admin.token";

export interface ServerOptions {
  store: Store;
  /** Holds the secret key (unless `secretKeyFile`) and the first admin token. */
  dataDir: string;
  /** The key that encrypts BMC passwords and cluster secrets. Servers sharing a database share it. */
  secretKeyFile?: string;
  /** The first admin token on a fresh database; random when not given. */
  initialAdminToken?: string;
  logger?: FastifyServerOptions["logger"];
  https?: { cert: Buffer; key: Buffer } | null;
  version: string;
  now?: () => Date;
  /** How often the event stream looks for events other servers wrote. */
  eventPollMs?: number;
}

export interface VigilServer {
  app: FastifyInstance;
  ctx: ServerContext;
  /** Set only when this start created the first admin token. */
  createdAdminToken: string | null;
  close(): Promise<void>;
}

/** On a database without tokens, creates the `admin` token and writes it to `<dataDir>/admin.token`. */
async function ensureAdminToken(ctx: ServerContext, dataDir: string, given: string | undefined) {
  const any = await ctx.store.db.selectFrom("tokens").select("id").limit(1).executeTakeFirst();
  if (any !== undefined) return null;
  const token = given ?? newToken("admin");
  if (token.length < 16) throw new Error("VIGIL_ADMIN_TOKEN must be at least 16 characters");
  await ctx.store.db
    .insertInto("tokens")
    .values({
      id: newId(),
      name: "admin",
      role: "admin",
      token_hash: sha256(token),
      created_at: ctx.now().toISOString(),
    })
    .execute();
  const file = join(dataDir, adminTokenFile);
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return token;
}

/**
 * Query strings and paths are text, so their numbers and booleans are coerced; JSON bodies are not:
 * `{"cpus": "4"}` or `{"name": 3}` is a wrong type and is refused, naming the field.
 */
function installValidators(app: FastifyInstance): void {
  const common = { allErrors: false, useDefaults: true, removeAdditional: false, strict: false } as const;
  const text = new Ajv({ ...common, coerceTypes: "array" });
  const json = new Ajv({ ...common, coerceTypes: false });
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === "body" ? json : text).compile(schema as object),
  );
}

export async function buildServer(options: ServerOptions): Promise<VigilServer> {
  const now = options.now ?? (() => new Date());
  const app = Fastify({
    logger: options.logger ?? false,
    ...(options.https ? { https: options.https } : {}),
    // Inventory bodies are small; anything bigger is a mistake or an attack.
    bodyLimit: 1024 * 1024,
  }) as unknown as FastifyInstance;
  installValidators(app);
  const secrets = SecretBox.fromFile(options.secretKeyFile ?? join(options.dataDir, "secret.key"));
  const events = new EventBus(options.store.db, now, options.eventPollMs);
  const ctx: ServerContext = { store: options.store, secrets, events, log: app.log, now };
  const http: HttpCounters = { requests: new Map() };

  installErrorHandler(app);
  installAuth(app, ctx);
  app.addHook("onResponse", async (request, reply) => {
    const route = request.routeOptions.url ?? "unmatched";
    const key = [request.method, route, reply.statusCode].join("\u0000");
    http.requests.set(key, (http.requests.get(key) ?? 0) + 1);
  });

  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "Vigil management API",
        version: options.version,
        description:
          "Inventory, HA policy, out-of-band management and events of Vigil HA clusters. " +
          "Send `Authorization: Bearer <token>`; the first admin token is in the data directory's admin.token.",
      },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: "/api/docs" });

  metaRoutes(app, ctx, http, options.version);
  await app.register(
    async (api) => {
      for (const routes of [
        zoneRoutes,
        clusterRoutes,
        hostRoutes,
        oobmRoutes,
        datastoreRoutes,
        offeringRoutes,
        vmRoutes,
        ruleRoutes,
        settingRoutes,
        tokenRoutes,
        eventRoutes,
        agentRoutes,
      ])
        routes(api, ctx);
    },
    { prefix: apiPrefix },
  );

  await events.start();
  const createdAdminToken = await ensureAdminToken(ctx, options.dataDir, options.initialAdminToken);
  return {
    app,
    ctx,
    createdAdminToken,
    close: async () => {
      events.stop();
      await app.close();
    },
  };
}

/** Reads `<dataDir>/admin.token` when it exists (what `vigil` uses when run on the server). */
export function readAdminToken(dataDir: string): string | null {
  const file = join(dataDir, adminTokenFile);
  return existsSync(file) ? readFileSync(file, "utf8").trim() : null;
}
