import { Elysia } from "elysia";
import type { Gateway } from "../gateway.ts";
import { handleGeneration } from "../pipeline/generate.ts";

/** The OpenAI Responses dialect's endpoint; its stored conversations live in the event log. */
export function openaiResponsesRoutes(gw: Gateway) {
  const codec = gw.codecs.get("openai-responses")!;
  return new Elysia({ name: "openai-responses" })
    .post("/v1/responses", ({ request, server }) =>
      handleGeneration(gw, codec, request, "/v1/responses", { bodyRead: () => server?.timeout(request, 0) }), { parse: "none" });
}
