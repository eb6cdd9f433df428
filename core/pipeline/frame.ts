import {
  AttemptFailed, AttemptStarted, AttemptSucceeded, RequestCancelled, RequestFailed, RequestReceived,
} from "../../events/catalog/request.ts";
import { EgressBlocked, RouteDecided } from "../../events/catalog/routing.ts";
import type { Codec } from "../dialects/codec.ts";
import { gatewayError, isGatewayError, statusOf, type GatewayError } from "../errors.ts";
import type { Gateway } from "../gateway.ts";
import type { ExecutorPlugin } from "../plugins/hooks.ts";
import { decide, type RouteInput } from "../routing/decide.ts";
import type { Target } from "../routing/resolve.ts";
import type { RouteConfig } from "../../schemas/config.ts";
import { modelInfo, type Price } from "../models/catalog.ts";
import { keyAllows } from "../keys/keys.ts";
import type { Admission } from "../keys/limits.ts";
import { spentBy, type CallerKey } from "../../events/projections/keys.ts";
import { ruleFor, safeToRetry } from "../routing/fallback.ts";
import { readJson } from "./body.ts";
import { authenticate } from "./plugins.ts";
import { errorResponse, logLine, type Headers } from "./respond.ts";

// What every data-plane request shares, whatever it asks for (a generation, embeddings):
// its id and headers, admission (body, JSON, decode, auth, routing, `request.received`
// committed before any upstream is called), the attempts over its targets with fallback, and
// its failure record. Every way out leaves exactly one terminal event.

export interface Frame {
  gw: Gateway;
  id: string;
  /** The client's dialect, for errors. */
  codec: Codec;
  /** The dialect name recorded in events (a codec id, or e.g. "openai-embeddings"). */
  dialect: string;
  endpoint: string;
  headers: Headers;
  /** ms since the request arrived */
  elapsed(): number;
  /** The caller key's admission (rate limits, budget reservation), while it holds one. */
  admission?: Admission;
  /** The key's budget, for the mid-stream check (see overBudget). */
  budget?: { key: CallerKey; inputTokens: number; price?: Price };
  /** The answer streams on after the handler returned: the stream's end settles the admission. */
  streaming?: boolean;
  /**
   * The request is over (once): it leaves the in-flight count, and its admission goes back with
   * the output tokens the answer used. A stream's end calls it, else the handler's return.
   */
  settle(outputTokens?: number): void;
}

/** Run `handle` for one request, with its id, in-flight count, and a dialect 500 for a gateway bug. */
export async function withFrame(
  gw: Gateway, codec: Codec, dialect: string, endpoint: string, handle: (frame: Frame) => Promise<globalThis.Response>,
): Promise<globalThis.Response> {
  const started = performance.now();
  const id = `req_${Bun.randomUUIDv7("hex").replaceAll("-", "")}`;
  let settled = false;
  const frame: Frame = {
    gw, id, codec, dialect, endpoint,
    headers: { "x-sluice-request-id": id, "x-sluice-attempts": "0" },
    elapsed: () => Math.round((performance.now() - started) * 1000) / 1000,
    settle(outputTokens) {
      if (settled) return;
      settled = true;
      // A stream is in flight until its end, not until its handler returned (limits.max_in_flight).
      gw.inFlight--;
      frame.admission?.release(outputTokens);
    },
  };
  gw.inFlight++;
  try {
    return await handle(frame);
  } catch (error) {
    // A bug, not a request's fault: answer in the dialect, keep the record whole, no stack to the client.
    gw.logger.error({ request: id, err: error instanceof Error ? error.message : String(error) }, "request failed inside the gateway");
    await gw.log.commit(RequestFailed, { request: id, status: 500, reason: "internal", message: "internal error", attempts: 0, total_ms: frame.elapsed() }).catch(() => {});
    frame.streaming = false;
    return errorResponse(codec, gatewayError("internal", "internal error"), { "x-sluice-request-id": id });
  } finally {
    if (!frame.streaming) frame.settle();
  }
}

/**
 * A streamed answer's running cost against its key's budget: the error to end the stream with
 * once what the key spent, what its other requests reserved, and this answer so far (its
 * output estimated at 4 characters a token) cross the budget.
 */
