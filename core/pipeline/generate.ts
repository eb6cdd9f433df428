import {
  AttemptFailed, AttemptStarted, AttemptSucceeded, RequestCancelled, RequestCompleted, RequestFailed, RequestReceived,
} from "../../events/catalog/request.ts";
import type { Codec } from "../dialects/codec.ts";
import { gatewayError, isGatewayError, statusOf, type GatewayError } from "../errors.ts";
import type { Gateway } from "../gateway.ts";
import type { Request as IRRequest, Usage } from "../ir.ts";
import { resolveTargets, type Target } from "../routing/resolve.ts";
import { fallsBack, runAttempt, type Outcome, type RequestContext, type Source } from "./attempt.ts";
import { authenticate, runRequestPlugins } from "./plugins.ts";
import { ResponseCollector, responseEvents } from "./ir-stream.ts";
import { irSource, passthroughSource, pump, type StreamOutcome } from "./stream.ts";

// The life of one generation request: decode, authenticate, plugins, route, attempts,
// respond. Every step is an event; `request.received` commits before any upstream is called,
// and the terminal event commits before the last byte reaches the client.

type Headers = Record<string, string>;

interface Served {
  target: Target;
  attempts: number;
  attemptStatus: number;
}

function usageData(usage: Usage | undefined) {
  if (!usage) return {};
  return {
    usage: {
      input_tokens: usage.inputTokens,
      output_tokens: usage.outputTokens,
      ...(usage.cachedInputTokens !== undefined ? { cached_input_tokens: usage.cachedInputTokens } : {}),
      ...(usage.cacheWriteTokens !== undefined ? { cache_write_tokens: usage.cacheWriteTokens } : {}),
      ...(usage.reasoningTokens !== undefined ? { reasoning_tokens: usage.reasoningTokens } : {}),
    },
  };
}

/**
 * `bodyRead` is called once the body is in: the server's idle timeout guards reading it, and from
 * then on the upstream limits (first byte, idle, total) govern how long the connection may wait.
 */
export interface GenerationOptions {
  /** Called once the body is in (see above). */
  bodyRead?: () => void;
  /** Fields a route adds to the parsed body before decoding, from the URL (Gemini's model and stream). */
  fromUrl?: Record<string, unknown>;
}

export async function handleGeneration(
  gw: Gateway, codec: Codec, http: globalThis.Request, endpoint: string, options: GenerationOptions = {},
): Promise<globalThis.Response> {
  gw.inFlight++;
  try {
    return await generate(gw, codec, http, endpoint, options);
  } finally {
    gw.inFlight--;
  }
}

async function generate(gw: Gateway, codec: Codec, http: globalThis.Request, endpoint: string, options: GenerationOptions): Promise<globalThis.Response> {
  const started = performance.now();
  const id = `req_${Bun.randomUUIDv7("hex").replaceAll("-", "")}`;
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
      return respond(ctx, outcome.source, outcome.signal, { target, attempts: n, attemptStatus: outcome.status }, headers, started, publicModel);
    }
    const error = outcome.error;
    if (error.kind === "cancelled") {
      await gw.log.commit(RequestCancelled, { request: id, status: 499, attempts: n, total_ms: elapsed(), streamed_chars: 0 }).catch(() => {});
      logLine(gw, { request: id, model: publicModel, status: 499, reason: "cancelled", attempts: n, ms: elapsed() });
      return errorResponse(codec, error, headers);
    }
    const next = index < targets.length - 1 && fallsBack(error, ctx);
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

