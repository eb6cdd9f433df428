import { readFileSync } from "node:fs";
import { GenerateContentResponse } from "@google/genai";
import { describe, expect, it } from "vitest";
import { isGatewayError } from "../../../core/errors.ts";
import type { FinishReason, Response } from "../../../core/ir.ts";
import { decodeFinishReason, decodeResponse, encodeFinishReason, encodeResponse } from "../../../core/dialects/gemini/response.ts";

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../fixtures/gemini/${name}`, import.meta.url), "utf8"));

function decoded(body: unknown): Response {
  const result = decodeResponse(body);
  if (isGatewayError(result)) throw new Error(`expected a response, got ${result.message}`);
  return result;
}

const SIG_TEXT = fixture("usage.response.json").candidates[0].content.parts[1].thoughtSignature as string;
const SIG_CALL = fixture("function-call.response.json").candidates[0].content.parts[0].thoughtSignature as string;

describe("gemini decodeResponse: golden responses", () => {
  it("usage.response.json: thoughts, signed answer, cached and thoughts tokens", () => {
    const ir = decoded(fixture("usage.response.json"));
    expect({ ...ir, created: 0 }).toStrictEqual({
      id: "mC0yaOK6FbqZqtsPgPWc2Q0",
      model: "gemini-2.5-pro",
      created: 0,
      content: [
        { type: "reasoning", text: "**Reading the contract**\n\nClause 7 sets the notice period." },
        { type: "reasoning", text: "", signature: SIG_TEXT },
        { type: "text", text: "The notice period is 30 days (clause 7.2)." },
      ],
      finishReason: "stop",
      // promptTokenCount already holds the cached tokens; candidatesTokenCount does not hold the
      // thoughts (20613 + 14 + 309 = 20936 = totalTokenCount), so output is 14 + 309
      usage: { inputTokens: 20613, outputTokens: 323, cachedInputTokens: 20480, reasoningTokens: 309 },
    } satisfies Response);
    expect(ir.created).toBeGreaterThan(1_700_000_000); // Gemini sends no time: now
  });

  it("function-call.response.json: id-less calls get call_<n>, STOP with calls is a tool-call finish", () => {
    const ir = decoded(fixture("function-call.response.json"));
    expect(ir.content).toStrictEqual([
      { type: "tool-call", id: "call_0", name: "get_weather", arguments: '{"location":"Paris, France","unit":"celsius"}', signature: SIG_CALL },
      { type: "tool-call", id: "call_1", name: "get_time", arguments: '{"timezone":"Europe/Paris"}' },
    ]);
    expect(ir.finishReason).toBe("tool-calls");
    expect(ir.usage).toStrictEqual({ inputTokens: 112, outputTokens: 38 });
  });

  it("blocked.response.json: a refused prompt has no candidates and is a content-filter finish", () => {
    const ir = decoded(fixture("blocked.response.json"));
    expect(ir).toMatchObject({ content: [], finishReason: "content-filter", usage: { inputTokens: 11, outputTokens: 0 } });
  });

  it("reads Vertex's createTime and toolUsePromptTokenCount", () => {
    const ir = decoded({
      candidates: [{ content: { role: "model", parts: [{ text: "hi" }] }, finishReason: "STOP" }],
      createTime: "2025-06-17T10:00:00.500Z",
      usageMetadata: { promptTokenCount: 10, toolUsePromptTokenCount: 5, candidatesTokenCount: 2, totalTokenCount: 17 },
    });
    expect(ir.created).toBe(1750154400);
    expect(ir.usage).toStrictEqual({ inputTokens: 15, outputTokens: 2 });
  });

  it("rejects a body that is not a GenerateContentResponse", () => {
    expect(decodeResponse({ candidates: "nope" })).toMatchObject({ kind: "upstream_invalid", message: expect.stringContaining("'candidates'") });
    expect(decodeResponse(null)).toMatchObject({ kind: "upstream_invalid" });
  });
});

describe("gemini finish reasons", () => {
  it.each<[string | undefined, boolean, FinishReason]>([
    ["STOP", false, "stop"], ["STOP", true, "tool-calls"], ["MAX_TOKENS", false, "length"],
    ["SAFETY", false, "content-filter"], ["RECITATION", false, "content-filter"], ["BLOCKLIST", false, "content-filter"],
    ["PROHIBITED_CONTENT", false, "content-filter"], ["SPII", false, "content-filter"], ["IMAGE_SAFETY", false, "content-filter"],
    ["MALFORMED_FUNCTION_CALL", false, "other"], ["LANGUAGE", false, "other"], ["OTHER", false, "other"], [undefined, false, "other"],
  ])("%s (calls: %s) → %s", (wire, calls, reason) => {
    expect(decodeFinishReason(wire, calls)).toBe(reason);
  });

  it.each<[FinishReason, string]>([["stop", "STOP"], ["tool-calls", "STOP"], ["length", "MAX_TOKENS"], ["content-filter", "SAFETY"], ["error", "OTHER"], ["other", "OTHER"]])(
    "%s → %s", (reason, wire) => expect(encodeFinishReason(reason)).toBe(wire),
  );
});

describe("gemini encodeResponse", () => {
  it("writes Gemini's body, signatures back on their parts", () => {
    const original = fixture("usage.response.json");
    const out = encodeResponse(decoded(original), "public-model");
    expect(out).toStrictEqual({
      candidates: [{ content: original.candidates[0].content, finishReason: "STOP", index: 0 }],
      usageMetadata: { promptTokenCount: 20613, candidatesTokenCount: 14, totalTokenCount: 20936, cachedContentTokenCount: 20480, thoughtsTokenCount: 309 },
      modelVersion: "public-model",
      responseId: "mC0yaOK6FbqZqtsPgPWc2Q0",
    });
  });

  it.each(["usage.response.json", "function-call.response.json"])("%s: decode → encode → decode gives the same IR", (name) => {
    const ir = decoded(fixture(name));
    const again = decoded(encodeResponse(ir, ir.model));
    expect({ ...again, created: ir.created }).toStrictEqual(ir);
  });

  it("puts no placeholder signature on calls from another provider (that is for requests)", () => {
    const ir: Response = { id: "", model: "m", created: 1, content: [{ type: "tool-call", id: "call_abc", name: "f", arguments: '{"a":1}' }], finishReason: "tool-calls" };
    expect(encodeResponse(ir, "m")).toStrictEqual({
      candidates: [{ content: { parts: [{ functionCall: { name: "f", args: { a: 1 }, id: "call_abc" } }], role: "model" }, finishReason: "STOP", index: 0 }],
      modelVersion: "m",
    });
  });

  it("the official @google/genai SDK reads our body: text, function calls, usage", () => {
    const text = Object.assign(new GenerateContentResponse(), encodeResponse(decoded(fixture("usage.response.json")), "gemini-2.5-pro"));
    // the SDK's .text skips thought parts, as it does for Google's own responses
    expect(text.text).toBe("The notice period is 30 days (clause 7.2).");
    expect(text.usageMetadata?.thoughtsTokenCount).toBe(309);
    const calls = Object.assign(new GenerateContentResponse(), encodeResponse(decoded(fixture("function-call.response.json")), "gemini-2.5-flash"));
    expect(calls.functionCalls).toStrictEqual([
      { name: "get_weather", args: { location: "Paris, France", unit: "celsius" } },
      { name: "get_time", args: { timezone: "Europe/Paris" } },
    ]);
  });
});