export function overBudget(frame: Frame, outputChars: number): GatewayError | undefined {
  const budget = frame.budget;
  if (!budget?.price || budget.key.budget_usd === undefined) return undefined;
  const spent = spentBy(frame.gw.projections.get("keys"), budget.key.id, Date.now());
  const cost = (budget.inputTokens * budget.price.input + (outputChars / 4) * budget.price.output) / 1e6;
  if (spent + (frame.admission?.othersReserved() ?? 0) + cost <= budget.key.budget_usd) return undefined;
  return gatewayError("rate_limited", `this key's budget of $${budget.key.budget_usd} per ${budget.key.budget_period ?? "total"} ran out during the answer`, { code: "insufficient_quota" });
}

/**
 * What a request may cost at most, on whichever of its targets answers (a fallback may be dearer
 * than the first): its input and its output limit at the dearest target's price, and that price
 * (for the mid-stream check). 0 when no target's price is known.
 */
function maxCost(targets: Target[], facts: RouteFacts): { usd: number; price?: Price } {
  let most: { usd: number; price?: Price } = { usd: 0 };
  for (const target of targets) {
    const info = modelInfo(target.provider, target.model);
    if (!info.price) continue;
    const output = facts.maxTokens ?? info.maxOutput ?? 4096;
    const usd = (facts.inputTokens * info.price.input + output * info.price.output) / 1e6;
    if (most.price === undefined || usd > most.usd) most = { usd, price: info.price };
  }
  return most;
}

function hostOf(url: string | undefined): string {
  try {
    return url ? new URL(url).host : "";
  } catch {
    return "";
  }
}

/** Longer model names than any provider uses are refused (they travel in headers and URLs). */
export const MAX_MODEL_CHARS = 256;

/** Body fields with which other gateways let a caller pick the upstream URL (SSRF; RELIABILITY T26). */
const UPSTREAM_FIELDS = ["api_base", "base_url", "baseURL", "base_path", "api_url", "endpoint"];

function upstreamField(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return undefined;
  return UPSTREAM_FIELDS.find((field) => Object.hasOwn(body, field));
}

/** Refuse a request that was never admitted: received and failed are recorded together. */
export async function reject(frame: Frame, error: GatewayError, model = "", stream = false): Promise<globalThis.Response> {
  const { gw, id } = frame;
  await Promise.all([
    gw.log.append(RequestReceived, { request: id, dialect: frame.dialect, endpoint: frame.endpoint, model, stream, candidates: [] }),
    gw.log.commit(RequestFailed, { request: id, status: statusOf(error), reason: error.kind, message: error.message, attempts: 0, total_ms: frame.elapsed() }),
  ]).catch(() => {});
  logLine(gw, { request: id, model, status: statusOf(error), reason: error.kind, ms: frame.elapsed() });
  return errorResponse(frame.codec, error, frame.headers);
}

/** Fail an admitted request before any attempt (e.g. its cloak failed). */
export async function failEarly(frame: Frame, error: GatewayError): Promise<globalThis.Response> {
  await frame.gw.log.commit(RequestFailed, {
    request: frame.id, status: statusOf(error), reason: error.kind, message: error.message, attempts: 0, total_ms: frame.elapsed(),
  }).catch(() => {});
  return errorResponse(frame.codec, error, frame.headers);
}

export interface Admitted<D> {
  decoded: D;
  raw: string;
  model: string;
  targets: Target[];
  /** The route the model named, if any (its timeouts apply). */
  route?: RouteConfig;
  /**
   * Who is calling, for what may be shared between requests (the response cache): `key:ID` for
   * a caller key, `caller:NAME` for an auth plugin's caller, "" for an open gateway.
   */
  scope: string;
  /**
   * Every target was skipped as cooling down or ejected (not: the prompt fits none): the error to
   * answer with unless the route's response cache holds the answer. Only when the caller said it
   * may serve from the cache (`mayServeCached`) and the route caches; `targets` is then empty.
   */
  unroutable?: GatewayError;
}

/** What routing needs to know of a decoded request. */
export type RouteFacts = Pick<RouteInput, "inputTokens" | "maxTokens" | "ir">;

/** The round-robin position of the next decision of `route`: decisions so far, counted live from the projection's start value. */
function nextPosition(gw: Gateway, route: string): number {
  let position = gw.routePositions.get(route);
  if (position === undefined) position = gw.projections.get("routing").decisions[route] ?? 0;
  gw.routePositions.set(route, position + 1);
  return position;
}

