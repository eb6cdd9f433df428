import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { Elysia } from "elysia";
import { KeyLimits } from "../../events/catalog/key.ts";
import { availability } from "../../events/projections/health.ts";
import { spentBy } from "../../events/projections/keys.ts";
import { explain, stepText } from "../routing/explain.ts";
import { gatewayError, type GatewayError } from "../errors.ts";
import type { Gateway } from "../gateway.ts";
import { createKey, limitProblem, publicKey, revokeKey, sameSecret } from "../keys/keys.ts";
import { modelInfo } from "../models/catalog.ts";
import { readJson } from "../pipeline/body.ts";
import { credentialOf } from "../pipeline/plugins.ts";
import { errorResponse } from "../pipeline/respond.ts";
import { routeTargets } from "../routing/resolve.ts";
import { routeTargetLists } from "../../schemas/config.ts";

// The control plane (SPEC §4): /api/*, behind the admin key (compared in constant time). Errors
// in OpenAI's shape. Every change made here is an event; nothing here ever shows key material —
// provider keys, header values or caller keys (a new caller key is shown once, when created).

const NewKeyBody = Type.Composite([Type.Object({ name: Type.String({ minLength: 1, maxLength: 128 }) }), KeyLimits], { additionalProperties: false });

function originHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

/** Errors of the admin API: OpenAI's shape. */
export function adminError(gw: Gateway, error: GatewayError): Response {
  return errorResponse(gw.codecs.get("openai-chat")!, error);
}

/** The admin key's check for any /api route: undefined to go on, or the refusal. */
export function adminGuard(gw: Gateway): (request: Request) => Response | undefined {
  const fail = (error: GatewayError) => adminError(gw, error);
  return (request) => {
    // No browser page of another origin may drive the admin API, even holding the key (T24).
    const origin = request.headers.get("origin");
    if (origin !== null && originHost(origin) !== new URL(request.url).host) {
      return fail(gatewayError("permission", "cross-origin requests to the admin API are refused"));
    }
    const admin = gw.config.admin_key;
    if (!admin) return fail(gatewayError("permission", "the admin API is off: set admin_key in the config"));
    const given = credentialOf(request);
    if (given === undefined || !sameSecret(given, admin)) return fail(gatewayError("authentication", "invalid or missing admin key"));
    return undefined;
  };
}

export function adminRoutes(gw: Gateway) {
  const fail = (error: GatewayError) => adminError(gw, error);
  const guard = adminGuard(gw);
  const health = () => gw.projections.get("health");

  return new Elysia({ name: "admin", prefix: "/api" })
    .onBeforeHandle(({ request }) => guard(request))
    .get("/keys", () => {
      const state = gw.projections.get("keys");
      const now = Date.now();
      return Response.json({ data: Object.values(state.keys).map((k) => ({ ...publicKey(k), spent_usd: spentBy(state, k.id, now) })) });
    })
    .post("/keys", async ({ request }) => {
      const read = await readJson(request, 64 * 1024);
      if ("kind" in read) return fail(read);
      if (!Value.Check(NewKeyBody, read.body)) {
        const first = Value.Errors(NewKeyBody, read.body).First();
        return fail(gatewayError("invalid_request", `${first?.path || "body"}: ${first?.message ?? "invalid"}`, first?.path ? { param: first.path.slice(1) } : {}));
      }
      const fields = read.body as Static<typeof NewKeyBody>;
      const problem = limitProblem(fields);
      if (problem) return fail(gatewayError("invalid_request", `${problem.field}: ${problem.message}`, { param: problem.field }));
      const { id, secret } = await createKey(gw.log, fields, "api");
      return Response.json({ id, key: secret, ...fields }, { status: 201 });
    }, { parse: "none" })
    .delete("/keys/:id", async ({ params }) => {
      const state = gw.projections.get("keys");
      if (!Object.hasOwn(state.keys, params.id)) return fail(gatewayError("not_found", "no such key"));
      const revoked = await revokeKey(gw.log, state, params.id, "api");
      return Response.json({ id: params.id, revoked: true, already: !revoked });
    })
    .get("/providers", () => {
      const now = Date.now();
      const state = health();
      return Response.json({
        data: gw.config.providers.map((p) => ({
          id: p.id, kind: p.kind, base_url: p.base_url ?? null, models: p.models,
          // Header names only: their values may be credentials.
          headers: Object.keys(p.headers), has_api_key: p.api_key !== undefined && p.api_key !== "",
          health: state.providers[p.id] ?? null,
          available: availability(state, `${p.id}/`, p.id, now),
          targets: Object.fromEntries(Object.entries(state.targets).filter(([t]) => t.startsWith(`${p.id}/`))),
        })),
      });
    })
    .get("/routes", () => {
      const now = Date.now();
      const state = health();
      return Response.json({
        data: gw.config.routes.map((route) => ({
          name: route.name, strategy: route.strategy ?? "priority", affinity: route.affinity,
          lists: routeTargetLists(route).map((list) => ({
            path: list.path.join("."),
            targets: routeTargets(gw.config, list.targets).map((t) => ({
              target: t.id, weight: t.weight, context: modelInfo(t.provider, t.model).context ?? null,
              available: availability(state, t.id, t.provider.id, now), health: state.targets[t.id] ?? null,
            })),
          })),
        })),
        aliases: gw.config.aliases,
      });
    })
    .get("/requests/:id", ({ params }) => {
      const events = gw.log.forRequest(params.id);
      if (events.length === 0) return fail(gatewayError("not_found", "no such request"));
      // Each step also in plain words, as `sluice replay --request` prints it (the dashboard shows these).
      const trail = explain(events);
      return Response.json({ id: params.id, trail: trail.steps.map((step) => ({ ...step, text: stepText(step, trail) })), events });
    });
}
