import { Elysia } from "elysia";
import { gatewayError } from "../errors.ts";
import type { Gateway } from "../gateway.ts";
import { errorResponse } from "../pipeline/generate.ts";
import { health } from "./health.ts";
import { openaiRoutes } from "./openai.ts";

/** The Elysia app: one plugin per client dialect, plus health. */
export function createApp(gw: Gateway) {
  const openai = gw.codecs.get("openai-chat")!;
  return new Elysia()
    .use(health(gw))
    .use(openaiRoutes(gw))
    .onError(({ code, error }) => {
      // Anything no route claimed, or a failure past the handlers, still answers in a dialect.
      if (code === "NOT_FOUND") return errorResponse(openai, gatewayError("not_found", "no such endpoint"));
      if (code === "PARSE") return errorResponse(openai, gatewayError("invalid_request", "the request body could not be parsed"));
      gw.logger.error({ err: error instanceof Error ? error.message : String(error), code }, "unhandled error");
      return errorResponse(openai, gatewayError("internal", "internal error"));
    });
}

export type App = ReturnType<typeof createApp>;
