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
import { loopbackGuard } from "./guard.ts";
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

/** The Elysia app: one plugin per client dialect, plus health. */
export function createApp(gw: Gateway) {
  const codecFor = (request: Request) => gw.codecs.get(dialectOf(new URL(request.url).pathname)) ?? gw.codecs.get("openai-chat")!;
  const guard = loopbackGuard(gw, codecFor);
  return new Elysia()
    .onRequest(({ request, server }) => {
      const peer = server?.requestIP(request)?.address;
      if (peer) gw.peers.set(request, peer);
      const allowed = gw.config.server.allow_ips;
      if (allowed && !(peer !== undefined && allowed.some((range) => ipInRange(peer, range)))) {
        return errorResponse(codecFor(request), gatewayError("permission", "this address is not allowed to use the gateway"));
      }
      return guard(request);
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