/**
 * Read, parse and decode the body, authenticate, resolve the targets, and put the request on
 * record. Returns the response to send instead when the request is refused.
 */
export async function admit<D extends { model: string; stream?: boolean }>(
  frame: Frame, http: globalThis.Request,
  options: {
    bodyRead?: () => void;
    /** Fields a route adds to the parsed body before decoding, from the URL (Gemini's model and stream). */
    fromUrl?: Record<string, unknown>;
    /** The model named in the URL, recorded when the body cannot be read. */
    urlModel?: string;
    decode: (body: unknown) => D | GatewayError;
    /** What routing needs of the decoded request. */
    facts: (decoded: D) => RouteFacts;
    /** The caller can answer from the route's response cache when no target can be tried. */
    mayServeCached?: boolean;
  },
): Promise<Admitted<D> | globalThis.Response> {
  const { gw } = frame;
  const urlModel = options.urlModel ?? (typeof options.fromUrl?.model === "string" ? options.fromUrl.model : "");
  if (!gw.accepting) {
    return errorResponse(frame.codec, gatewayError("unavailable", "Sluice is shutting down or its event log is unavailable", { retryAfter: 1 }), frame.headers);
  }
  // Fail fast under overload: no queue that grows without bound (RELIABILITY T10).
  if (gw.inFlight > gw.config.limits.max_in_flight) {
    return errorResponse(frame.codec, gatewayError("unavailable", `Sluice is at its limit of ${gw.config.limits.max_in_flight} requests in flight`, { retryAfter: 1 }), frame.headers);
  }
  const read = await readJson(http, gw.config.server.max_body_bytes);
  if (isGatewayError(read)) return reject(frame, read, urlModel);
  options.bodyRead?.();
  const { raw } = read;
  let { body } = read;
  const steering = upstreamField(body);
  if (steering) {
    return reject(frame, gatewayError("invalid_request", `"${steering}" cannot be set by a request: upstream URLs come only from the gateway's config`, { param: steering }), urlModel);
  }
  if (options.fromUrl && typeof body === "object" && body !== null && !Array.isArray(body)) body = { ...body, ...options.fromUrl };
  const decoded = options.decode(body);
  if (isGatewayError(decoded)) {
    const model = typeof (body as { model?: unknown })?.model === "string" ? (body as { model: string }).model : urlModel;
    return reject(frame, decoded, model.slice(0, 200));
  }
  const model = decoded.model;
  const stream = decoded.stream === true;
  // A model name travels in headers (x-sluice-model, upstream URLs): printable ASCII only, and short.
  if (!/^[\x20-\x7e]*$/.test(model)) {
    return reject(frame, gatewayError("invalid_request", "the model name must be printable ASCII", { param: "model" }), "", stream);
  }
  if (model.length > MAX_MODEL_CHARS) {
    return reject(frame, gatewayError("invalid_request", `the model name is longer than ${MAX_MODEL_CHARS} characters`, { param: "model" }), model.slice(0, 200), stream);
  }

  const auth = await authenticate(gw, http);
  if ("deny" in auth) return reject(frame, auth.deny, model, stream);
  if (auth.key && !keyAllows(auth.key, model)) {
    return reject(frame, gatewayError("permission", `this key may not use model "${model.slice(0, 200)}"`), model, stream);
  }

  const facts = options.facts(decoded);
  const now = Date.now();
  const decided = decide(
    gw.config,
    { id: frame.id, model, ...facts, position: (route) => nextPosition(gw, route) },
    { health: gw.projections.get("health"), sticky: gw.projections.get("routing").sticky, now },
  );
  if (!decided.ok && !decided.decision) return reject(frame, decided.error, model, stream);

  // Every target is cooling down (not: the prompt fits none), but an answer the route's cache
  // kept may still serve: the caller decides once it has the cache's key.
  const unroutable = !decided.ok && options.mayServeCached === true && decided.resolution?.route?.cache !== undefined
    && decided.error.retryAfter !== undefined ? decided.error : undefined;
  // The caller key's limits and budget: reserve before anything goes upstream.
  let refused: GatewayError | undefined = decided.ok || unroutable ? undefined : decided.error;
  if (auth.key && (decided.ok || unroutable)) {
    // (An answer from the cache, all that can serve an unroutable request, costs nothing.)
    const cost = maxCost(decided.ok ? decided.targets : [], facts);
    const spent = spentBy(gw.projections.get("keys"), auth.key.id, now);
    const admission = gw.limiter.admit(auth.key, now, facts.inputTokens, cost.usd, spent, gw.config.limits.key_in_flight);
    if (isGatewayError(admission)) refused = admission;
    else {
      frame.admission = admission;
      if (auth.key.budget_usd !== undefined) frame.budget = { key: auth.key, inputTokens: facts.inputTokens, ...(cost.price ? { price: cost.price } : {}) };
    }
  }

  // The durability rule, part one: the request is on record before anything goes upstream.
  try {
    void gw.log.append(RequestReceived, {
      request: frame.id, dialect: frame.dialect, endpoint: frame.endpoint, model, stream,
      candidates: decided.decision!.order, ...(auth.caller ? { caller: auth.caller } : {}),
    });
    const routed = { request: frame.id, ...decided.decision! };
    if (refused) {
      void gw.log.append(RouteDecided, routed);
      // Every target was skipped (all cooling down, or the prompt too long for all), or the
      // caller's key is over a limit: answered at once.
      const error = refused;
      await gw.log.commit(RequestFailed, { request: frame.id, status: statusOf(error), reason: error.kind, message: error.message, attempts: 0, total_ms: frame.elapsed() });
      logLine(gw, { request: frame.id, model, status: statusOf(error), reason: error.kind, ms: frame.elapsed() });
      return errorResponse(frame.codec, error, frame.headers);
    }
    await gw.log.commit(RouteDecided, routed, { alone: gw.inFlight === 1 });
  } catch {
    return errorResponse(frame.codec, gatewayError("unavailable", "the event log cannot be written", { retryAfter: 1 }), frame.headers);
  }
  const scope = auth.key ? `key:${auth.key.id}` : auth.caller !== undefined ? `caller:${auth.caller}` : "";
  const route = decided.resolution?.route ? { route: decided.resolution.route } : {};
  if (unroutable) return { decoded, raw, model, targets: [], ...route, scope, unroutable };
  if (!decided.ok) return errorResponse(frame.codec, decided.error, frame.headers); // unreachable: refused above
  return { decoded, raw, model, targets: decided.targets, ...route, scope };
}

