import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isGatewayError } from "../../../core/errors.ts";
import type { FinishReason, Response, Usage } from "../../../core/ir.ts";
import { decodeResponse, decodeUsage, encodeResponse, encodeUsage } from "../../../core/dialects/anthropic/response.ts";

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../fixtures/anthropic/${name}`, import.meta.url), "utf8"));

function decoded(body: unknown): Response {
  const result = decodeResponse(body);
  if (isGatewayError(result)) throw new Error(`expected a response, got ${result.message}`);
  return { ...result, created: 0 }; // Anthropic sends no timestamp: the decoder's clock is not under test
}

const SIGNATURE = "ErUBCkYIBRgCIkB3vS6yUJp8cQ3a/6Rk+dMDJkxJ1u2xZ0m9v4cWqzTxH2FZs8GmJbYhQ8cNfxW0jVtL5iQ3RbX2CdPnKmA7EgwHo0e2vAEXAMPLE==";

describe("anthropic decodeResponse: tool-use.response.json", () => {
  const body = fixture("tool-use.response.json");

  it("maps thinking, text and tool_use; cache reads and writes are added to the IR's input count", () => {
    expect(decoded(body)).toStrictEqual({
      id: "msg_01Aq9w938a90dw8qYjvGr9BT",
      model: "claude-sonnet-4-20250514",
      created: 0,
      content: [
        { type: "reasoning", text: "The user wants the weather in Paris; I should call the tool.", signature: SIGNATURE },
        { type: "text", text: "I'll look up the current weather in Paris." },
        { type: "tool-call", id: "toolu_01A09q90qw90lq917835lq9", name: "get_weather", arguments: '{"location":"Paris, France","unit":"celsius","note":"say \\"bonjour\\" – été"}' },
      ],
      finishReason: "tool-calls",
      // 21 uncached + 188 written + 1843 read
      usage: { inputTokens: 2052, outputTokens: 93, cachedInputTokens: 1843, cacheWriteTokens: 188 },
    });
  });

  it("encodes back to Anthropic's exclusive input_tokens, under the client's model name", () => {
    expect(encodeResponse(decoded(body), "public-model")).toStrictEqual({
      ...body,
      model: "public-model",
      usage: { input_tokens: 21, cache_creation_input_tokens: 188, cache_read_input_tokens: 1843, output_tokens: 93 },
    });
  });

  it("IR → encode → decode gives the IR back", () => {
    const ir = decoded(body);
    expect(decoded(encodeResponse(ir, ir.model))).toStrictEqual(ir);
  });
});

describe("anthropic usage: inclusive IR ⇄ exclusive wire", () => {
  type Wire = { input_tokens: number; output_tokens: number; cache_read_input_tokens?: number | null; cache_creation_input_tokens?: number };
  it.each<[Wire, Usage]>([
    [{ input_tokens: 10, output_tokens: 5 }, { inputTokens: 10, outputTokens: 5 }],
    [{ input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 90, cache_creation_input_tokens: 0 }, { inputTokens: 100, outputTokens: 5, cachedInputTokens: 90, cacheWriteTokens: 0 }],
    [{ input_tokens: 3, output_tokens: 1, cache_read_input_tokens: null, cache_creation_input_tokens: 500 }, { inputTokens: 503, outputTokens: 1, cacheWriteTokens: 500 }],
  ])("%j ⇄ %j", (wire, ir) => {
    expect(decodeUsage(wire)).toStrictEqual(ir);
    expect(encodeUsage(ir)).toStrictEqual({
      input_tokens: wire.input_tokens, cache_creation_input_tokens: wire.cache_creation_input_tokens ?? 0,
      cache_read_input_tokens: wire.cache_read_input_tokens ?? 0, output_tokens: wire.output_tokens,
    });
  });

  it("never says a negative input count for an IR whose cache parts exceed its total", () => {
    expect(encodeUsage({ inputTokens: 5, outputTokens: 1, cachedInputTokens: 9 }).input_tokens).toBe(0);
  });
});

describe("anthropic encodeResponse: IR from other dialects", () => {
  const ir = (content: Response["content"], finishReason: FinishReason = "stop"): Response =>
    ({ id: "", model: "gpt-4o", created: 1, content, finishReason });

  it("makes an Anthropic id, sends unsigned reasoning with an empty signature, drops empty text, reports zero usage", () => {
    const out = encodeResponse(ir([{ type: "reasoning", text: "hm" }, { type: "text", text: "" }, { type: "text", text: "hi" }]), "m");
    expect(out.id).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(out.content).toStrictEqual([{ type: "thinking", thinking: "hm", signature: "" }, { type: "text", text: "hi" }]);
    expect(out.usage).toStrictEqual({ input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 });
  });

  it.each<[FinishReason, string]>([
    ["stop", "end_turn"], ["length", "max_tokens"], ["tool-calls", "tool_use"], ["content-filter", "refusal"],
    // not pause_turn: clients answer it by sending the turn again
    ["other", "end_turn"], ["error", "end_turn"],
  ])("finish %s → stop_reason %s", (finish, reason) => {
    expect(encodeResponse(ir([{ type: "text", text: "x" }], finish), "m").stop_reason).toBe(reason);
  });

  it("keeps a redacted thinking block and a tool call's input object", () => {
    const out = encodeResponse(ir([{ type: "reasoning", text: "", redacted: "opaque==" }, { type: "tool-call", id: "c", name: "f", arguments: '{"x":[1]}' }], "tool-calls"), "m");
    expect(out.content).toStrictEqual([{ type: "redacted_thinking", data: "opaque==" }, { type: "tool_use", id: "c", name: "f", input: { x: [1] } }]);
  });
});

describe("anthropic decodeResponse: not a message", () => {
  it.each([
    [{ type: "message", content: "hi" }, "content"],
    [{ content: [{ text: "no type" }] }, "content[0].type"],
    [{ content: [], usage: { input_tokens: "3" } }, "usage"],
  ])("%j → upstream_invalid at %s", (body, where) => {
    const result = decodeResponse(body);
    expect(result).toMatchObject({ kind: "upstream_invalid" });
    expect((result as { message: string }).message).toContain(`'${where}'`);
  });

  it("leaves out server tool blocks and maps pause_turn to other", () => {
    const body = { id: "m", model: "c", content: [{ type: "server_tool_use", id: "s", name: "web_search", input: {} }, { type: "text", text: "found" }], stop_reason: "pause_turn", usage: { input_tokens: 1, output_tokens: 1 } };
    expect(decoded(body)).toMatchObject({ content: [{ type: "text", text: "found" }], finishReason: "other" });
  });
});
