import type { ExecutorPlugin } from "../../core/plugins/hooks.ts";

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
} satisfies ExecutorPlugin;
