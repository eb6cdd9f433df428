import { Elysia } from "elysia";
import { gatewayError } from "../errors.ts";
import type { Gateway } from "../gateway.ts";
import { geminiWire } from "../pipeline/embed-wire.ts";
import { handleEmbeddings } from "../pipeline/embed.ts";
import { handleGeneration } from "../pipeline/generate.ts";
import { errorResponse } from "../pipeline/respond.ts";
import { publicModels } from "../routing/resolve.ts";
import { handleCountTokens } from "./count-tokens.ts";

// Google's Gemini dialect: the model and the action travel in the path,
// `/v1beta/models/{model}:generateContent` — and the same under /v1, which current
// @google/genai versions call. A model name may itself hold slashes (provider/model); under
// /v1beta the `models/` prefix may be left out.

const ACTIONS = new Set(["generateContent", "streamGenerateContent"]);

export function geminiRoutes(gw: Gateway) {
  const codec = gw.codecs.get("gemini")!;
  const embedWires = { embedContent: geminiWire(gw, "embedContent"), batchEmbedContents: geminiWire(gw, "batchEmbedContents") };
  const generate = ({ request, server }: { request: Request; server: { timeout(r: Request, s: number): void } | null }) => {
    const url = new URL(request.url);
    // `models/` may be missing: @ai-sdk/google sends a model id holding a slash as the path itself.
    let path: string;
    try {
      path = decodeURIComponent(url.pathname.replace(/^\/v1beta\/(models\/)?|^\/v1\/models\//, ""));
    } catch {
      return errorResponse(codec, gatewayError("invalid_request", "the model name in the path is not valid percent-encoding"));
    }
    const colon = path.lastIndexOf(":");
    const model = colon > 0 ? path.slice(0, colon) : "";
    const action = colon > 0 ? path.slice(colon + 1) : "";
    if (model && action === "countTokens") return handleCountTokens(gw, codec, request, model, "gemini");
    if (model && (action === "embedContent" || action === "batchEmbedContents")) {
      return handleEmbeddings(gw, request, embedWires[action], `/v1beta/models/{model}:${action}`, { bodyRead: () => server?.timeout(request, 0), model });
    }
    if (!model || !ACTIONS.has(action)) {
      return errorResponse(codec, gatewayError("not_found", `no such method: ${action || "(none)"}; use :generateContent, :streamGenerateContent, :countTokens, :embedContent or :batchEmbedContents`));
    }
    const stream = action === "streamGenerateContent";
    if (stream && url.searchParams.get("alt") !== "sse") {
      return errorResponse(codec, gatewayError("invalid_request", "streamGenerateContent is served as server-sent events: add ?alt=sse"));
    }
    return handleGeneration(gw, codec, request, `/v1beta/models/{model}:${action}`, {
      bodyRead: () => server?.timeout(request, 0),
      fromUrl: { model, stream },
    });
  };
  const list = () => Response.json({
    models: publicModels(gw.config).map((m) => ({
      name: `models/${m.id}`, baseModelId: m.id, displayName: m.id,
      supportedGenerationMethods: ["generateContent", "streamGenerateContent", "countTokens"],
    })),
  });
  return new Elysia({ name: "gemini" })
    .post("/v1beta/models/*", generate, { parse: "none" })
    .post("/v1/models/*", generate, { parse: "none" })
    .post("/v1beta/*", generate, { parse: "none" })
    .get("/v1beta/models", list);
}
