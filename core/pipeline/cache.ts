import { CacheHit, CacheStored } from "../../events/catalog/cache.ts";
import { RequestCancelled, RequestCompleted, RequestFailed } from "../../events/catalog/request.ts";
import type { RouteConfig } from "../../schemas/config.ts";
import { statusOf } from "../errors.ts";
import type { Gateway } from "../gateway.ts";
import type { FinishReason, Request, StreamEvent } from "../ir.ts";
import { costOf } from "../models/catalog.ts";
import type { RequestContext } from "./attempt.ts";
import { cacheKey, canonicalJson, type CacheEntry } from "./cache-store.ts";
import type { DialectId } from "../dialects/codec.ts";
import { createHash } from "node:crypto";
import { CaptureBuffer, captureBodies } from "./capture.ts";
import type { Frame } from "./frame.ts";
import { responseEvents } from "./ir-stream.ts";
import { logLine } from "./respond.ts";
import { irSource, pump, type StreamOutcome } from "./stream.ts";

// The exact response cache, a route's `cache`: after the request plugins ran (so the key sees
// the request as it would go upstream), an identical request of the same caller within the TTL
// is answered from memory, with no attempt; otherwise a whole answer that went well is kept for
// the next one. A hit is on record as `cache.hit` (what it saved) and `request.completed` with
// attempts 0 and `cached`, committed before the answer's last byte, like any answer.

/** How the cache takes part in one request. */
export interface CachePlan {
  route: string;
  settings: NonNullable<RouteConfig["cache"]>;
  key: string;
  /** The kept answer to serve, when there is one. */
  hit?: CacheEntry;
}

/** Only answers that ended as the model meant them are kept (not an error or a filter's cut). */
const KEPT: ReadonlySet<FinishReason> = new Set(["stop", "length", "tool-calls"]);

const OFF = new Set(["off", "false", "0", "no"]);

/**
 * A request for several choices (OpenAI chat's `n`, Gemini's `candidateCount`): the IR answer
 * holds one, so such a request is neither served nor kept.
 */
function manyChoices(request: Request): boolean {
  const n = request.extra.n;
  const config = request.extra.generationConfig as { candidateCount?: unknown } | undefined;
  return (typeof n === "number" && n > 1) || (typeof config?.candidateCount === "number" && config.candidateCount > 1);
}

/**
 * The cache's part in a request: undefined when its route does not cache, its header
 * `x-sluice-cache: off` says not to, or it cannot be kept; else its key and any live answer.
 */
export function cachePlan(
  gw: Gateway, route: RouteConfig | undefined, header: string | null, scope: string, model: string, request: Request,
  client: { dialect: DialectId; raw: string },
): CachePlan | undefined {
  const settings = route?.cache;
  if (!route || !settings || OFF.has(header?.trim().toLowerCase() ?? "") || manyChoices(request)) return undefined;
  const key = cacheKey(scope, model, request, client);
  const shelf = shelfOf(gw, route);
  const hit = gw.cache.get(shelf, key);
  return { route: shelf, settings, key, ...(hit ? { hit } : {}) };
}

const shelves = new WeakMap<RouteConfig, string>();

/**
 * The shelf a route's answers are kept on: its name and a digest of its settings and of the
 * providers (credentials left out), so answers made before a reload that changed where the route
 * goes (targets, models, URLs) are never served after it.
 */
function shelfOf(gw: Gateway, route: RouteConfig): string {
  let shelf = shelves.get(route);
  if (shelf === undefined) {
    const providers = gw.config.providers.map(({ api_key: _key, headers: _headers, ...rest }) => rest);
    shelf = `${route.name}#${createHash("sha256").update(canonicalJson([route, providers])).digest("hex").slice(0, 16)}`;
    shelves.set(route, shelf);
  }
  return shelf;
}

/** After a reload: forget every shelf the routes in force no longer use. */
export function pruneCache(gw: Gateway): void {
  gw.cache.keepOnly(new Set(gw.config.routes.filter((r) => r.cache).map((r) => shelfOf(gw, r))));
}

/** The `keep` hook of a request that missed: keeps its answer if it went well (`cache.stored`). */
export function keeper(gw: Gateway, request: string, plan: CachePlan, dialect: RequestContext["codec"]["id"]): NonNullable<RequestContext["keep"]> {
  return ({ response, raw }, target) => {
    if (!KEPT.has(response.finishReason)) return;
    const now = gw.cache.now();
    const cost = response.usage ? costOf(target.provider, target.model, response.usage) : undefined;
    const bytes = Buffer.byteLength(JSON.stringify(response)) + (raw !== undefined ? Buffer.byteLength(raw) : 0);
    const entry: CacheEntry = {
      response, ...(raw !== undefined ? { raw: { dialect, text: raw } } : {}),
      ...(response.usage ? { usage: response.usage } : {}), ...(cost !== undefined ? { costUsd: cost } : {}),
      target: target.id, provider: target.provider.id, model: target.model,
      request, createdAt: now, expiresAt: now + plan.settings.ttl_s * 1000, bytes,
    };
    if (gw.cache.put(plan.route, plan.key, entry, plan.settings)) {
      void gw.log.append(CacheStored, { request, key: plan.key, expires_at: entry.expiresAt, bytes });
    }
  };
}

