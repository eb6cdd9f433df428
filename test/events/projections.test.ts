import { describe, expect, test } from "vitest";
import { RequestCancelled, RequestCompleted, RequestFailed, RequestReceived } from "../../events/catalog/request.ts";
import { usage } from "../../events/projections/usage.ts";
import { event, given } from "../support/given.ts";

const T = 1_700_000_000_000;
const base = { target: "openai/gpt-4.1", provider: "openai", model: "gpt-4.1", attempts: 1 };

describe("usage projection", () => {
  test("counts requests by asked-for model, outcomes and tokens by served target", () => {
    given([
      event(RequestReceived, { request: "r1", dialect: "openai-chat", endpoint: "/v1/chat/completions", model: "smart", stream: false, candidates: ["openai/gpt-4.1"] }, T),
      event(RequestCompleted, { ...base, request: "r1", status: 200, stream: false, ttfb_ms: 10, total_ms: 10, usage: { input_tokens: 100, output_tokens: 20, cached_input_tokens: 40 } }, T + 10),
      event(RequestReceived, { request: "r2", dialect: "openai-chat", endpoint: "/v1/chat/completions", model: "smart", stream: true, candidates: ["openai/gpt-4.1"] }, T + 20),
      event(RequestFailed, { ...base, request: "r2", status: 502, reason: "upstream_error", message: "boom", total_ms: 5, usage: { input_tokens: 5, output_tokens: 1 } }, T + 25),
      event(RequestReceived, { request: "r3", dialect: "openai-chat", endpoint: "/v1/chat/completions", model: "gpt-4.1", stream: true, candidates: ["openai/gpt-4.1"] }, T + 30),
      event(RequestCancelled, { ...base, request: "r3", status: 499, total_ms: 3, streamed_chars: 12 }, T + 33),
      event(RequestFailed, { request: "r4", status: 400, reason: "invalid_request", message: "bad", attempts: 0, total_ms: 1 }, T + 40),
    ]).when(usage).then((state) => {
      expect(state.received).toEqual({ smart: 2, "gpt-4.1": 1 });
      expect(state.totals).toEqual({ requests: 3, completed: 1, failed: 2, cancelled: 1 });
      expect(state.byTarget["openai/gpt-4.1"]).toEqual({
        requests: 3, completed: 1, failed: 1, cancelled: 1,
        inputTokens: 105, outputTokens: 21, cachedInputTokens: 40, reasoningTokens: 0,
      });
    });
  });
});

