import type { EmbeddingRequest, EmbeddingResponse, ExecuteContext, ExecutorPlugin, GatewayError } from "../../core/plugins/hooks.ts";
import { checkVectors, postJson } from "./embed-http.ts";

type OpenAIEmbeddings = { model?: string; data?: Array<{ index?: number; embedding?: unknown }>; usage?: { prompt_tokens?: number } };

/** `POST {url}` with an OpenAI embeddings body; shared with azure-openai. Vectors are asked for as floats. */
export async function openaiEmbed(
  label: string, url: string, headers: Record<string, string | undefined>, request: EmbeddingRequest, ctx: ExecuteContext,
): Promise<EmbeddingResponse | GatewayError> {
  const body = {
    model: request.model, input: request.inputs, encoding_format: "float",
    ...(request.dimensions !== undefined ? { dimensions: request.dimensions } : {}),
  };
  const result = await postJson(label, url, headers, body, ctx);
  if (!result.ok) return result.error;
  const json = result.json as OpenAIEmbeddings;
  const data = Array.isArray(json?.data) ? [...json.data].sort((a, b) => (a.index ?? 0) - (b.index ?? 0)) : undefined;
  const vectors = checkVectors(label, data?.map((d) => d.embedding), request.inputs.length);
  if (!Array.isArray(vectors)) return vectors;
  const tokens = json.usage?.prompt_tokens;
  return { model: typeof json.model === "string" ? json.model : request.model, vectors, ...(typeof tokens === "number" ? { usage: { inputTokens: tokens } } : {}) };
}

const root = (base: string | undefined) => (base ?? "https://api.openai.com/v1").replace(/\/+$/, "");

/**
 * Any OpenAI-compatible upstream: OpenAI itself and vLLM, llama.cpp, LM Studio, Ollama's /v1,
 * DeepSeek, Groq, Mistral, Together, OpenRouter … — set `base_url` to the server's `/v1` root.
 */
export default {
  hook: "executor",
  kind: "openai",
  dialect: "openai-chat",
  request: (_ir, provider) => ({
    url: `${(provider.base_url ?? "https://api.openai.com/v1").replace(/\/+$/, "")}/chat/completions`,
    headers: provider.api_key ? { authorization: `Bearer ${provider.api_key}` } : {},
  }),
  embed: (request, ctx) => openaiEmbed("openai", `${root(ctx.provider.base_url)}/embeddings`, {
    authorization: ctx.provider.api_key ? `Bearer ${ctx.provider.api_key}` : undefined,
  }, request, ctx),
} satisfies ExecutorPlugin;
