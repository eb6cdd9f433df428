import type { ExecutorPlugin } from "../../core/plugins/hooks.ts";

/** Anthropic's Messages API (`POST /v1/messages`). `base_url` is the API root, without /v1. */
export default {
  hook: "executor",
  kind: "anthropic",
  dialect: "anthropic",
  request: (_ir, provider) => ({
    url: `${(provider.base_url ?? "https://api.anthropic.com").replace(/\/+$/, "")}/v1/messages`,
    headers: { "x-api-key": provider.api_key, "anthropic-version": "2023-06-01" },
  }),
} satisfies ExecutorPlugin;
