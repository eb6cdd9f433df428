import {
  AttemptFailed, AttemptStarted, AttemptSucceeded, RequestCancelled, RequestCompleted, RequestFailed, RequestReceived,
} from "../../events/catalog/request.ts";
import { gatewayError, isGatewayError, statusOf, type GatewayError } from "../errors.ts";
import type { Gateway } from "../gateway.ts";
import { emptyRequest, type EmbeddingRequest, type EmbeddingResponse, type Request } from "../ir.ts";
import type { ExecutorPlugin } from "../plugins/hooks.ts";
import { errorText } from "../plugins/host.ts";
import { resolveTargets, type Target } from "../routing/resolve.ts";
import { fallsBack } from "./attempt.ts";
import { readBody } from "./body.ts";
import type { EmbeddingWire } from "./embed-wire.ts";
import { authenticate } from "./plugins.ts";
import { errorResponse, logLine, type Headers } from "./respond.ts";
import { AttemptSignal } from "./upstream.ts";

// The life of one embeddings request, as a generation request's (generate.ts) but with one
// whole answer: decode, authenticate, cloak, route, attempts, respond. `request.received`
// commits before any upstream is called, the terminal event before the answer is sent.
// Events are the generation ones with dialect "openai-embeddings" or "gemini-embeddings";
// usage is input tokens only (output_tokens 0), when the upstream reports it.
// Compressors do not run: shortening an input would change its vector.

export interface EmbeddingOptions {
  /** Called once the body is in (see GenerationOptions.bodyRead). */
  bodyRead?: () => void;
  /** Gemini's model, from the path. */
  model?: string;
}

export async function handleEmbeddings(
  gw: Gateway, http: globalThis.Request, wire: EmbeddingWire, endpoint: string, options: EmbeddingOptions = {},
): Promise<globalThis.Response> {
  const started = performance.now();
  const id = `req_${Bun.randomUUIDv7("hex").replaceAll("-", "")}`;
  gw.inFlight++;
  try {
    return await embed(gw, http, wire, endpoint, options, id, started);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    gw.logger.error({ request: id, err: message }, "embeddings request failed inside the gateway");
    await gw.log.commit(RequestFailed, {
      request: id, status: 500, reason: "internal", message: "internal error", attempts: 0,
      total_ms: Math.round((performance.now() - started) * 1000) / 1000,
    }).catch(() => {});
    return errorResponse(wire.codec, gatewayError("internal", "internal error"), { "x-sluice-request-id": id });
  } finally {
    gw.inFlight--;
  }
}

type Outcome = { ok: true; response: EmbeddingResponse } | { ok: false; error: GatewayError; status: number };

