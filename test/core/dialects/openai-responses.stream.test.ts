import { readFileSync } from "node:fs";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { gatewayError } from "../../../core/errors.ts";
import type { StreamEvent } from "../../../core/ir.ts";
import { streamDecoder, streamEncoder } from "../../../core/dialects/openai-responses/stream.ts";
import { openaiResponses } from "../../../core/dialects/openai-responses/index.ts";
import { parseSse } from "../../support/sse.ts";

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/openai-responses/${name}`, import.meta.url), "utf8");

function decodeAll(text: string): StreamEvent[] {
  const decoder = streamDecoder();
  return [...parseSse(text).flatMap((event) => decoder.push(event)), ...decoder.end()];
}

function encodeAll(events: StreamEvent[], model = "public-model"): string {
  const encoder = streamEncoder({ model, includeUsage: false });
  return events.map((event) => encoder.encode(event)).join("") + encoder.end();
}

const ENC = "gAAAAABor0AxH0X9kVl2z8m5Q0qg7i3Q5u8dZ3n0L9yX4w==";
const ARGS = String.raw`{"location": "Paris, France", "note": "say \"bonjour\" then \u00e9t\u00e9 \n"}`;
const FRAGMENTS = ['{"location": "Pa', "ris,", ' France", "note": "say \\', '"bonjour\\" then \\u00', "e9t\\u", "00e9 \\", 'n"}'];

describe("openai-responses streamDecoder: golden transcripts", () => {
  it("text.chunks.txt", () => {
    expect(decodeAll(fixture("text.chunks.txt"))).toStrictEqual([
      { type: "start", id: "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b", model: "gpt-4.1-2025-04-14", created: 1741476542 },
      ...["Hi", "!", " How", " can I", " help you", " today?"].map((text) => ({ type: "text-delta", text })),
      { type: "finish", finishReason: "stop" },
      { type: "usage", usage: { inputTokens: 37, outputTokens: 11, cachedInputTokens: 0, reasoningTokens: 0 } },
    ]);
  });

  it("function-call.chunks.txt: summary, signature, argument deltas split inside escapes, byte for byte", () => {
    expect(decodeAll(fixture("function-call.chunks.txt"))).toStrictEqual([
      { type: "start", id: "resp_68af4030592c81938ec0a5fbab4a3e9f05438e46b5f69a3b", model: "o4-mini-2025-04-16", created: 1756315696 },
      { type: "reasoning-delta", text: "**Checking the weather**\n\n" },
      { type: "reasoning-delta", text: "The user wants Paris weather; I'll call get_weather." },
      { type: "reasoning-delta", text: "", signature: ENC },
      { type: "tool-call-start", index: 0, id: "call_4QhIUAMXbjwjnRJD2LGjMc1N", name: "get_weather" },
      ...FRAGMENTS.map((argumentsDelta) => ({ type: "tool-call-delta", index: 0, argumentsDelta })),
      { type: "finish", finishReason: "tool-calls" },
      { type: "usage", usage: { inputTokens: 1843, outputTokens: 211, cachedInputTokens: 1536, reasoningTokens: 128 } },
    ]);
    expect(FRAGMENTS.join("")).toBe(ARGS);
  });

  it("the same-dialect path decodes only significant events and still gets start, finish and usage", () => {
    const raw = fixture("function-call.chunks.txt").split(/(?<=\n\n)/);
    const significant = raw.filter((event) => openaiResponses.streamSignificant!.test(event));
    expect(significant.map((event) => /^event: (\S+)/.exec(event)![1])).toStrictEqual(["response.created", "response.completed"]);
    expect(decodeAll(significant.join(""))).toMatchObject([
      { type: "start" }, { type: "finish", finishReason: "tool-calls" }, { type: "usage", usage: { inputTokens: 1843 } },
    ]);
    for (const type of ["response.incomplete", "response.failed", "error"]) {
      expect(openaiResponses.streamSignificant!.test(`event: ${type}\ndata: {"type":"${type}","sequence_number":3}\n\n`)).toBe(true);
    }
    expect(openaiResponses.streamSignificant!.test(`data: {"type":"response.output_text.delta","delta":"{\\"type\\":\\"error\\"}"}\n\n`)).toBe(false);
  });
});

describe("openai-responses streamDecoder: ends and errors", () => {
  const text = fixture("text.chunks.txt");

  it("a stream cut before its terminal event is upstream_invalid", () => {
    const cut = text.slice(0, text.indexOf("event: response.completed"));
    expect(decodeAll(cut).at(-1)).toStrictEqual({ type: "error", error: { kind: "upstream_invalid", message: "stream ended before it finished" } });
  });

  it("incomplete: length, with usage", () => {
    const events = decodeAll(`event: response.incomplete\ndata: {"type":"response.incomplete","sequence_number":9,"response":{"id":"resp_1","model":"m","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"output":[],"usage":{"input_tokens":5,"output_tokens":16}}}\n\n`);
    expect(events.slice(1)).toStrictEqual([{ type: "finish", finishReason: "length" }, { type: "usage", usage: { inputTokens: 5, outputTokens: 16 } }]);
  });

  it("response.failed and error events (flat and nested) end the stream with one error", () => {
    const failed = decodeAll(`event: response.failed\ndata: {"type":"response.failed","sequence_number":4,"response":{"id":"resp_1","status":"failed","error":{"code":"server_error","message":"boom"},"output":[]}}\n\n`);
    expect(failed.slice(1)).toStrictEqual([{ type: "error", error: { kind: "upstream_error", message: "boom", code: "server_error" } }]);
    const flat = decodeAll(`event: error\ndata: {"type":"error","code":"rate_limit_exceeded","message":"slow","param":null,"sequence_number":1}\n\n`);
    expect(flat).toStrictEqual([{ type: "error", error: { kind: "rate_limited", message: "slow", code: "rate_limit_exceeded" } }]);
    const nested = decodeAll(`event: error\ndata: {"type":"error","sequence_number":2,"error":{"type":"too_many_requests","code":"too_many_requests","message":"Too Many Requests","param":null}}\n\n`);
    expect(nested).toStrictEqual([{ type: "error", error: { kind: "rate_limited", message: "Too Many Requests", code: "too_many_requests" } }]);
  });

  it("not JSON, or not an event, is upstream_invalid", () => {
    expect(decodeAll("data: {nope\n\n")).toMatchObject([{ type: "error", error: { kind: "upstream_invalid" } }]);
    expect(decodeAll(`data: {"type":"response.output_text.delta","output_index":"0"}\n\n`)).toMatchObject([{ type: "error", error: { kind: "upstream_invalid" } }]);
  });

  it("arguments sent only whole (in .done) still reach the IR, once", () => {
    const events = decodeAll([
      `data: {"type":"response.output_item.added","output_index":0,"item":{"type":"function_call","call_id":"c1","name":"f","arguments":""}}`,
      `data: {"type":"response.function_call_arguments.done","output_index":0,"arguments":"{\\"a\\":1}"}`,
      `data: {"type":"response.output_item.done","output_index":0,"item":{"type":"function_call","call_id":"c1","name":"f","arguments":"{\\"a\\":1}"}}`,
      `data: {"type":"response.completed","response":{"status":"completed","output":[]}}`,
    ].join("\n\n") + "\n\n");
    expect(events.slice(1)).toStrictEqual([
      { type: "tool-call-start", index: 0, id: "c1", name: "f" },
      { type: "tool-call-delta", index: 0, argumentsDelta: '{"a":1}' },
      { type: "finish", finishReason: "tool-calls" },
    ]);
  });
});

