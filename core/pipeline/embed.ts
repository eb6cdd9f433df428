import { RequestCompleted } from "../../events/catalog/request.ts";
import { gatewayError, isGatewayError, type GatewayError } from "../errors.ts";
import type { Gateway } from "../gateway.ts";
import { cleanUsage, emptyRequest, type EmbeddingRequest, type EmbeddingResponse, type Request } from "../ir.ts";
import type { ExecutorPlugin } from "../plugins/hooks.ts";
import { errorText } from "../plugins/host.ts";
import type { Target } from "../routing/resolve.ts";
import type { EmbeddingWire } from "./embed-wire.ts";
import { admit, failEarly, tryTargets, withFrame } from "./frame.ts";
import { logLine } from "./respond.ts";
import { AttemptSignal } from "./upstream.ts";
import { deadlineFor, timeoutsFor, withSecrets } from "./attempt.ts";
import type { Timeouts } from "../../schemas/config.ts";

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

export function handleEmbeddings(
  gw: Gateway, http: globalThis.Request, wire: EmbeddingWire, endpoint: string, options: EmbeddingOptions = {},
): Promise<globalThis.Response> {
  return withFrame(gw, wire.codec, wire.dialect, endpoint, async (frame) => {
    const admitted = await admit(frame, http, {
      ...(options.bodyRead ? { bodyRead: options.bodyRead } : {}),
      urlModel: options.model ?? "",
      decode: (body) => {
        const decoded = wire.decode(body, options.model ?? "");
        return isGatewayError(decoded) ? decoded : { model: decoded.request.model, wire: decoded };
      },
      facts: ({ wire }) => ({ inputTokens: Math.ceil(wire.request.inputs.reduce((n, text) => n + text.length, 0) / 4) }),
    });
    if (admitted instanceof Response) return admitted;
    const { decoded: { wire: decoded }, model: publicModel, targets } = admitted;

    // A model no provider can embed with is the client's mistake, not an upstream failure.
    if (!targets.some((t) => gw.plugins.executor(t.provider.kind)?.embed)) {
      const kinds = [...new Set(targets.map((t) => t.provider.kind))].join(", ");
      return failEarly(frame, gatewayError("invalid_request", `"${publicModel.slice(0, 200)}" is not served for embeddings here (its providers' kinds: ${kinds})`, { param: "model" }));
    }
    const cloaked = cloak(gw, decoded.request, { request: frame.id, model: publicModel });
    if (isGatewayError(cloaked)) return failEarly(frame, cloaked);
    const deadlineAt = deadlineFor(gw.config, admitted.route);

    return tryTargets<EmbeddingResponse>(frame, {
      targets,
      deadlineAt,
      publicModel,
      signal: http.signal,
      passthrough: () => false,
      async attempt(target, executor) {
        if (!executor.embed) {
          return {
            ok: false, status: 0, reason: "unsupported",
            error: gatewayError("upstream_error", `provider ${target.provider.id} (kind ${target.provider.kind}) does not serve embeddings`),
          };
        }
        const limits = timeoutsFor(gw.config, admitted.route, target);
        const secret = withSecrets(gw, target);
        if (isGatewayError(secret)) return { ok: false, error: secret, status: 0 };
        const outcome = await attempt(gw, frame.id, http.signal, deadlineAt, limits, secret, { ...cloaked, model: target.model }, executor);
        return outcome.ok ? { ok: true, value: outcome.response, status: 200 } : outcome;
      },
      async answer(response, target, attempts) {
        const text = JSON.stringify(decoded.encode(response, publicModel));
        const total = frame.elapsed();
        const tokens = cleanUsage(response.usage === undefined ? undefined : { inputTokens: response.usage.inputTokens, outputTokens: 0 })?.inputTokens;
        // The durability rule, part two: the terminal event commits before the answer is sent.
        await gw.log.commit(RequestCompleted, {
          request: frame.id, target: target.id, provider: target.provider.id, model: target.model, attempts,
          status: 200, stream: false, ttfb_ms: total, total_ms: total,
          ...(tokens !== undefined ? { usage: { input_tokens: tokens, output_tokens: 0 } } : {}),
        }, { alone: gw.inFlight === 1 }).catch(() => {});
        logLine(gw, { request: frame.id, model: publicModel, target: target.id, status: 200, attempts, ms: total, ...(tokens !== undefined ? { tokens: { inputTokens: tokens } } : {}) });
        return new Response(text, { status: 200, headers: { ...frame.headers, "content-type": "application/json" } });
      },
    });
  });
}

type Outcome = { ok: true; response: EmbeddingResponse } | { ok: false; error: GatewayError; status: number };

/** One executor call under the same limits as a generation attempt: first byte covers the whole answer. */
async function attempt(
  gw: Gateway, id: string, client: AbortSignal, deadlineAt: number, limits: Timeouts, target: Target, request: EmbeddingRequest,
  executor: ExecutorPlugin,
): Promise<Outcome> {
  const signal = new AttemptSignal(client, deadlineAt, limits);
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