async function embed(
  gw: Gateway, http: globalThis.Request, wire: EmbeddingWire, endpoint: string, options: EmbeddingOptions, id: string, started: number,
): Promise<globalThis.Response> {
  const { codec, dialect } = wire;
  const headers: Headers = { "x-sluice-request-id": id, "x-sluice-attempts": "0" };
  const elapsed = () => Math.round((performance.now() - started) * 1000) / 1000;

  const reject = async (error: GatewayError, model = ""): Promise<globalThis.Response> => {
    await Promise.all([
      gw.log.append(RequestReceived, { request: id, dialect, endpoint, model, stream: false, candidates: [] }),
      gw.log.commit(RequestFailed, { request: id, status: statusOf(error), reason: error.kind, message: error.message, attempts: 0, total_ms: elapsed() }),
    ]).catch(() => {});
    logLine(gw, { request: id, model, status: statusOf(error), reason: error.kind, ms: elapsed() });
    return errorResponse(codec, error, headers);
  };

  if (!gw.accepting) return errorResponse(codec, gatewayError("unavailable", "Sluice is shutting down or its event log is unavailable", { retryAfter: 1 }), headers);

  const read = await readBody(http, gw.config.server.max_body_bytes);
  if (typeof read !== "string") return reject(read, options.model ?? "");
  options.bodyRead?.();
  let body: unknown;
  try {
    body = JSON.parse(read);
  } catch (error) {
    return reject(gatewayError("invalid_request", `request body is not valid JSON: ${(error as Error).message}`), options.model ?? "");
  }
  const decoded = wire.decode(body, options.model ?? "");
  if (isGatewayError(decoded)) {
    const model = options.model ?? (typeof (body as { model?: unknown })?.model === "string" ? (body as { model: string }).model : "");
    return reject(decoded, model.slice(0, 200));
  }
  const publicModel = decoded.request.model;

  const auth = await authenticate(gw, http);
  if ("deny" in auth) return reject(auth.deny, publicModel);

  const targets = resolveTargets(gw.config, publicModel);
  if (targets.length === 0) {
    const hint = gw.config.providers.length === 0
      ? "no providers are configured: set OPENAI_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY, or write a sluice.yaml"
      : "GET /v1/models lists the models";
    return reject(gatewayError("model_not_found", `model "${publicModel.slice(0, 200)}" is not served here; ${hint}`, { code: "model_not_found", param: "model" }), publicModel);
  }

  // The durability rule, part one: the request is on record before anything goes upstream.
  try {
    await gw.log.commit(RequestReceived, {
      request: id, dialect, endpoint, model: publicModel, stream: false,
      candidates: targets.map((t) => t.id), ...(auth.caller ? { caller: auth.caller } : {}),
    }, { alone: gw.inFlight === 1 });
  } catch {
    return errorResponse(codec, gatewayError("unavailable", "the event log cannot be written", { retryAfter: 1 }), headers);
  }

  const cloaked = cloak(gw, decoded.request, { request: id, model: publicModel });
  if (isGatewayError(cloaked)) {
    await gw.log.commit(RequestFailed, { request: id, status: statusOf(cloaked), reason: cloaked.kind, message: cloaked.message, attempts: 0, total_ms: elapsed() }).catch(() => {});
    return errorResponse(codec, cloaked, headers);
  }
  const deadlineAt = Date.now() + gw.config.timeouts.total_ms;

  let last: { error: GatewayError; target: Target } | undefined;
  for (const [index, target] of targets.entries()) {
    const n = index + 1;
    headers["x-sluice-attempts"] = String(n);
    const executor = gw.plugins.executor(target.provider.kind);
    const attemptStarted = performance.now();
    void gw.log.append(AttemptStarted, { request: id, attempt: n, target: target.id, provider: target.provider.id, model: target.model, passthrough: false });
    let outcome: Outcome;
    let reason: string | undefined;
    if (!executor) {
      outcome = { ok: false, error: gatewayError("upstream_error", `no executor plugin for kind "${target.provider.kind}" is loaded`), status: 0 };
    } else if (!executor.embed) {
      outcome = { ok: false, error: gatewayError("upstream_error", `provider ${target.provider.id} (kind ${target.provider.kind}) does not serve embeddings`), status: 0 };
      reason = "unsupported";
    } else {
      outcome = await attempt(gw, id, http.signal, deadlineAt, target, { ...cloaked, model: target.model }, executor);
    }
    const ms = Math.round((performance.now() - attemptStarted) * 1000) / 1000;
    if (outcome.ok) {
      void gw.log.append(AttemptSucceeded, { request: id, attempt: n, target: target.id, provider: target.provider.id, status: 200, ttfb_ms: ms });
      headers["x-sluice-provider"] = target.provider.id;
      headers["x-sluice-model"] = target.model;
      const text = JSON.stringify(decoded.encode(outcome.response, publicModel));
      const total = elapsed();
      const tokens = outcome.response.usage?.inputTokens;
      // The durability rule, part two: the terminal event commits before the answer is sent.
      await gw.log.commit(RequestCompleted, {
        request: id, target: target.id, provider: target.provider.id, model: target.model, attempts: n,
        status: 200, stream: false, ttfb_ms: total, total_ms: total,
        ...(tokens !== undefined ? { usage: { input_tokens: tokens, output_tokens: 0 } } : {}),
      }, { alone: gw.inFlight === 1 }).catch(() => {});
      logLine(gw, { request: id, model: publicModel, target: target.id, status: 200, attempts: n, ms: total, ...(tokens !== undefined ? { tokens: { inputTokens: tokens } } : {}) });
      return new Response(text, { status: 200, headers: { ...headers, "content-type": "application/json" } });
    }
    const error = outcome.error;
    if (error.kind === "cancelled") {
      await gw.log.commit(RequestCancelled, { request: id, status: 499, attempts: n, total_ms: elapsed(), streamed_chars: 0 }).catch(() => {});
      logLine(gw, { request: id, model: publicModel, status: 499, reason: "cancelled", attempts: n, ms: elapsed() });
      return errorResponse(codec, error, headers);
    }
    const next = index < targets.length - 1 && fallsBack(error, deadlineAt);
    void gw.log.append(AttemptFailed, {
      request: id, attempt: n, target: target.id, provider: target.provider.id, status: outcome.status,
      reason: reason ?? (error.code?.startsWith("timeout:") ? error.code : error.kind), message: error.message, ms, fallback: next,
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

/** One executor call under the same limits as a generation attempt: first byte covers the whole answer. */
async function attempt(
  gw: Gateway, id: string, client: AbortSignal, deadlineAt: number, target: Target, request: EmbeddingRequest,
  executor: ExecutorPlugin,
): Promise<Outcome> {
  const signal = new AttemptSignal(client, deadlineAt, { ...gw.config.timeouts, ...target.provider.timeouts });
  try {
    signal.arm("first_byte");
    const result = await executor.embed!(request, { request: id, provider: target.provider, signal: signal.signal });
    if (signal.aborted) return { ok: false, error: signal.error(), status: 0 };
    if (isGatewayError(result)) return { ok: false, error: result, status: result.status ?? 0 };
    if (!result || !Array.isArray(result.vectors)) throw new Error("embed() returned neither a response nor an error");
    if (result.vectors.length !== request.inputs.length) {
      return { ok: false, error: gatewayError("upstream_invalid", `asked for ${request.inputs.length} embeddings, got ${result.vectors.length}`), status: 0 };
    }
    return { ok: true, response: result };
  } catch (error) {
    if (signal.aborted) return { ok: false, error: signal.error(), status: 0 };
    gw.plugins.failed(executor, error, id);
    return { ok: false, error: gatewayError("upstream_error", `executor ${executor.kind} failed: ${errorText(error)}`), status: 0 };
  } finally {
    signal.dispose();
  }
}

/**
 * The privacy cloak sees the inputs as one user message each (its only shape is a chat request),
 * and what it returns is read back the same way. A cloak that throws, or changes the shape, stops
 * the request (fails closed, as for generation).
 */
function cloak(gw: Gateway, request: EmbeddingRequest, ctx: { request: string; model: string }): EmbeddingRequest | GatewayError {
  const cloaks = gw.plugins.cloaks();
  if (cloaks.length === 0) return request;
  let current: Request = {
    ...emptyRequest(request.model),
    messages: request.inputs.map((text) => ({ role: "user" as const, content: [{ type: "text" as const, text }] })),
  };
  for (const plugin of cloaks) {
    try {
      const next = plugin.redact(current, ctx);
      if (next) current = next;
    } catch (error) {
      gw.plugins.failed(plugin, error, ctx.request);
      return gatewayError("unavailable", "the privacy cloak failed; the request was not sent", { retryAfter: 1 });
    }
  }
  const inputs = current.messages.map((m) => m.content.map((p) => (p.type === "text" ? p.text : "")).join(""));
  if (inputs.length !== request.inputs.length) {
    return gatewayError("unavailable", "the privacy cloak changed the number of inputs; the request was not sent", { retryAfter: 1 });
  }
  return { ...request, inputs };
}