describe("openai-responses streamEncoder", () => {
  const toolEvents: StreamEvent[] = [
    { type: "start", id: "chatcmpl-9", model: "upstream", created: 1700000000 },
    { type: "reasoning-delta", text: "Thinking " },
    { type: "reasoning-delta", text: "hard." },
    { type: "reasoning-delta", text: "", signature: ENC },
    { type: "text-delta", text: "Let me " },
    { type: "text-delta", text: "check." },
    { type: "tool-call-start", index: 3, id: "call_1", name: "get_weather" },
    ...FRAGMENTS.map((argumentsDelta): StreamEvent => ({ type: "tool-call-delta", index: 3, argumentsDelta })),
    { type: "finish", finishReason: "tool-calls" },
    { type: "usage", usage: { inputTokens: 100, outputTokens: 20, cachedInputTokens: 60, reasoningTokens: 5 } },
  ];

  it("writes the event sequence with running sequence numbers", () => {
    const events = parseSse(encodeAll(toolEvents));
    const data = events.map((event) => JSON.parse(event.data) as { type: string; sequence_number: number });
    expect(events.map((event) => event.event)).toStrictEqual(data.map((d) => d.type));
    expect(data.map((d) => d.sequence_number)).toStrictEqual(data.map((_, i) => i));
    expect(data.map((d) => d.type)).toStrictEqual([
      "response.created", "response.in_progress",
      "response.output_item.added", "response.reasoning_summary_part.added",
      "response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
      "response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
      "response.output_item.added", "response.content_part.added", "response.output_text.delta", "response.output_text.delta",
      "response.output_text.done", "response.content_part.done", "response.output_item.done",
      "response.output_item.added", ...FRAGMENTS.map(() => "response.function_call_arguments.delta"),
      "response.function_call_arguments.done", "response.output_item.done",
      "response.completed",
    ]);
  });

  it("round trips: decoding what it wrote gives the IR stream back", () => {
    const decoded = decodeAll(encodeAll(toolEvents));
    expect(decoded[0]).toMatchObject({ type: "start", model: "public-model", created: 1700000000 });
    expect(decoded.slice(1)).toStrictEqual([
      ...toolEvents.slice(1, 6),
      { type: "tool-call-start", index: 0, id: "call_1", name: "get_weather" },
      ...FRAGMENTS.map((argumentsDelta) => ({ type: "tool-call-delta", index: 0, argumentsDelta })),
      ...toolEvents.slice(-2),
    ]);
  });

  it("the official SDK's stream helper assembles our stream", async () => {
    const sse = encodeAll(toolEvents);
    const client = new OpenAI({
      apiKey: "test",
      baseURL: "http://sluice.test/v1",
      fetch: async () => new Response(sse, { headers: { "content-type": "text/event-stream" } }),
    });
    const deltas: string[] = [];
    const stream = client.responses.stream({ model: "public-model", input: "weather?" });
    stream.on("response.function_call_arguments.delta", (event) => deltas.push(event.delta));
    const response = await stream.finalResponse();
    expect(response.status).toBe("completed");
    expect(response.output_text).toBe("Let me check.");
    expect(deltas.join("")).toBe(ARGS);
    expect(response.output).toMatchObject([
      { type: "reasoning", summary: [{ type: "summary_text", text: "Thinking hard." }], encrypted_content: ENC },
      { type: "message", content: [{ type: "output_text", text: "Let me check." }] },
      { type: "function_call", call_id: "call_1", name: "get_weather", arguments: ARGS },
    ]);
    expect(response.usage).toStrictEqual({
      input_tokens: 100, input_tokens_details: { cached_tokens: 60 }, output_tokens: 20, output_tokens_details: { reasoning_tokens: 5 }, total_tokens: 120,
    });
  });

  it("length ends with response.incomplete; an encoder that saw nothing writes nothing", () => {
    const out = parseSse(encodeAll([{ type: "text-delta", text: "a" }, { type: "finish", finishReason: "length" }]));
    expect(JSON.parse(out.at(-1)!.data)).toMatchObject({ type: "response.incomplete", response: { status: "incomplete", incomplete_details: { reason: "max_output_tokens" } } });
    expect(encodeAll([])).toBe("");
  });

  it("an error is an error event then response.failed, and nothing after", () => {
    const encoder = streamEncoder({ model: "m", includeUsage: false });
    const text = encoder.encode({ type: "text-delta", text: "Once" }) +
      encoder.encode({ type: "error", error: gatewayError("overloaded", "Overloaded") }) +
      encoder.encode({ type: "text-delta", text: "more" }) + encoder.end();
    const data = parseSse(text).map((event) => JSON.parse(event.data));
    expect(data.slice(-2)).toMatchObject([
      { type: "error", code: "overloaded", message: "Overloaded", param: null },
      { type: "response.failed", response: { status: "failed", error: { code: "overloaded", message: "Overloaded" } } },
    ]);
    expect(data.map((d) => d.sequence_number)).toStrictEqual(data.map((_, i) => i));
  });
});
