import { Elysia } from "elysia";
import { gatewayError } from "../errors.ts";
import type { DialectId } from "../dialects/codec.ts";
import type { Gateway } from "../gateway.ts";
import { errorResponse } from "../pipeline/respond.ts";
import { ipInRange } from "../keys/keys.ts";
import { adminRoutes } from "./admin.ts";
import { apiLogRoutes } from "./api-log.ts";
import { usageRoutes } from "./api-usage.ts";
import { anthropicRoutes } from "./anthropic.ts";
import { countTokensRoutes } from "./count-tokens.ts";
import { embeddingsRoutes } from "./embeddings.ts";
import { geminiRoutes } from "./gemini.ts";
import { loopbackGuard, requestHost } from "./guard.ts";
import { dashboardRoutes } from "./dashboard.ts";
import { health } from "./health.ts";
import { metricsRoutes } from "./metrics.ts";
import { openaiResponsesRoutes } from "./openai-responses.ts";
import { openaiRoutes } from "./openai.ts";

/** The dialect a path belongs to, for errors no route handler answered. */
function dialectOf(path: string): DialectId {
  if (path.startsWith("/v1beta/") || /^\/v1\/models\/.+:/.test(path)) return "gemini";
  if (path.startsWith("/v1/messages")) return "anthropic";
  if (path.startsWith("/v1/responses")) return "openai-responses";
  return "openai-chat";
}

/**
 * The path of a request URL, without parsing it: the URL may be a bare path, or one whose host
 * does not parse (a bad Host header), and the error for that still needs a dialect.
 */
export function pathOf(url: string): string {
  const rest = url.startsWith("/") ? url : url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, "");
  return rest.split(/[?#]/, 1)[0] || "/";
}

/** The Elysia app: one plugin per client dialect, plus health. */
export function createApp(gw: Gateway) {
  const codecFor = (request: Request) => gw.codecs.get(dialectOf(pathOf(request.url))) ?? gw.codecs.get("openai-chat")!;
  const guard = loopbackGuard(gw, codecFor);
  return new Elysia()
    .onRequest(({ request, server }) => {
      const peer = server?.requestIP(request)?.address;
      if (peer) gw.peers.set(request, peer);
      const allowed = gw.config.server.allow_ips;
      if (allowed && !(peer !== undefined && allowed.some((range) => ipInRange(peer, range)))) {
        return errorResponse(codecFor(request), gatewayError("permission", "this address is not allowed to use the gateway"));
      }
      // Handlers read request.url as a URL; one built from a bad Host header is not.
      const host = requestHost(request);
      if (host === undefined) {
        return errorResponse(codecFor(request), gatewayError("invalid_request", "missing or bad Host header"));
      }
      return guard(request, host);
    })
    .use(health(gw))
    .use(dashboardRoutes(gw))
    .use(metricsRoutes(gw))
    .use(adminRoutes(gw))
    .use(usageRoutes(gw))
    .use(apiLogRoutes(gw))
    .use(openaiRoutes(gw))
    .use(openaiResponsesRoutes(gw))
    .use(anthropicRoutes(gw))
    .use(countTokensRoutes(gw))
    .use(embeddingsRoutes(gw))
    .use(geminiRoutes(gw))
    .onError(({ code, error, request }) => {
      // Anything no route claimed, or a failure past the handlers, still answers in a dialect.
      const codec = codecFor(request);
      if (code === "NOT_FOUND") return errorResponse(codec, gatewayError("not_found", "no such endpoint"));
      if (code === "PARSE") return errorResponse(codec, gatewayError("invalid_request", "the request body could not be parsed"));
      gw.logger.error({ err: error instanceof Error ? error.message : String(error), code }, "unhandled error");
      return errorResponse(codec, gatewayError("internal", "internal error"));
    });
}

export type App = ReturnType<typeof createApp>;
