import {
  AttemptFailed, AttemptStarted, AttemptSucceeded, RequestCancelled, RequestFailed, RequestReceived,
} from "../../events/catalog/request.ts";
import type { Codec } from "../dialects/codec.ts";
import { gatewayError, isGatewayError, statusOf, type GatewayError } from "../errors.ts";
import type { Gateway } from "../gateway.ts";
import { resolveTargets, type Target } from "../routing/resolve.ts";
import { fallsBack, runAttempt, type Outcome, type RequestContext } from "./attempt.ts";
import { authenticate, runRequestPlugins } from "./plugins.ts";
import { readBody } from "./body.ts";
import { errorResponse, logLine, respond, type Headers } from "./respond.ts";

// The life of one generation request: decode, authenticate, plugins, route, attempts,
// respond. Every step is an event; `request.received` commits before any upstream is called,
// and the terminal event commits before the last byte reaches the client.


export interface GenerationOptions {
  /**
   * Called once the body is in: the server's idle timeout guards reading it, and from then on
   * the upstream limits (first byte, idle, total) govern how long the connection may wait.
   */
  bodyRead?: () => void;
  /** Fields a route adds to the parsed body before decoding, from the URL (Gemini's model and stream). */
  fromUrl?: Record<string, unknown>;
}

export async function handleGeneration(
  gw: Gateway, codec: Codec, http: globalThis.Request, endpoint: string, options: GenerationOptions = {},
): Promise<globalThis.Response> {
  const started = performance.now();
  const id = `req_${Bun.randomUUIDv7("hex").replaceAll("-", "")}`;
  gw.inFlight++;
  try {
    return await generate(gw, codec, http, endpoint, options, id, started);
  } catch (error) {
    // A bug, not a request's fault: answer in the dialect, keep the record whole, no stack to the client.
    const message = error instanceof Error ? error.message : String(error);
    gw.logger.error({ request: id, err: message }, "request failed inside the gateway");
    const failure = gatewayError("internal", "internal error");
    await gw.log.commit(RequestFailed, {
      request: id, status: 500, reason: "internal", message: "internal error", attempts: 0,
      total_ms: Math.round((performance.now() - started) * 1000) / 1000,
    }).catch(() => {});
    return errorResponse(codec, failure, { "x-sluice-request-id": id });
  } finally {
    gw.inFlight--;
  }
}

