import type { ExecutorPlugin } from "../../core/plugins/hooks.ts";

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
} satisfies ExecutorPlugin;