/** One attempt's result: a value to answer with, or an error (with the upstream status, 0 if none). */
export type Attempt<S> =
  | { ok: true; value: S; status: number; adjustments?: string[] }
  | { ok: false; error: GatewayError; status: number; reason?: string; adjustments?: string[] };

export interface AttemptPlan<S> {
  targets: Target[];
  deadlineAt: number;
  publicModel: string;
  /** The client's signal: a backoff before a retry ends when the client leaves. */
  signal: AbortSignal;
  /** Whether the request goes upstream as the client's own bytes (for attempt.started). */
  passthrough(executor: ExecutorPlugin, target: Target): boolean;
  /** Call one target; `undefined` executor means no plugin serves its kind. */
  attempt(target: Target, executor: ExecutorPlugin): Promise<Attempt<S>>;
  /** Answer the client from a successful attempt; commits the terminal event. */
  answer(value: S, target: Target, attempts: number): Promise<globalThis.Response>;
}

/** Attempts from the third on (beyond the first fallback) run only within this share of requests in flight. */
export const RETRY_BUDGET = { share: 0.2, floor: 3 };

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/**
 * Try the targets in order, falling back where the rule table allows (core/routing/fallback.ts),
 * retrying the last target where that is safe, within the retry budget and the deadline; every
 * attempt is on record, with why the gateway stopped where it stopped.
 */
