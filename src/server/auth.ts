// Who may call what. Users carry API tokens with one of three roles; agents carry the credential
// they got at enrollment, which is good only on the agent endpoints (and user tokens are not good
// there). Every route states the least role it needs in its config; none is open by accident.
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ServerContext } from "./context.ts";
import { ApiError } from "./errors.ts";
import { sha256 } from "./secrets.ts";

export const roles = {
  viewer: "reads everything but secrets",
  operator: "also powers VMs and hosts on and off, and moves hosts in and out of maintenance",
  admin: "also changes inventory, policy, out-of-band settings, global settings and tokens",
} as const;
export type Role = keyof typeof roles;

/** What a route needs: a user role, an agent credential, or nothing (health, enrollment, metrics). */
export type Access = Role | "agent" | "public";

const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export interface Caller {
  kind: "user" | "agent";
  /** The token's name, or the agent's host name. */
  name: string;
  role: Role | null;
  /** For agents. */
  hostId: string | null;
  clusterId: string | null;
}

declare module "fastify" {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    caller: Caller | null;
  }
}

function bearer(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    return match === null ? null : match[1]!;
  }
  // EventSource cannot set headers: the SSE stream also takes ?token=.
  const q = (request.query as Record<string, unknown> | undefined)?.token;
  return typeof q === "string" ? q : null;
}

export function installAuth(app: FastifyInstance, ctx: ServerContext): void {
  app.decorateRequest("caller", null);
  app.addHook("onRequest", async (request) => {
    const access = request.routeOptions.config.access;
    if (access === undefined) {
      // The not-found handler and fastify's own routes (docs) have no access set.
      return;
    }
    if (access === "public") return;
    const token = bearer(request);
    if (token === null)
      throw new ApiError("unauthenticated", "this call needs a token: Authorization: Bearer <token>");
    const hash = sha256(token);
    if (access === "agent") {
      const host = await ctx.store.db
        .selectFrom("hosts")
        .select(["id", "name", "cluster_id"])
        .where("agent_credential_hash", "=", hash)
        .executeTakeFirst();
      if (host === undefined)
        throw new ApiError("unauthenticated", "unknown agent credential (user tokens are not accepted here)");
      request.caller = {
        kind: "agent",
        name: host.name,
        role: null,
        hostId: host.id,
        clusterId: host.cluster_id,
      };
      return;
    }
    const row = await ctx.store.db
      .selectFrom("tokens")
      .select(["name", "role"])
      .where("token_hash", "=", hash)
      .executeTakeFirst();
    if (row === undefined) throw new ApiError("unauthenticated", "unknown token");
    const role = row.role as Role;
    if (rank[role] < rank[access])
      throw new ApiError("forbidden", `this call needs the ${access} role; token ${row.name} is ${role}`);
    request.caller = { kind: "user", name: row.name, role, hostId: null, clusterId: null };
  });
}

/** "user:<token name>" or "agent:<host>", for the events a call causes. */
export function sourceOf(request: FastifyRequest): string {
  const c = request.caller;
  return c === null ? "server" : `${c.kind}:${c.name}`;
}