/** Answer from the cache: no attempt, the kept answer encoded for this client, stream or not. */
export async function serveCached(frame: Frame, ctx: RequestContext, plan: CachePlan & { hit: CacheEntry }, publicModel: string): Promise<globalThis.Response> {
  const { gw, codec, id, ir } = ctx;
  const { hit: entry, key } = plan;
  const headers = frame.headers;
  headers["x-sluice-cache"] = "hit";
  headers["x-sluice-attempts"] = "0";
  headers["x-sluice-provider"] = entry.provider;
  headers["x-sluice-model"] = entry.model;
  const served = { target: entry.target, provider: entry.provider, model: entry.model };
  void gw.log.append(CacheHit, {
    request: id, key, source_request: entry.request, ...served, age_ms: Math.max(0, Math.round(gw.cache.now() - entry.createdAt)),
    saved_input_tokens: entry.usage?.inputTokens ?? 0, saved_output_tokens: entry.usage?.outputTokens ?? 0,
    ...(entry.costUsd !== undefined ? { saved_usd: entry.costUsd } : {}),
  });
  // An answer the gateway names (Responses API) gets this request's name, and is stored as its turn.
  const response = ctx.responseId ? { ...entry.response, id: ctx.responseId } : entry.response;
  ctx.answered?.(response.content);
  const completed = { request: id, ...served, status: 200, attempts: 0, finish_reason: response.finishReason, cached: true as const };
  const line = { request: id, model: publicModel, target: entry.target, status: 200, attempts: 0, cached: true };

  if (!ir.stream) {
    const text = entry.raw?.dialect === codec.id && !ctx.responseId ? entry.raw.text : JSON.stringify(codec.encodeResponse(response, publicModel));
    const ms = frame.elapsed();
    // The durability rule: on record before the answer is sent.
    await gw.log.commit(RequestCompleted, { ...completed, stream: false, ttfb_ms: ms, total_ms: ms }, { alone: gw.inFlight === 1 }).catch(() => {});
    captureBodies(ctx, text);
    logLine(gw, { ...line, ms });
    return new Response(text, { status: 200, headers: { ...headers, "content-type": "application/json" } });
  }

  let ttfb = 0;
  const captured = ctx.route?.capture ? new CaptureBuffer(ctx.route.capture.max_bytes) : undefined;
  const terminal = (outcome: StreamOutcome): Promise<void> => {
    const total = frame.elapsed();
    switch (outcome.kind) {
      case "completed":
        logLine(gw, { ...line, ms: total, stream: true });
        return gw.log.commit(RequestCompleted, { ...completed, stream: true, ttfb_ms: ttfb || total, total_ms: total });
      case "failed":
        logLine(gw, { ...line, status: statusOf(outcome.error), reason: outcome.error.kind, ms: total, stream: true });
        return gw.log.commit(RequestFailed, {
          request: id, ...served, status: statusOf(outcome.error), reason: outcome.error.kind, message: outcome.error.message, attempts: 0, total_ms: total,
        });
      case "cancelled":
        logLine(gw, { ...line, status: 499, ms: total, stream: true });
        return gw.log.commit(RequestCancelled, { request: id, ...served, status: 499, attempts: 0, total_ms: total, streamed_chars: outcome.sent });
    }
  };
  // The stream's end settles the caller's admission, after this handler has returned.
  frame.streaming = true;
  const events = (async function* (): AsyncGenerator<StreamEvent> {
    yield* responseEvents(response);
  })();
  const body = pump(irSource(events, codec, { model: publicModel, includeUsage: ir.streamUsage === true }), codec, {
    firstByte: () => {
      ttfb = frame.elapsed();
    },
    ...(captured ? { sent: (text: string) => captured.add(text) } : {}),
    terminal: async (outcome) => {
      try {
        await terminal(outcome);
      } finally {
        ctx.settle?.();
        if (captured) setTimeout(() => captureBodies(ctx, captured.text, captured.size), 0);
      }
    },
  });
  return new Response(body, {
    status: 200,
    headers: { ...headers, "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" },
  });
}
