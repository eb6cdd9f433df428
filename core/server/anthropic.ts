import { Elysia } from "elysia";
import type { Gateway } from "../gateway.ts";
import { handleGeneration } from "../pipeline/generate.ts";

/** The Anthropic Messages dialect's endpoints. */
export function anthropicRoutes(gw: Gateway) {
  const codec = gw.codecs.get("anthropic")!;
  return new Elysia({ name: "anthropic" })
    .post("/v1/messages", ({ request, server }) =>
      handleGeneration(gw, codec, request, "/v1/messages", { bodyRead: () => server?.timeout(request, 0) }), { parse: "none" });
}
