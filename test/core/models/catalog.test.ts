import { Value } from "@sinclair/typebox/value";
import { describe, expect, test } from "vitest";
import { costOf, modelInfo } from "../../../core/models/catalog.ts";
import { ProviderSchema, type ProviderConfig } from "../../../schemas/config.ts";

// Model facts come from the provider's model_info first, then llm-info (limits), then
// genai-prices (prices and context windows, matched by the provider's API URL).

function provider(fields: Record<string, unknown>): ProviderConfig {
  return Value.Default(ProviderSchema, Value.Clone({ id: "p", kind: "openai", ...fields })) as ProviderConfig;
}

describe("modelInfo", () => {
  test("a vendor model is known by limits and price, through a dated alias too", () => {
    const anthropic = provider({ kind: "anthropic", base_url: "https://api.anthropic.com" });
    const info = modelInfo(anthropic, "claude-sonnet-4-5");
    expect(info.maxOutput).toBe(64000);
    expect(info.context).toBe(200000);
    expect(info.price).toMatchObject({ input: 3, output: 15, cached_input: 0.3 });
    expect(modelInfo(anthropic, "claude-sonnet-4-5-20250929").maxOutput).toBe(64000);
  });

  test("a model on a local server is unknown, and its model_info is used, by name or pattern", () => {
    expect(modelInfo(provider({ base_url: "http://127.0.0.1:8080/v1" }), "qwen2.5-7b")).toEqual({});
    const local = provider({
      base_url: "http://127.0.0.1:8080/v1",
      model_info: { "qwen2.5-7b": { context: 32768, max_output: 8192 }, "llama-*": { context: 8192, price: { input: 0.1, output: 0.2 } } },
    });
    expect(modelInfo(local, "qwen2.5-7b")).toEqual({ context: 32768, maxOutput: 8192 });
    expect(modelInfo(local, "llama-3-8b")).toEqual({ context: 8192, price: { input: 0.1, output: 0.2 } });
  });

  test("model_info overrides the library field by field", () => {
    const openai = provider({ base_url: "https://api.openai.com/v1", model_info: { "gpt-4.1": { max_output: 1000 } } });
    const info = modelInfo(openai, "gpt-4.1");
    expect(info.maxOutput).toBe(1000);
    expect(info.context).toBeGreaterThan(1_000_000 - 1);
    expect(info.price).toMatchObject({ input: 2, output: 8 });
  });
});

describe("costOf", () => {
  test("a configured price: cached and written input at their own rates", () => {
    const local = provider({ model_info: { m: { price: { input: 2, output: 10, cached_input: 0.5, cache_write: 4 } } } });
    // 1M input of which 200k cached and 100k written: 700k×2 + 200k×0.5 + 100k×4 + 500k×10 per million
    expect(costOf(local, "m", { inputTokens: 1_000_000, outputTokens: 500_000, cachedInputTokens: 200_000, cacheWriteTokens: 100_000 }))
      .toBeCloseTo(1.4 + 0.1 + 0.4 + 5, 6);
  });

  test("a library price through genai-prices; an unknown model has no cost", () => {
    const openai = provider({ base_url: "https://api.openai.com/v1" });
    expect(costOf(openai, "gpt-4.1", { inputTokens: 1000, outputTokens: 1000 })).toBeCloseTo(0.01, 6);
    expect(costOf(provider({ base_url: "http://127.0.0.1:1/v1" }), "mystery", { inputTokens: 10, outputTokens: 10 })).toBeUndefined();
  });
});
