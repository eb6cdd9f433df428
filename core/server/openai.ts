import { Elysia } from "elysia";
import type { Gateway } from "../gateway.ts";
import { handleGeneration } from "../pipeline/generate.ts";
import { publicModels } from "../routing/resolve.ts";

/** The OpenAI dialect's endpoints. Bodies are read raw: the pipeline keeps the client's bytes. */
export function openaiRoutes(gw: Gateway) {
  const codec = gw.codecs.get("openai-chat")!;
  return new Elysia({ name: "openai" })
    .post("/v1/chat/completions", ({ request, server }) =>
      handleGeneration(gw, codec, request, "/v1/chat/completions", { bodyRead: () => server?.timeout(request, 0) }), { parse: "none" })
    .get("/v1/models", () => Response.json({
      object: "list",
      data: publicModels(gw.config).map((m) => ({ id: m.id, object: "model", created: 0, owned_by: m.owned_by })),
    }));
}
