import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isGatewayError } from "../../../core/errors.ts";
import type { Response } from "../../../core/ir.ts";
import { decodeResponse, encodeResponse } from "../../../core/dialects/openai-chat/response.ts";

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../fixtures/openai-chat/${name}`, import.meta.url), "utf8"));

function decoded(body: unknown): Response {
  const result = decodeResponse(body);
  if (isGatewayError(result)) throw new Error(`expected a response, got ${result.message}`);
  return result;
}

const completion = (message: Record<string, unknown>, finish_reason: string | null = "stop") => ({
  id: "chatcmpl-1", object: "chat.completion", created: 1, model: "m",
  choices: [{ index: 0, message: { role: "assistant", ...message }, logprobs: null, finish_reason }],
});

describe("openai-chat decodeResponse", () => {
  it("reads a response with two tool calls, arguments byte for byte", () => {
    const body = fixture("tool-calls.response.json");
    expect(decodeResponse(body)).toStrictEqual({
      id: "chatcmpl-BQ7nR2tY4uI6oP8aS0dF2gH4jK6lZ",
      model: "gpt-4o-2024-08-06",
      created: 1745923800,
      content: [
        { type: "tool-call", id: "call_Xa1Sb2Dc3Fd4Ge5Hf6Ig7Jh8", name: "get_weather", arguments: '{"location":"Paris, France","unit":"celsius"}' },
        { type: "tool-call", id: "call_Ki9Lj0Mk1Nl2Om3Pn4Qo5Rp6", name: "get_time", arguments: '{"timezone":"Europe/Paris"}' },
      ],
      finishReason: "tool-calls",
      usage: { inputTokens: 82, outputTokens: 51, cachedInputTokens: 0, reasoningTokens: 0 },
    } satisfies Response);
  });

  it("reads text with cached and reasoning token counts", () => {
    expect(decodeResponse(fixture("text.response.json"))).toStrictEqual({
      id: "chatcmpl-BQ7pT4vA6wB8xC0yD2zE4aF6bG8cH",
      model: "o4-mini-2025-04-16",
      created: 1745923900,
      content: [{ type: "text", text: "The capital of France is Paris." }],
      finishReason: "stop",
      usage: { inputTokens: 2048, outputTokens: 210, cachedInputTokens: 1920, reasoningTokens: 192 },
    } satisfies Response);
  });

  it("reads DeepSeek's reasoning_content before the answer", () => {
    const ir = decoded(completion({ content: "9.8", reasoning_content: "0.8 > 0.11" }));
    expect(ir.content).toStrictEqual([{ type: "reasoning", text: "0.8 > 0.11" }, { type: "text", text: "9.8" }]);
  });

  it.each([
    ["stop", "stop"], ["length", "length"], ["tool_calls", "tool-calls"], ["function_call", "tool-calls"],
    ["content_filter", "content-filter"], ["eos", "other"], [null, "other"],
  ])("maps finish_reason %s to %s", (wire, ir) => {
    expect(decoded(completion({ content: "x" }, wire)).finishReason).toBe(ir);
  });

  it("calls a turn with tool calls a tool-call finish even when the server said stop", () => {
    const body = completion({ content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }] }, "stop");
    expect(decoded(body).finishReason).toBe("tool-calls");
  });

  it("keeps a refusal as text", () => {
    expect(decoded(completion({ content: null, refusal: "I can't help with that." })).content)
      .toStrictEqual([{ type: "text", text: "I can't help with that." }]);
  });

  it.each([
    ["no choices", { id: "x", choices: [] }],
    ["not an object", "upstream exploded"],
    ["a message without an object", { choices: [{ message: "hi" }] }],
  ])("returns upstream_invalid for %s", (_name, body) => {
    const result = decodeResponse(body);
    expect(isGatewayError(result) && result.kind).toBe("upstream_invalid");
  });
});

describe("openai-chat encodeResponse", () => {
  it("writes chat.completion exactly as OpenAI shapes it", () => {
    const ir: Response = {
      id: "msg_01XFDUDYJgAACzvnptvVoYEL",
      model: "claude-sonnet-4-5",
      created: 1745924000,
      content: [
        { type: "reasoning", text: "Weather needs a tool.", signature: "EqQBCgIYAhIM" },
        { type: "text", text: "Let me check." },
        { type: "tool-call", id: "toolu_01A", name: "get_weather", arguments: '{"location":"Paris"}' },
      ],
      finishReason: "tool-calls",
      usage: { inputTokens: 100, outputTokens: 20, cachedInputTokens: 80, cacheWriteTokens: 10 },
    };
    expect(encodeResponse(ir, "public-model")).toStrictEqual({
      id: "msg_01XFDUDYJgAACzvnptvVoYEL",
      object: "chat.completion",
      created: 1745924000,
      model: "public-model",
      choices: [{
        index: 0,
        message: {
          role: "assistant",
          content: "Let me check.",
          reasoning_content: "Weather needs a tool.",
          tool_calls: [{ id: "toolu_01A", type: "function", function: { name: "get_weather", arguments: '{"location":"Paris"}' } }],
          refusal: null,
          annotations: [],
        },
        logprobs: null,
        finish_reason: "tool_calls",
      }],
      usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120, prompt_tokens_details: { cached_tokens: 80 } },
    });
  });

  it("writes content null when there are only tool calls, and makes an id when there is none", () => {
    const out = encodeResponse({ id: "", model: "m", created: 1, content: [{ type: "tool-call", id: "c", name: "f", arguments: "{}" }], finishReason: "tool-calls" }, "m");
    expect(out.id).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
    expect(out).not.toHaveProperty("usage");
    expect((out.choices as Array<{ message: { content: unknown } }>)[0]!.message.content).toBeNull();
  });

  it.each(["tool-calls.response.json", "text.response.json"])("round-trips %s: encode(decode(x)) decodes to the same IR", (name) => {
    const ir = decoded(fixture(name));
    const again = encodeResponse(ir, ir.model);
    expect(decoded(again)).toStrictEqual(ir);
    // and the parts a client reads are the upstream's own
    const original = fixture(name);
    expect((again.choices as unknown[])[0]).toStrictEqual(original.choices[0]);
    expect(again.usage).toMatchObject({ prompt_tokens: original.usage.prompt_tokens, total_tokens: original.usage.total_tokens });
  });
});
