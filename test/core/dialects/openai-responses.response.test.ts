import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { gatewayError } from "../../../core/errors.ts";
import type { Response } from "../../../core/ir.ts";
import { decodeResponse, encodeResponse } from "../../../core/dialects/openai-responses/response.ts";
import { openaiResponses } from "../../../core/dialects/openai-responses/index.ts";
import { ok } from "../../support/codec.ts";

const fixture = () => JSON.parse(readFileSync(new URL("../../fixtures/openai-responses/function-call.response.json", import.meta.url), "utf8"));
const ENC = "gAAAAABor0AxH0X9kVl2z8m5Q0qg7i3Q5u8dZ3n0L9yX4w==";
const ARGS = String.raw`{"location": "Paris, France", "note": "say \"bonjour\" then \u00e9t\u00e9 \n"}`;

describe("openai-responses decodeResponse", () => {
  it("function-call.response.json: reasoning, text, a call, cached and reasoning usage", () => {
    expect(decodeResponse(fixture())).toStrictEqual({
      id: "resp_68af4030592c81938ec0a5fbab4a3e9f05438e46b5f69a3b",
      model: "o4-mini-2025-04-16",
      created: 1756315696,
      content: [
        { type: "reasoning", text: "**Checking the weather**\n\nThe user wants Paris weather; I'll call get_weather.", signature: ENC },
        { type: "text", text: "Let me check the weather in Paris." },
        { type: "tool-call", id: "call_4QhIUAMXbjwjnRJD2LGjMc1N", name: "get_weather", arguments: ARGS },
      ],
      finishReason: "tool-calls",
      usage: { inputTokens: 1843, outputTokens: 211, cachedInputTokens: 1536, reasoningTokens: 128 },
    });
  });

  it("maps statuses to finish reasons", () => {
    const finish = (status: string, reason?: string) => ok(decodeResponse({ ...fixture(), output: [], status, incomplete_details: reason ? { reason } : null })).finishReason;
    expect([finish("completed"), finish("incomplete", "max_output_tokens"), finish("incomplete", "content_filter"), finish("failed"), finish("cancelled")])
      .toStrictEqual(["stop", "length", "content-filter", "error", "other"]);
  });

  it("rejects a body that is not a response as upstream_invalid, naming where", () => {
    const result = decodeResponse({ id: "x", output: "nope" });
    expect(result).toMatchObject({ kind: "upstream_invalid" });
    expect((result as { message: string }).message).toContain("'output'");
  });
});

describe("openai-responses encodeResponse", () => {
  const ir: Response = {
    id: "chatcmpl-1", model: "upstream", created: 1700000000,
    content: [
      { type: "reasoning", text: "hmm", signature: ENC },
      { type: "text", text: "Hello " }, { type: "text", text: "there." },
      { type: "tool-call", id: "call_1", name: "f", arguments: '{"a":1}' },
    ],
    finishReason: "tool-calls",
    usage: { inputTokens: 100, outputTokens: 20, cachedInputTokens: 60, reasoningTokens: 5 },
  };

  it("writes a response object", () => {
    const body = encodeResponse(ir, "public-model");
    expect(body).toMatchObject({
      object: "response", created_at: 1700000000, status: "completed", error: null, incomplete_details: null, model: "public-model",
      output: [
        { type: "reasoning", summary: [{ type: "summary_text", text: "hmm" }], encrypted_content: ENC },
        { type: "message", status: "completed", role: "assistant", content: [{ type: "output_text", text: "Hello there.", annotations: [] }] },
        { type: "function_call", status: "completed", call_id: "call_1", name: "f", arguments: '{"a":1}' },
      ],
      usage: { input_tokens: 100, input_tokens_details: { cached_tokens: 60 }, output_tokens: 20, output_tokens_details: { reasoning_tokens: 5 }, total_tokens: 120 },
    });
    expect(body.id).toMatch(/^resp_[0-9a-f]{32}$/);
    const ids = (body.output as Array<{ id: string }>).map((item) => item.id);
    expect(ids[0]).toMatch(/^rs_/);
    expect(ids[1]).toMatch(/^msg_/);
    expect(ids[2]).toMatch(/^fc_/);
  });

  it("round trips through the IR (text in a row merges)", () => {
    const again = ok(decodeResponse(encodeResponse({ ...ir, id: "resp_1" }, "upstream")));
    expect(again).toStrictEqual({ ...ir, id: "resp_1", content: [ir.content[0], { type: "text", text: "Hello there." }, ir.content[3]] });
  });

  it("length and content-filter are incomplete with a reason", () => {
    expect(encodeResponse({ ...ir, finishReason: "length" }, "m")).toMatchObject({ status: "incomplete", incomplete_details: { reason: "max_output_tokens" } });
    expect(encodeResponse({ ...ir, finishReason: "content-filter" }, "m")).toMatchObject({ status: "incomplete", incomplete_details: { reason: "content_filter" } });
    expect(encodeResponse({ ...ir, finishReason: "error" }, "m")).toMatchObject({ status: "failed", error: { code: "server_error" } });
  });
});

describe("openai-responses errors", () => {
  it("encodeError is OpenAI's error body", () => {
    expect(openaiResponses.encodeError(gatewayError("invalid_request", "Missing required parameter: 'input'.", { param: "input" }))).toStrictEqual({
      error: { message: "Missing required parameter: 'input'.", type: "invalid_request_error", param: "input", code: null },
    });
    expect(openaiResponses.encodeError(gatewayError("rate_limited", "slow down"))).toStrictEqual({
      error: { message: "slow down", type: "rate_limit_exceeded", param: null, code: "rate_limit_exceeded" },
    });
  });

  it("encodeStreamError is an `error` event with flat fields", () => {
    expect(openaiResponses.encodeStreamError(gatewayError("upstream_timeout", "too slow"))).toBe(
      `event: error\ndata: {"type":"error","code":"timeout","message":"too slow","param":null,"sequence_number":0}\n\n`,
    );
  });

  it("errorMessage reads error.message", () => {
    expect(openaiResponses.errorMessage({ error: { message: "bad key", type: "invalid_request_error" } })).toBe("bad key");
    expect(openaiResponses.errorMessage({ nope: 1 })).toBeUndefined();
  });
});