export async function tryTargets<S>(frame: Frame, plan: AttemptPlan<S>): Promise<globalThis.Response> {
  const { gw, id, headers } = frame;
  const { retry } = gw.config;
  let last: { error: GatewayError; target: Target } | undefined;
  let queue = [...plan.targets];
  let retries = 0;
  for (let n = 1; queue.length > 0; n++) {
    const target = queue.shift()!;
    headers["x-sluice-attempts"] = String(n);
    const executor = gw.plugins.executor(target.provider.kind);
    const attemptStarted = performance.now();
    void gw.log.append(AttemptStarted, {
      request: id, attempt: n, target: target.id, provider: target.provider.id, model: target.model,
      passthrough: executor ? plan.passthrough(executor, target) : false,
    });
    const beyondFirstFallback = n >= 3;
    if (beyondFirstFallback) gw.retriesInFlight++;
    let outcome: Attempt<S>;
    try {
      outcome = executor
        ? await plan.attempt(target, executor)
        : { ok: false, error: gatewayError("upstream_error", `no executor plugin for kind "${target.provider.kind}" is loaded`), status: 0 };
    } finally {
      if (beyondFirstFallback) gw.retriesInFlight--;
    }
    const ms = Math.round((performance.now() - attemptStarted) * 1000) / 1000;
    const adjusted = outcome.adjustments?.length ? { adjustments: outcome.adjustments } : {};
    if (outcome.ok) {
      void gw.log.append(AttemptSucceeded, { request: id, attempt: n, target: target.id, provider: target.provider.id, status: outcome.status, ttfb_ms: ms, ...adjusted });
      if (adjusted.adjustments) headers["x-sluice-adjustments"] = adjusted.adjustments.join(", ");
      headers["x-sluice-provider"] = target.provider.id;
      headers["x-sluice-model"] = target.model;
      return plan.answer(outcome.value, target, n);
    }
    const error = outcome.error;
    if (error.kind === "cancelled") {
      await gw.log.commit(RequestCancelled, { request: id, status: 499, attempts: n, total_ms: frame.elapsed(), streamed_chars: 0 }).catch(() => {});
      logLine(gw, { request: id, model: plan.publicModel, status: 499, reason: "cancelled", attempts: n, ms: frame.elapsed() });
      return errorResponse(frame.codec, error, headers);
    }

    if (error.code === "egress_blocked") {
      void gw.log.append(EgressBlocked, { request: id, target: target.id, host: hostOf(target.provider.base_url) });
    }
    const rule = ruleFor(error);
    let stopped: string | undefined;
    let retryMs: number | undefined;
    if (rule === "answer") stopped = "not-retryable";
    else if (Date.now() >= plan.deadlineAt) stopped = "deadline";
    else {
      if (rule === "larger") {
        // Only a target with a larger window can take this prompt (an unknown window may).
        const window = modelInfo(target.provider, target.model).context;
        if (window !== undefined) queue = queue.filter((t) => (modelInfo(t.provider, t.model).context ?? Infinity) > window);
      }
      if (queue.length === 0) {
        if (retries < retry.attempts && safeToRetry(error, retry.max_wait_s)) {
          const wait = error.retryAfter !== undefined ? error.retryAfter * 1000 : retry.backoff_ms * 2 ** retries * (0.8 + Math.random() * 0.4);
          if (Date.now() + wait < plan.deadlineAt) {
            retries++;
            retryMs = Math.round(wait);
            queue.push(target);
          }
        }
        if (retryMs === undefined) stopped = "no-more-targets";
      } else if (n + 1 >= 3 && gw.retriesInFlight >= Math.max(RETRY_BUDGET.floor, RETRY_BUDGET.share * gw.inFlight)) {
        stopped = "retry-budget";
      }
    }
    void gw.log.append(AttemptFailed, {
      request: id, attempt: n, target: target.id, provider: target.provider.id, status: outcome.status,
      reason: outcome.reason ?? (error.code?.startsWith("timeout:") ? error.code : error.kind), message: error.message, ms,
      fallback: stopped === undefined && retryMs === undefined, ...(stopped ? { stopped } : {}), ...(retryMs !== undefined ? { retry_ms: retryMs } : {}),
      ...(error.retryAfter !== undefined ? { retry_after: error.retryAfter } : {}), ...adjusted,
    });
    last = { error, target };
    if (stopped) break;
    if (retryMs !== undefined) await sleep(retryMs, plan.signal);
  }

  const error = last!.error;
  headers["x-sluice-provider"] = last!.target.provider.id;
  headers["x-sluice-model"] = last!.target.model;
  const attempts = Number(headers["x-sluice-attempts"]);
  await gw.log.commit(RequestFailed, { request: id, status: statusOf(error), reason: error.kind, message: error.message, attempts, total_ms: frame.elapsed() }).catch(() => {});
  logLine(gw, { request: id, model: plan.publicModel, status: statusOf(error), reason: error.kind, attempts, ms: frame.elapsed() });
  return errorResponse(frame.codec, error, headers);
}
