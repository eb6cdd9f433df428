import { Elysia } from "elysia";
import type { Gateway } from "../gateway.ts";
import { handleEmbeddings } from "../pipeline/embed.ts";
import { openaiWire } from "../pipeline/embed-wire.ts";

/** OpenAI's embeddings endpoint. (Gemini's :embedContent and :batchEmbedContents go through gemini.ts's wildcard route.) */
export function embeddingsRoutes(gw: Gateway) {
  const wire = openaiWire(gw);
  return new Elysia({ name: "embeddings" })
    .post("/v1/embeddings", ({ request, server }) =>
      handleEmbeddings(gw, request, wire, "/v1/embeddings", { bodyRead: () => server?.timeout(request, 0) }), { parse: "none" });
}