async function generate(
  gw: Gateway, codec: Codec, http: globalThis.Request, endpoint: string, options: GenerationOptions, id: string, started: number,
): Promise<globalThis.Response> {
  const headers: Headers = { "x-sluice-request-id": id, "x-sluice-attempts": "0" };
  const elapsed = () => Math.round((performance.now() - started) * 1000) / 1000;

  const reject = async (error: GatewayError, model = "", stream = false): Promise<globalThis.Response> => {
    await Promise.all([
      gw.log.append(RequestReceived, { request: id, dialect: codec.id, endpoint, model, stream, candidates: [] }),
      gw.log.commit(RequestFailed, { request: id, status: statusOf(error), reason: error.kind, message: error.message, attempts: 0, total_ms: elapsed() }),
    ]).catch(() => {});
    logLine(gw, { request: id, model, status: statusOf(error), reason: error.kind, ms: elapsed() });
    return errorResponse(codec, error, headers);
  };

  if (!gw.accepting) return errorResponse(codec, gatewayError("unavailable", "Sluice is shutting down or its event log is unavailable", { retryAfter: 1 }), headers);

  const read = await readBody(http, gw.config.server.max_body_bytes);
  if (typeof read !== "string") return reject(read);
  options.bodyRead?.();
  const raw = read;
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch (error) {
    return reject(gatewayError("invalid_request", `request body is not valid JSON: ${(error as Error).message}`));
  }
  if (options.fromUrl && typeof body === "object" && body !== null && !Array.isArray(body)) body = { ...body, ...options.fromUrl };
  const decoded = codec.decodeRequest(body);
  if (isGatewayError(decoded)) {
    const model = typeof (body as { model?: unknown })?.model === "string" ? (body as { model: string }).model.slice(0, 200) : "";
    return reject(decoded, model);
  }
  const publicModel = decoded.model;

  const auth = await authenticate(gw, http);
  if ("deny" in auth) return reject(auth.deny, publicModel, decoded.stream);

  const targets = resolveTargets(gw.config, publicModel);
  if (targets.length === 0) {
    const hint = gw.config.providers.length === 0
      ? "no providers are configured: set OPENAI_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY, or write a sluice.yaml"
      : "GET /v1/models lists the models";
    return reject(gatewayError("model_not_found", `model "${publicModel.slice(0, 200)}" is not served here; ${hint}`, { code: "model_not_found", param: "model" }), publicModel, decoded.stream);
  }

  // The durability rule, part one: the request is on record before anything goes upstream.
  try {
    await gw.log.commit(RequestReceived, {
      request: id, dialect: codec.id, endpoint, model: publicModel, stream: decoded.stream,
      candidates: targets.map((t) => t.id), ...(auth.caller ? { caller: auth.caller } : {}),
    }, { alone: gw.inFlight === 1 });
  } catch {
    return errorResponse(codec, gatewayError("unavailable", "the event log cannot be written", { retryAfter: 1 }), headers);
  }

  const plugged = await runRequestPlugins(gw, decoded, { request: id, model: publicModel });
  if ("error" in plugged) {
    const error = plugged.error;
    await gw.log.commit(RequestFailed, { request: id, status: statusOf(error), reason: error.kind, message: error.message, attempts: 0, total_ms: elapsed() }).catch(() => {});
    return errorResponse(codec, error, headers);
  }
  const { request: ir, modified } = plugged;
  const ctx: RequestContext = {
    gw, id, codec, ir, raw, modified, signal: http.signal,
    deadlineAt: Date.now() + gw.config.timeouts.total_ms,
  };

  let last: { error: GatewayError; target: Target } | undefined;
  for (const [index, target] of targets.entries()) {
    const n = index + 1;
    headers["x-sluice-attempts"] = String(n);
    const executor = gw.plugins.executor(target.provider.kind);
    const attemptStarted = performance.now();
    let outcome: Outcome;
    if (!executor) {
      outcome = { ok: false, error: gatewayError("upstream_error", `no executor plugin for kind "${target.provider.kind}" is loaded`), status: 0 };
      void gw.log.append(AttemptStarted, { request: id, attempt: n, target: target.id, provider: target.provider.id, model: target.model, passthrough: false });
    } else {
      void gw.log.append(AttemptStarted, {
        request: id, attempt: n, target: target.id, provider: target.provider.id, model: target.model,
        passthrough: !executor.execute && executor.dialect === codec.id && !modified,
      });
      outcome = await runAttempt(ctx, target, executor);
    }
    const ms = Math.round((performance.now() - attemptStarted) * 1000) / 1000;
    if (outcome.ok) {
      void gw.log.append(AttemptSucceeded, { request: id, attempt: n, target: target.id, provider: target.provider.id, status: outcome.status, ttfb_ms: ms });
      headers["x-sluice-provider"] = target.provider.id;
      headers["x-sluice-model"] = target.model;
      return respond(ctx, outcome.source, outcome.signal, { target, attempts: n }, headers, started, publicModel);
    }
    const error = outcome.error;
    if (error.kind === "cancelled") {
      await gw.log.commit(RequestCancelled, { request: id, status: 499, attempts: n, total_ms: elapsed(), streamed_chars: 0 }).catch(() => {});
      logLine(gw, { request: id, model: publicModel, status: 499, reason: "cancelled", attempts: n, ms: elapsed() });
      return errorResponse(codec, error, headers);
    }
    const next = index < targets.length - 1 && fallsBack(error, ctx.deadlineAt);
    void gw.log.append(AttemptFailed, {
      request: id, attempt: n, target: target.id, provider: target.provider.id, status: outcome.status,
      reason: error.code?.startsWith("timeout:") ? error.code : error.kind, message: error.message, ms, fallback: next,
      ...(error.retryAfter !== undefined ? { retry_after: error.retryAfter } : {}),
    });
    last = { error, target };
    if (!next) break;
  }

  const error = last!.error;
  headers["x-sluice-provider"] = last!.target.provider.id;
  headers["x-sluice-model"] = last!.target.model;
  await gw.log.commit(RequestFailed, {
    request: id, status: statusOf(error), reason: error.kind, message: error.message,
    attempts: Number(headers["x-sluice-attempts"]), total_ms: elapsed(),
  }).catch(() => {});
  logLine(gw, { request: id, model: publicModel, status: statusOf(error), reason: error.kind, attempts: Number(headers["x-sluice-attempts"]), ms: elapsed() });
  return errorResponse(codec, error, headers);
}
