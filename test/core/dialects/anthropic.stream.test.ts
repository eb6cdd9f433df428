import { readFileSync } from "node:fs";
import Anthropic from "@anthropic-ai/sdk";
import { describe, expect, it } from "vitest";
import type { StreamEvent } from "../../../core/ir.ts";
import { streamDecoder, streamEncoder } from "../../../core/dialects/anthropic/stream.ts";
import { parseSse } from "../../support/sse.ts";
import { assembled } from "../../support/codec.ts";

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/anthropic/${name}`, import.meta.url), "utf8");

/** Everything a decoder makes of an SSE text, end of stream included; `created` is the clock's, so it is zeroed. */
function decodeAll(text: string): StreamEvent[] {
  const decoder = streamDecoder();
  return [...parseSse(text).flatMap((event) => decoder.push(event)), ...decoder.end()]
    .map((e) => (e.type === "start" ? { ...e, created: 0 } : e));
}

function encodeAll(events: StreamEvent[], model = "public-model"): string {
  const encoder = streamEncoder({ model, includeUsage: false });
  return events.map((event) => encoder.encode(event)).join("") + encoder.end();
}


const texts = (events: StreamEvent[], type: "text-delta" | "reasoning-delta") =>
  events.flatMap((e) => (e.type === type ? [e.text] : [])).join("");

const TOOL_ARGUMENTS = String.raw`{"location": "Paris, France", "note": "say \"bonjour\" then \u00e9t\u00e9 \n"}`;
const SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds4MG2Eq0JTDgkFMDpYwAA3BFLuJm9LZHKCvZoUECr2hu+j6gd0iMVQYLMyMLJwpbHIPwaQ==";
const REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj2pWmFtEbBBZSkZ8E2Y";

describe("anthropic streamDecoder: golden transcripts", () => {
  it("text.chunks.txt: input_tokens exclude the cache read, the IR's include it", () => {
    expect(decodeAll(fixture("text.chunks.txt"))).toStrictEqual([
      { type: "start", id: "msg_01XFDUDYJgAACzvnptvVoYEL", model: "claude-sonnet-4-20250514", created: 0 },
      { type: "usage", usage: { inputTokens: 2060, outputTokens: 1, cachedInputTokens: 2048, cacheWriteTokens: 0 } },
      ...["Hello", "! How", " can I", " help you", " today?"].map((text) => ({ type: "text-delta", text })),
      { type: "finish", finishReason: "stop" },
      // message_delta says only output_tokens: the prompt counts of message_start stay
      { type: "usage", usage: { inputTokens: 2060, outputTokens: 12, cachedInputTokens: 2048, cacheWriteTokens: 0 } },
    ]);
  });

  it("tool-use.chunks.txt: input_json_delta split inside string escapes assembles byte for byte", () => {
    const events = decodeAll(fixture("tool-use.chunks.txt"));
    expect(texts(events, "text-delta")).toBe("Let me check the weather in Paris.");
    // content block 1 is tool call 0
    expect(events.filter((e) => e.type === "tool-call-start")).toStrictEqual([
      { type: "tool-call-start", index: 0, id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", name: "get_weather" },
    ]);
    // the empty first fragment is not passed on; the other eight are, as they came (" France" keeps its space)
    expect(events.filter((e) => e.type === "tool-call-delta")).toHaveLength(8);
    expect(assembled(events)).toStrictEqual({ 0: TOOL_ARGUMENTS });
    expect(JSON.parse(assembled(events)[0]!)).toStrictEqual({ location: "Paris, France", note: 'say "bonjour" then été \n' });
    expect(events.slice(-2)).toStrictEqual([
      { type: "finish", finishReason: "tool-calls" },
      { type: "usage", usage: { inputTokens: 472, outputTokens: 89, cachedInputTokens: 0, cacheWriteTokens: 0 } },
    ]);
  });

  it("thinking.chunks.txt: thinking, its signature byte for byte, a redacted block, then text", () => {
    const events = decodeAll(fixture("thinking.chunks.txt"));
    expect(texts(events, "reasoning-delta")).toBe("I need to find the GCD of 1071 and 462.\n\n1071 = 2 × 462 + 147\n462 = 3 × 147 + 21\n147 = 7 × 21 + 0");
    expect(events.filter((e) => e.type === "reasoning-delta" && (e.signature !== undefined || e.redacted !== undefined))).toStrictEqual([
      { type: "reasoning-delta", text: "", signature: SIGNATURE },
      { type: "reasoning-delta", text: "", redacted: REDACTED },
    ]);
    expect(texts(events, "text-delta")).toBe("The GCD of 1071 and 462 is **21**.");
    expect(events.findIndex((e) => e.type === "text-delta")).toBeGreaterThan(events.findLastIndex((e) => e.type === "reasoning-delta"));
    // cache writes are part of the IR's input count too
    expect(events.slice(-2)).toStrictEqual([
      { type: "finish", finishReason: "stop" },
      { type: "usage", usage: { inputTokens: 1546, outputTokens: 198, cachedInputTokens: 0, cacheWriteTokens: 1500 } },
    ]);
  });

  it("error.chunks.txt: an overloaded error mid-stream ends it, with no second error at the end", () => {
    const events = decodeAll(fixture("error.chunks.txt"));
    expect(events.slice(-2)).toStrictEqual([
      { type: "text-delta", text: "Once upon" },
      { type: "error", error: { kind: "overloaded", message: "Overloaded", code: "overloaded_error" } },
    ]);
    expect(events.filter((e) => e.type === "error")).toHaveLength(1);
  });
});

describe("anthropic streamDecoder: broken and odd upstreams", () => {
  const events = fixture("text.chunks.txt").split("\n\n");

  it("reports a stream cut before message_stop, even after its stop reason", () => {
    const cut = events.slice(0, -2).join("\n\n") + "\n\n"; // up to message_delta
    expect(decodeAll(cut).slice(-3)).toMatchObject([
      { type: "finish", finishReason: "stop" },
      { type: "usage" },
      { type: "error", error: { kind: "upstream_invalid", message: "stream ended before it finished" } },
    ]);
  });

  it("reports an event that is not JSON, or not a stream event", () => {
    expect(decodeAll("event: message_start\ndata: {\"type\":\n\n")).toMatchObject([{ type: "error", error: { kind: "upstream_invalid" } }]);
    expect(decodeAll(`data: {"type":"content_block_start","index":"0"}\n\n`)).toMatchObject([{ type: "error", error: { kind: "upstream_invalid" } }]);
  });

  it("maps every stop reason", () => {
    const finish = (reason: string) => decodeAll(
      `event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"${reason}","stop_sequence":null},"usage":{"output_tokens":3}}\n\n`,
    ).find((e) => e.type === "finish");
    expect(["end_turn", "stop_sequence", "max_tokens", "tool_use", "refusal", "pause_turn", "model_context_window_exceeded", "new_reason"].map(finish))
      .toStrictEqual(["stop", "stop", "length", "tool-calls", "content-filter", "other", "length", "other"]
        .map((finishReason) => ({ type: "finish", finishReason })));
  });

  it("numbers tool calls among blocks and ignores server tool blocks", () => {
    const sse = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;
    const events = decodeAll(
      sse({ type: "message_start", message: { id: "m", model: "c", usage: { input_tokens: 1, output_tokens: 1 } } }) +
      sse({ type: "content_block_start", index: 0, content_block: { type: "server_tool_use", id: "srvtoolu_1", name: "web_search", input: {} } }) +
      sse({ type: "content_block_delta", index: 0, delta: { type: "input_json_delta", partial_json: '{"query":"x"}' } }) +
      sse({ type: "content_block_start", index: 1, content_block: { type: "tool_use", id: "toolu_a", name: "f", input: {} } }) +
      sse({ type: "content_block_start", index: 2, content_block: { type: "tool_use", id: "toolu_b", name: "g", input: { whole: true } } }) +
      sse({ type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: '{"n":1}' } }) +
      sse({ type: "message_delta", delta: { stop_reason: "tool_use" }, usage: { output_tokens: 5 } }) +
      sse({ type: "message_stop" }),
    );
    expect(events.filter((e) => e.type === "tool-call-start").map((e) => e.type === "tool-call-start" && [e.index, e.id])).toStrictEqual([[0, "toolu_a"], [1, "toolu_b"]]);
    expect(assembled(events)).toStrictEqual({ 0: '{"n":1}', 1: '{"whole":true}' });
    expect(events.at(-1)).toStrictEqual({ type: "usage", usage: { inputTokens: 1, outputTokens: 5 } });
  });
});

describe("anthropic streamEncoder", () => {
  const sse = (type: string, data: Record<string, unknown> = {}) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  const usage = { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 };

  it("writes Anthropic's events byte for byte, one block per kind of content, usage last", () => {
    const events: StreamEvent[] = [
      { type: "start", id: "chatcmpl-abc", model: "gpt-4o", created: 1700000000 },
      { type: "text-delta", text: "Hi" },
      { type: "tool-call-start", index: 0, id: "call_1", name: "get_time" },
      { type: "tool-call-delta", index: 0, argumentsDelta: '{"tz":' },
      { type: "tool-call-delta", index: 0, argumentsDelta: '"UTC"}' },
      { type: "finish", finishReason: "tool-calls" },
      { type: "usage", usage: { inputTokens: 100, outputTokens: 7, cachedInputTokens: 60 } },
    ];
    expect(encodeAll(events, "m")).toBe(
      sse("message_start", { message: { id: "chatcmpl-abc", type: "message", role: "assistant", model: "m", content: [], stop_reason: null, stop_sequence: null, usage } }) +
      sse("content_block_start", { index: 0, content_block: { type: "text", text: "" } }) +
      sse("content_block_delta", { index: 0, delta: { type: "text_delta", text: "Hi" } }) +
      sse("content_block_stop", { index: 0 }) +
      sse("content_block_start", { index: 1, content_block: { type: "tool_use", id: "call_1", name: "get_time", input: {} } }) +
      sse("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: '{"tz":' } }) +
      sse("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: '"UTC"}' } }) +
      sse("content_block_stop", { index: 1 }) +
      // 100 prompt tokens of which 60 cached: Anthropic says 40 + 60
      sse("message_delta", { delta: { stop_reason: "tool_use", stop_sequence: null }, usage: { input_tokens: 40, cache_creation_input_tokens: 0, cache_read_input_tokens: 60, output_tokens: 7 } }) +
      sse("message_stop"),
    );
  });

  it("puts usage reported before the content into message_start", () => {
    const text = encodeAll([
      { type: "start", id: "msg_1", model: "c", created: 1 },
      { type: "usage", usage: { inputTokens: 30, outputTokens: 1, cacheWriteTokens: 20 } },
      { type: "text-delta", text: "x" },
    ]);
    expect(JSON.parse(parseSse(text)[0]!.data).message.usage).toStrictEqual({ input_tokens: 10, cache_creation_input_tokens: 20, cache_read_input_tokens: 0, output_tokens: 1 });
  });

  it("end() closes the open block and sends message_delta and message_stop once", () => {
    const encoder = streamEncoder({ model: "m", includeUsage: false });
    const text = [encoder.encode({ type: "start", id: "msg_1", model: "c", created: 1 }), encoder.encode({ type: "text-delta", text: "x" }), encoder.end()].join("");
    expect(parseSse(text).map((e) => e.event)).toStrictEqual(["message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"]);
    expect(JSON.parse(parseSse(text).at(-2)!.data).delta).toStrictEqual({ stop_reason: "end_turn", stop_sequence: null });
    expect(encoder.end()).toBe("");
  });

  it("writes nothing at end() when it saw nothing (the same-dialect path forwards the upstream's own end)", () => {
    expect(streamEncoder({ model: "m", includeUsage: false }).end()).toBe("");
  });

  it("opens a new thinking block after a signature, and sends redacted thinking as its own block", () => {
    const events = parseSse(encodeAll([
      { type: "start", id: "msg_1", model: "c", created: 1 },
      { type: "reasoning-delta", text: "a" },
      { type: "reasoning-delta", text: "", signature: "s1" },
      { type: "reasoning-delta", text: "b" },
      { type: "reasoning-delta", text: "", redacted: "r1" },
      { type: "finish", finishReason: "stop" },
    ])).map((e) => JSON.parse(e.data));
    expect(events.filter((e) => e.type === "content_block_start").map((e) => e.content_block)).toStrictEqual([
      { type: "thinking", thinking: "", signature: "" },
      { type: "thinking", thinking: "", signature: "" },
      { type: "redacted_thinking", data: "r1" },
    ]);
    expect(events.filter((e) => e.type === "content_block_delta").map((e) => [e.index, e.delta])).toStrictEqual([
      [0, { type: "thinking_delta", thinking: "a" }],
      [0, { type: "signature_delta", signature: "s1" }],
      [1, { type: "thinking_delta", thinking: "b" }],
    ]);
  });

  it("writes an error as Anthropic's error event, and nothing after it", () => {
    const encoder = streamEncoder({ model: "m", includeUsage: false });
    encoder.encode({ type: "start", id: "msg_1", model: "c", created: 1 });
    expect(encoder.encode({ type: "error", error: { kind: "overloaded", message: "Overloaded" } }))
      .toBe(`event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n`);
    expect(encoder.encode({ type: "text-delta", text: "late" }) + encoder.end()).toBe("");
  });
});

describe("anthropic stream round trips", () => {
  it.each(["text.chunks.txt", "tool-use.chunks.txt", "thinking.chunks.txt", "error.chunks.txt"])(
    "%s: decode → encode → decode gives the same events", (name) => {
      const events = decodeAll(fixture(name));
      const renamed = events.map((e) => (e.type === "start" ? { ...e, model: "public-model" } : e));
      expect(decodeAll(encodeAll(events))).toStrictEqual(renamed);
    },
  );

  // @anthropic-ai/sdk is installed (the e2e matrix uses it), so its own stream parser and
  // accumulator read what the encoder writes.
  it("the official Anthropic SDK assembles our stream into the same message", async () => {
    const sse = encodeAll([
      ...decodeAll(fixture("thinking.chunks.txt")).filter((e) => e.type !== "finish" && e.type !== "usage"),
      ...decodeAll(fixture("tool-use.chunks.txt")).filter((e) => e.type !== "start"),
    ], "claude-x");
    const client = new Anthropic({
      apiKey: "test",
      baseURL: "http://sluice.test",
      maxRetries: 0,
      fetch: async () => new Response(sse, { headers: { "content-type": "text/event-stream" } }),
    });
    const message = await client.messages.stream({ model: "claude-x", max_tokens: 1024, messages: [{ role: "user", content: "go" }] }).finalMessage();
    expect(message).toMatchObject({ id: "msg_01Aq9w938a90dw8q", model: "claude-x", stop_reason: "tool_use", stop_sequence: null });
    expect(message.content).toMatchObject([
      { type: "thinking", signature: SIGNATURE },
      { type: "redacted_thinking", data: REDACTED },
      { type: "text", text: "The GCD of 1071 and 462 is **21**.Let me check the weather in Paris." },
      { type: "tool_use", id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", name: "get_weather", input: JSON.parse(TOOL_ARGUMENTS) },
    ]);
    expect(message.usage).toMatchObject({ input_tokens: 472, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 89 });
  });
});
