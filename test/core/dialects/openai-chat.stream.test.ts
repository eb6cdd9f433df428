import { readFileSync } from "node:fs";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import type { StreamEvent } from "../../../core/ir.ts";
import { streamDecoder, streamEncoder } from "../../../core/dialects/openai-chat/stream.ts";
import { parseSse } from "../../support/sse.ts";
import { assembled } from "../../support/codec.ts";

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/openai-chat/${name}`, import.meta.url), "utf8");

/** Everything a decoder makes of an SSE text, end of stream included. */
function decodeAll(text: string): StreamEvent[] {
  const decoder = streamDecoder();
  return [...parseSse(text).flatMap((event) => decoder.push(event)), ...decoder.end()];
}

function encodeAll(events: StreamEvent[], options = { model: "public-model", includeUsage: true }): string {
  const encoder = streamEncoder(options);
  return events.map((event) => encoder.encode(event)).join("") + encoder.end();
}


const TOOL_ARGUMENTS = String.raw`{"location":"Paris, France","note":"say \"bonjour\" then \u00e9t\u00e9 \n"}`;

describe("openai-chat streamDecoder: golden transcripts", () => {
  it("text.chunks.txt", () => {
    const words = ["Hello", "!", " How", " can", " I", " help", " you", " today", "?"];
    expect(decodeAll(fixture("text.chunks.txt"))).toStrictEqual([
      { type: "start", id: "chatcmpl-BQ7dXx2kHnQ4Yt1aCjW0uZrM5LsPe", model: "gpt-4o-mini-2024-07-18", created: 1745923200 },
      ...words.map((text) => ({ type: "text-delta", text })),
      { type: "finish", finishReason: "stop" },
    ]);
  });

  it("tool-call.chunks.txt: arguments split inside string escapes assemble byte for byte", () => {
    const events = decodeAll(fixture("tool-call.chunks.txt"));
    expect(events.slice(0, 2)).toStrictEqual([
      { type: "start", id: "chatcmpl-BQ7fK2mYVbX9qLw3RzT8nE4aHcJdU", model: "gpt-4o-2024-08-06", created: 1745923311 },
      { type: "tool-call-start", index: 0, id: "call_Vq0Zk3bT1xYwN7sQpL2mR8eD", name: "get_weather" },
    ]);
    expect(events.filter((e) => e.type === "tool-call-delta")).toHaveLength(21);
    expect(events.at(-1)).toStrictEqual({ type: "finish", finishReason: "tool-calls" });
    expect(assembled(events)).toStrictEqual({ 0: TOOL_ARGUMENTS });
    expect(JSON.parse(assembled(events)[0]!)).toStrictEqual({ location: "Paris, France", note: 'say "bonjour" then été \n' });
  });

  it("parallel-tool-calls.chunks.txt: two calls, each by its own index", () => {
    const events = decodeAll(fixture("parallel-tool-calls.chunks.txt"));
    expect(events.filter((e) => e.type === "tool-call-start")).toStrictEqual([
      { type: "tool-call-start", index: 0, id: "call_9sDfG1hJ2kL3zXcV4bNm5QwE", name: "get_weather" },
      { type: "tool-call-start", index: 1, id: "call_Rt6yU7iO8pA9sD0fG1hJ2kLz", name: "get_time" },
    ]);
    expect(assembled(events)).toStrictEqual({ 0: '{"location": "Paris"}', 1: '{"timezone": "Asia/Tokyo"}' });
    expect(events.at(-1)).toStrictEqual({ type: "finish", finishReason: "tool-calls" });
  });

  it("usage.chunks.txt: the final chunk with choices [] is a usage event after the finish", () => {
    const events = decodeAll(fixture("usage.chunks.txt"));
    expect(events.slice(-2)).toStrictEqual([
      { type: "finish", finishReason: "stop" },
      { type: "usage", usage: { inputTokens: 1422, outputTokens: 6, cachedInputTokens: 1280, reasoningTokens: 0 } },
    ]);
    expect(events.filter((e) => e.type === "text-delta").map((e) => (e.type === "text-delta" ? e.text : "")).join("")).toBe("The sky is blue.");
  });

  it("deepseek-reasoning.chunks.txt: reasoning_content, then content, usage on the finish chunk", () => {
    const events = decodeAll(fixture("deepseek-reasoning.chunks.txt"));
    const text = (type: "text-delta" | "reasoning-delta") =>
      events.flatMap((e) => (e.type === type ? [e.text] : [])).join("");
    expect(events[0]).toStrictEqual({ type: "start", id: "5f1c1e0e-8a3b-4b8e-9d6a-2f7c3b1a9e44", model: "deepseek-reasoner", created: 1745923600 });
    expect(text("reasoning-delta")).toBe("Okay, the user asks 9.11 vs 9.8.\n\n0.8 > 0.11.");
    expect(text("text-delta")).toBe("9.8 is greater.");
    expect(events.findIndex((e) => e.type === "text-delta")).toBeGreaterThan(events.findLastIndex((e) => e.type === "reasoning-delta"));
    expect(events.slice(-2)).toStrictEqual([
      { type: "finish", finishReason: "stop" },
      { type: "usage", usage: { inputTokens: 18, outputTokens: 154, cachedInputTokens: 0, reasoningTokens: 147 } },
    ]);
  });

  it("error.chunks.txt: an error event ends the stream, with no second error at the end", () => {
    const events = decodeAll(fixture("error.chunks.txt"));
    expect(events.slice(-1)).toStrictEqual([{
      type: "error",
      error: { kind: "upstream_error", message: "The server had an error while processing your request. Sorry about that!" },
    }]);
    expect(events.filter((e) => e.type === "error")).toHaveLength(1);
  });
});

describe("openai-chat streamDecoder: broken and odd upstreams", () => {
  const truncated = fixture("text.chunks.txt").split("\n\n").slice(0, 4).join("\n\n") + "\n\n";

  it("reports a stream that ends before its finish reason", () => {
    expect(decodeAll(truncated).at(-1)).toStrictEqual({
      type: "error", error: { kind: "upstream_invalid", message: "stream ended before it finished" },
    });
  });

  it("still reports it when [DONE] came without a finish reason", () => {
    expect(decodeAll(`${truncated}data: [DONE]\n\n`).at(-1)).toMatchObject({ type: "error", error: { kind: "upstream_invalid" } });
  });

  it("reports a chunk that is not JSON", () => {
    expect(decodeAll("data: {\"id\":\n\n")).toMatchObject([{ type: "error", error: { kind: "upstream_invalid" } }]);
  });

  it("opens a new call when a server reuses index 0 with a new id (Ollama)", () => {
    const chunk = (call: Record<string, unknown>, finish: string | null = null) =>
      `data: ${JSON.stringify({ id: "x", model: "llama3.1", created: 1, choices: [{ index: 0, delta: { tool_calls: [call] }, finish_reason: finish }] })}\n\n`;
    const events = decodeAll(
      chunk({ index: 0, id: "call_a", function: { name: "f", arguments: '{"n":1}' } }) +
      chunk({ index: 0, id: "call_b", function: { name: "g", arguments: '{"n":2}' } }, "stop"),
    );
    expect(assembled(events)).toStrictEqual({ 0: '{"n":1}', 1: '{"n":2}' });
    // a server that says "stop" after tool calls still ends a tool-call turn
    expect(events.at(-1)).toStrictEqual({ type: "finish", finishReason: "tool-calls" });
  });

  it("reads `reasoning` (OpenRouter, vLLM) like reasoning_content", () => {
    const events = decodeAll(`data: {"id":"x","model":"m","created":1,"choices":[{"index":0,"delta":{"reasoning":"hm"},"finish_reason":"stop"}]}\n\n`);
    expect(events[1]).toStrictEqual({ type: "reasoning-delta", text: "hm" });
  });
});

describe("openai-chat streamEncoder", () => {
  const events: StreamEvent[] = [
    { type: "start", id: "chatcmpl-abc", model: "upstream-model", created: 1700000000 },
    { type: "text-delta", text: "Hi" },
    { type: "tool-call-start", index: 3, id: "call_1", name: "get_time" },
    { type: "tool-call-delta", index: 3, argumentsDelta: '{"tz":' },
    { type: "tool-call-delta", index: 3, argumentsDelta: '"UTC"}' },
    { type: "finish", finishReason: "tool-calls" },
  ];
  const head = `"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1700000000,"model":"m"`;
  const chunk = (delta: string, finish = "null") =>
    `data: {${head},"choices":[{"index":0,"delta":${delta},"logprobs":null,"finish_reason":${finish}}]}\n\n`;

  it("writes OpenAI's chunks byte for byte, tool calls renumbered from 0", () => {
    expect(encodeAll(events, { model: "m", includeUsage: false })).toBe(
      chunk(`{"role":"assistant","content":"","refusal":null}`) +
      chunk(`{"content":"Hi"}`) +
      chunk(`{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_time","arguments":""}}]}`) +
      chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{\\"tz\\":"}}]}`) +
      chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"\\"UTC\\"}"}}]}`) +
      chunk(`{}`, `"tool_calls"`) +
      "data: [DONE]\n\n",
    );
  });

  it("adds usage only when the client asked: null on every chunk, then one usage chunk with choices []", () => {
    const usage: StreamEvent = { type: "usage", usage: { inputTokens: 10, outputTokens: 5, reasoningTokens: 2 } };
    const without = encodeAll([...events, usage], { model: "m", includeUsage: false });
    expect(without).not.toContain("usage");
    const chunks = parseSse(encodeAll([...events, usage], { model: "m", includeUsage: true }));
    expect(chunks.at(-1)).toStrictEqual({ data: "[DONE]" });
    expect(JSON.parse(chunks.at(-2)!.data)).toStrictEqual({
      id: "chatcmpl-abc", object: "chat.completion.chunk", created: 1700000000, model: "m", choices: [],
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, completion_tokens_details: { reasoning_tokens: 2 } },
    });
    for (const c of chunks.slice(0, -2)) expect(JSON.parse(c.data).usage).toBeNull();
  });

  it("uses one id and created for every chunk, and makes them when the start has none", () => {
    const chunks = parseSse(encodeAll([{ type: "start", id: "", model: "x", created: 5 }, ...events.slice(1)])).slice(0, -1);
    const ids = new Set(chunks.map((c) => JSON.parse(c.data).id));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^chatcmpl-/);
    expect(new Set(chunks.map((c) => JSON.parse(c.data).created))).toStrictEqual(new Set([5]));
  });

  it("writes an error event as OpenAI's stream error", () => {
    const encoder = streamEncoder({ model: "m", includeUsage: false });
    const text = encoder.encode({ type: "error", error: { kind: "upstream_timeout", message: "upstream took too long" } });
    expect(text).toBe(`data: {"error":{"message":"upstream took too long","type":"server_error","param":null,"code":"timeout"}}\n\n`);
  });
});

describe("openai-chat stream round trips", () => {
  it.each([
    "text.chunks.txt", "tool-call.chunks.txt", "parallel-tool-calls.chunks.txt", "usage.chunks.txt", "deepseek-reasoning.chunks.txt",
  ])("%s: decode → encode → decode gives the same events", (name) => {
    const events = decodeAll(fixture(name));
    const again = decodeAll(encodeAll(events, { model: "public-model", includeUsage: true }));
    const renamed = events.map((e) => (e.type === "start" ? { ...e, model: "public-model" } : e));
    expect(again).toStrictEqual(renamed);
  });

  it("the official openai SDK assembles our stream into the same tool call", async () => {
    const sse = encodeAll(decodeAll(fixture("tool-call.chunks.txt")), { model: "gpt-4o", includeUsage: false });
    const client = new OpenAI({
      apiKey: "test",
      baseURL: "http://sluice.test/v1",
      fetch: async () => new Response(sse, { headers: { "content-type": "text/event-stream" } }),
    });
    const stream = client.chat.completions.stream({ model: "gpt-4o", messages: [{ role: "user", content: "weather?" }] });
    const completion = await stream.finalChatCompletion();
    const message = completion.choices[0]!.message;
    expect(completion.choices[0]!.finish_reason).toBe("tool_calls");
    expect(message.tool_calls).toMatchObject([{ id: "call_Vq0Zk3bT1xYwN7sQpL2mR8eD", type: "function", function: { name: "get_weather", arguments: TOOL_ARGUMENTS } }]);
  });
});
