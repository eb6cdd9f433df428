import { Elysia } from "elysia";
import type { Codec } from "../dialects/codec.ts";
import { gatewayError, isGatewayError } from "../errors.ts";
import type { Gateway } from "../gateway.ts";
import { readJson } from "../pipeline/body.ts";
import { authenticate } from "../pipeline/plugins.ts";
import { errorResponse } from "../pipeline/respond.ts";
import { resolveTargets } from "../routing/resolve.ts";
import { countTokens } from "../tokens/count.ts";
import { calibration } from "../../events/projections/index.ts";

// Token counting, answered by the gateway itself (no upstream call, nothing on the event log),
// corrected by the ratio the tokenAccuracy projection has learnt for the target (estimate.ts):
//   Anthropic  POST /v1/messages/count_tokens            → {"input_tokens": N}
//   Gemini     POST /v1beta/models/{model}:countTokens   → {"totalTokens": N} (and under /v1)
// The body is decoded by the dialect's own codec, so system, tools and images are all counted
// (core/tokens/count.ts says how, and how far the count is an estimate). The Gemini paths are
// served by gemini.ts's wildcard route, which calls handleCountTokens for the countTokens action.
// Errors answer in the client's dialect; bad input is a 4xx, never a 500.

export type CountDialect = "anthropic" | "gemini";

/**
 * Count the tokens of one request. `model` comes from the URL for Gemini (the body has none);
 * for Anthropic it is read from the body and this argument is ignored.
 */
export async function handleCountTokens(
  gw: Gateway, codec: Codec, http: globalThis.Request, model: string | undefined, dialect: CountDialect,
): Promise<globalThis.Response> {
  try {
    const auth = await authenticate(gw, http);
    if ("deny" in auth) return errorResponse(codec, auth.deny);
    const read = await readJson(http, gw.config.server.max_body_bytes);
    if (isGatewayError(read)) return errorResponse(codec, read);
    const { body } = read;
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      return errorResponse(codec, gatewayError("invalid_request", "the request body must be a JSON object"));
    }
    const prepared = dialect === "anthropic" ? anthropicBody(body as Record<string, unknown>) : geminiBody(body as Record<string, unknown>, model ?? "");
    const decoded = codec.decodeRequest(prepared);
    if (isGatewayError(decoded)) return errorResponse(codec, decoded);

    const targets = resolveTargets(gw.config, decoded.model);
    if (decoded.model === "" || targets.length === 0) {
      return errorResponse(codec, gatewayError("model_not_found", `model "${decoded.model.slice(0, 200)}" is not served here; GET /v1/models lists the models`, { code: "model_not_found", param: "model" }));
    }

    // Corrected by how far this tokenizer has been from the first target's own counts, once known.
    const ratio = calibration(gw.projections.get("tokenAccuracy"), targets[0]!.id);
    const counted = countTokens(decoded).total;
    const total = ratio === undefined ? counted : Math.round(counted * ratio);
    return Response.json(dialect === "anthropic" ? { input_tokens: total } : { totalTokens: total });
  } catch (error) {
    // A bug, not the request's fault: logged, answered in the dialect, no stack to the client.
    gw.logger.error({ err: error instanceof Error ? error.message : String(error) }, "token counting failed inside the gateway");
    return errorResponse(codec, gatewayError("internal", "internal error"));
  }
}

/** A count_tokens body is a Messages body without max_tokens; the decoder wants one, so it gets 1. */
function anthropicBody(body: Record<string, unknown>): Record<string, unknown> {
  return body.max_tokens === undefined ? { ...body, max_tokens: 1 } : body;
}

/**
 * Gemini's countTokens takes `{contents}` or `{generateContentRequest: {contents, systemInstruction,
 * tools, …}}` (the only way to count system and tools in Google's API); both are accepted, and a
 * body with contents, systemInstruction and tools at the top level too. The route adds `model` and
 * `stream`, as for generateContent.
 */
function geminiBody(body: Record<string, unknown>, model: string): Record<string, unknown> {
  const inner = body.generateContentRequest ?? body.generate_content_request;
  const base = typeof inner === "object" && inner !== null && !Array.isArray(inner) ? (inner as Record<string, unknown>) : body;
  const { generateContentRequest: _a, generate_content_request: _b, ...rest } = base;
  return { ...rest, model, stream: false };
}

/** The Anthropic count_tokens endpoint. (Gemini's countTokens goes through gemini.ts's wildcard route.) */
export function countTokensRoutes(gw: Gateway) {
  const anthropic = gw.codecs.get("anthropic")!;
  return new Elysia({ name: "count-tokens" })
    .post("/v1/messages/count_tokens", ({ request }) => handleCountTokens(gw, anthropic, request, undefined, "anthropic"), { parse: "none" });
}