async function respond(
  ctx: RequestContext, source: Source, signal: import("./upstream.ts").AttemptSignal, served: Served,
  headers: Headers, started: number, publicModel: string,
): Promise<globalThis.Response> {
  const { gw, codec, id, ir } = ctx;
  const { target, attempts } = served;
  const elapsed = () => Math.round((performance.now() - started) * 1000) / 1000;
  const base = { request: id, target: target.id, provider: target.provider.id, model: target.model, attempts };

  if (!ir.stream && (source.kind === "raw-json" || source.kind === "ir")) {
    signal.dispose();
    const response = source.response;
    const text = source.kind === "raw-json" ? source.text : JSON.stringify(codec.encodeResponse(response, publicModel));
    const ms = elapsed();
    // The durability rule, part two: the terminal event commits before the answer is sent.
    await gw.log.commit(RequestCompleted, {
      ...base, status: 200, stream: false, ttfb_ms: ms, total_ms: ms, finish_reason: response.finishReason, ...usageData(response.usage),
    }, { alone: gw.inFlight === 1 }).catch(() => {});
    logLine(gw, { request: id, model: publicModel, target: target.id, status: 200, attempts, ms, tokens: response.usage });
    return new Response(text, { status: 200, headers: { ...headers, "content-type": "application/json" } });
  }

  if (!ir.stream) {
    // The executor streamed although the client did not ask to: gather it into one answer.
    const events = source.kind === "ir-stream" ? source.events : undefined;
    const collector = new ResponseCollector();
    try {
      if (events) for await (const event of events) collector.add(event);
    } catch (error) {
      collector.add({ type: "error", error: isGatewayError(error) ? error : gatewayError("upstream_error", "upstream stream broke off") });
    }
    signal.dispose();
    const response = collector.response();
    if (isGatewayError(response)) {
      await gw.log.commit(RequestFailed, { request: id, status: statusOf(response), reason: response.kind, message: response.message, attempts, total_ms: elapsed() }).catch(() => {});
      return errorResponse(codec, response, headers);
    }
    return respond(ctx, { kind: "ir", response }, signal, served, headers, started, publicModel);
  }

  // Streaming.
  let ttfb = 0;
  const stream = source.kind === "raw-sse"
    ? passthroughSource(source.body, source.codec, signal, source.injectedUsage)
    : irSource(
      source.kind === "ir-stream" ? source.events : (async function* () { yield* responseEvents(source.response); })(),
      codec, { model: publicModel, includeUsage: ir.streamUsage === true }, signal,
    );
  const body = pump(stream, codec, {
    firstByte: () => {
      ttfb = elapsed();
    },
    terminal: (outcome: StreamOutcome) => {
      const total = elapsed();
      const usage = usageData(outcome.tally.usage);
      logLine(gw, { request: id, model: publicModel, target: target.id, status: outcome.kind === "completed" ? 200 : outcome.kind === "cancelled" ? 499 : statusOf(outcome.error), attempts, ms: total, stream: true, tokens: outcome.tally.usage });
      switch (outcome.kind) {
        case "completed":
          return gw.log.commit(RequestCompleted, {
            ...base, status: 200, stream: true, ttfb_ms: ttfb || total, total_ms: total,
            ...(outcome.tally.finishReason ? { finish_reason: outcome.tally.finishReason } : {}), ...usage,
          });
        case "failed":
          return gw.log.commit(RequestFailed, {
            ...base, status: statusOf(outcome.error), reason: outcome.error.kind, message: outcome.error.message, total_ms: total, ...usage,
          });
        case "cancelled":
          return gw.log.commit(RequestCancelled, { ...base, status: 499, total_ms: total, streamed_chars: outcome.sent, ...usage });
      }
    },
  });
  return new Response(body, {
    status: 200,
    headers: { ...headers, "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" },
  });
}

/** The body as text, refusing one larger than `max` bytes before reading it all. */
async function readBody(http: globalThis.Request, max: number): Promise<string | GatewayError> {
  const tooLarge = () => gatewayError("payload_too_large", `request body is larger than ${max} bytes`, { code: "request_too_large" });
  const length = http.headers.get("content-length");
  const declared = length === null ? NaN : Number(length);
  if (declared > max) return tooLarge();
  if (!http.body) return "";
  if (declared >= 0) {
    // The size is known and within the cap (Bun holds the body to it): the fast path.
    try {
      return await http.text();
    } catch {
      return gatewayError("invalid_request", "could not read the request body");
    }
  }
  const reader = http.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        await reader.cancel().catch(() => {});
        return tooLarge();
      }
      chunks.push(value);
    }
  } catch {
    return gatewayError("invalid_request", "could not read the request body");
  }
  return new TextDecoder().decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
}

export function errorResponse(codec: Codec, error: GatewayError, headers: Headers = {}): globalThis.Response {
  const extra: Headers = error.retryAfter !== undefined ? { "retry-after": String(Math.ceil(error.retryAfter)) } : {};
  return new Response(JSON.stringify(codec.encodeError(error)), {
    status: statusOf(error),
    headers: { ...headers, ...extra, "content-type": "application/json" },
  });
}

function logLine(gw: Gateway, fields: Record<string, unknown>): void {
  gw.logger.info(fields, "request");
}

export type { IRRequest };
