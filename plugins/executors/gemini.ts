import type { ExecutorPlugin } from "../../core/plugins/hooks.ts";
import { checkVectors, postJson } from "./embed-http.ts";

const rootOf = (base: string | undefined) => (base ?? "https://generativelanguage.googleapis.com").replace(/\/+$/, "");

/**
 * Google's Gemini API (generateContent). `base_url` is the API root, without /v1beta; the model
 * travels in the path, and streams use server-sent events (`alt=sse`).
 */
export default {
  hook: "executor",
  kind: "gemini",
  dialect: "gemini",
  request: (ir, provider) => {
    const root = (provider.base_url ?? "https://generativelanguage.googleapis.com").replace(/\/+$/, "");
    const action = ir.stream ? "streamGenerateContent?alt=sse" : "generateContent";
    return {
      url: `${root}/v1beta/models/${encodeURIComponent(ir.model)}:${action}`,
      headers: { "x-goog-api-key": provider.api_key },
    };
  },
  // Embeddings go through :batchEmbedContents, one request per input (it takes one or many).
  embed: async (request, ctx) => {
    const model = request.model.startsWith("models/") ? request.model.slice(7) : request.model;
    const body = {
      requests: request.inputs.map((text) => ({
        model: `models/${model}`, content: { parts: [{ text }] },
        ...(request.dimensions !== undefined ? { outputDimensionality: request.dimensions } : {}),
      })),
    };
    const url = `${rootOf(ctx.provider.base_url)}/v1beta/models/${encodeURIComponent(model)}:batchEmbedContents`;
    const result = await postJson("gemini", url, { "x-goog-api-key": ctx.provider.api_key }, body, ctx);
    if (!result.ok) return result.error;
    const embeddings = (result.json as { embeddings?: Array<{ values?: unknown }> } | null)?.embeddings;
    const vectors = checkVectors("gemini", Array.isArray(embeddings) ? embeddings.map((e) => e?.values) : undefined, request.inputs.length);
    if (!Array.isArray(vectors)) return vectors;
    return { model: request.model, vectors };
  },
} satisfies ExecutorPlugin;
