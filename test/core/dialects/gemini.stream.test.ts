import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { StreamEvent } from "../../../core/ir.ts";
import { gemini } from "../../../core/dialects/gemini/index.ts";
import { streamDecoder, streamEncoder } from "../../../core/dialects/gemini/stream.ts";
import { parseSse } from "../../support/sse.ts";

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/gemini/${name}`, import.meta.url), "utf8");

function decodeAll(text: string): StreamEvent[] {
  const decoder = streamDecoder();
  return [...parseSse(text).flatMap((event) => decoder.push(event)), ...decoder.end()];
}

function encodeAll(events: StreamEvent[], model = "public-model"): string {
  const encoder = streamEncoder({ model, includeUsage: false });
  return events.map((event) => encoder.encode(event)).join("") + encoder.end();
}

const start = (events: StreamEvent[]) => events.filter((e) => e.type === "start");
const joined = (events: StreamEvent[], type: "text-delta" | "reasoning-delta") => events.flatMap((e) => (e.type === type ? [e.text] : [])).join("");
const SIG_CALL = JSON.parse(parseSse(fixture("function-call.chunks.txt"))[0]!.data).candidates[0].content.parts[0].thoughtSignature as string;
const SIG_TEXT = JSON.parse(parseSse(fixture("thinking.chunks.txt"))[2]!.data).candidates[0].content.parts[0].thoughtSignature as string;

describe("gemini streamDecoder: golden transcripts", () => {
  it("text.chunks.txt: usage from the last chunk only, thoughts counted as output", () => {
    const events = decodeAll(fixture("text.chunks.txt"));
    expect(events.map((e) => (e.type === "start" ? { ...e, created: 0 } : e))).toStrictEqual([
      { type: "start", id: "pR4xaMmWJ9-ZqtsP1J6fkAU", model: "gemini-2.5-flash", created: 0 },
      { type: "text-delta", text: "Why did the scarecrow" },
      { type: "text-delta", text: " win an award?\n\nBecause he was outstanding" },
      { type: "text-delta", text: " in his field!" },
      { type: "finish", finishReason: "stop" },
      { type: "usage", usage: { inputTokens: 9, outputTokens: 225, reasoningTokens: 208 } },
    ]);
  });

  it("function-call.chunks.txt: whole calls → a start and one delta each, signature on the first", () => {
    expect(decodeAll(fixture("function-call.chunks.txt")).slice(1)).toStrictEqual([
      { type: "tool-call-start", index: 0, id: "call_0", name: "get_weather", signature: SIG_CALL },
      { type: "tool-call-delta", index: 0, argumentsDelta: '{"location":"Paris, France","unit":"celsius"}' },
      { type: "tool-call-start", index: 1, id: "call_1", name: "get_time" },
      { type: "tool-call-delta", index: 1, argumentsDelta: '{"timezone":"Europe/Paris"}' },
      { type: "finish", finishReason: "tool-calls" },
      { type: "usage", usage: { inputTokens: 112, outputTokens: 151, reasoningTokens: 113 } },
    ]);
  });

  it("thinking.chunks.txt: thought parts are reasoning; the signed answer part brings its signature", () => {
    const events = decodeAll(fixture("thinking.chunks.txt"));
    expect(start(events)).toMatchObject([{ id: "Qh8xaP3uN_GKqtsPt_a4sQk", model: "gemini-2.5-pro" }]);
    expect(joined(events, "reasoning-delta")).toBe("**Comparing decimals**\n\nI'm lining up 9.11 and 9.8 by their tenths.**Concluding**\n\nEight tenths beat one tenth.");
    expect(joined(events, "text-delta")).toBe("9.8 is greater than 9.11.");
    expect(events.slice(3, 5)).toStrictEqual([
      { type: "reasoning-delta", text: "", signature: SIG_TEXT },
      { type: "text-delta", text: "9.8 is greater than 9.11" },
    ]);
    expect(events.at(-1)).toStrictEqual({ type: "usage", usage: { inputTokens: 14, outputTokens: 285, reasoningTokens: 276 } });
  });

  it("error.chunks.txt: an error event ends the stream, with no second error at the end", () => {
    const events = decodeAll(fixture("error.chunks.txt"));
    expect(events.slice(-1)).toStrictEqual([{ type: "error", error: { kind: "overloaded", message: "The model is overloaded. Please try again later." } }]);
    expect(events.filter((e) => e.type === "error")).toHaveLength(1);
  });
});

describe("gemini streamDecoder: broken and odd upstreams", () => {
  it("reports a stream that ends without a finishReason", () => {
    const cut = fixture("text.chunks.txt").split("\r\n\r\n").slice(0, 2).join("\r\n\r\n") + "\r\n\r\n";
    expect(decodeAll(cut).at(-1)).toStrictEqual({ type: "error", error: { kind: "upstream_invalid", message: "stream ended before it finished" } });
    expect(decodeAll("")).toStrictEqual([{ type: "error", error: { kind: "upstream_invalid", message: "stream ended before it finished" } }]);
  });

  it("reports an event that is not JSON, or not a response", () => {
    expect(decodeAll("data: {\"candidates\":\r\n\r\n")).toMatchObject([{ type: "error", error: { kind: "upstream_invalid" } }]);
    expect(decodeAll("data: {\"candidates\":7}\r\n\r\n")).toMatchObject([{ type: "error", error: { kind: "upstream_invalid" } }]);
  });

  it("ends a refused prompt with a content-filter finish", () => {
    const events = decodeAll(`data: {"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":4,"totalTokenCount":4}}\r\n\r\n`);
    expect(events.slice(1)).toStrictEqual([{ type: "finish", finishReason: "content-filter" }, { type: "usage", usage: { inputTokens: 4, outputTokens: 0 } }]);
  });

  it("numbers id-less calls across chunks and keeps ids Gemini sends", () => {
    const call = (fc: Record<string, unknown>, finish = "") =>
      `data: ${JSON.stringify({ candidates: [{ content: { role: "model", parts: [{ functionCall: fc }] }, ...(finish ? { finishReason: finish } : {}) }] })}\n\n`;
    const events = decodeAll(call({ name: "a", args: {} }) + call({ id: "x-1", name: "b", args: { n: 1 } }) + call({ name: "c" }, "STOP"));
    expect(events.filter((e) => e.type === "tool-call-start")).toStrictEqual([
      { type: "tool-call-start", index: 0, id: "call_0", name: "a" },
      { type: "tool-call-start", index: 1, id: "x-1", name: "b" },
      { type: "tool-call-start", index: 2, id: "call_2", name: "c" },
    ]);
    expect(events.at(-1)).toStrictEqual({ type: "finish", finishReason: "tool-calls" });
  });
});

describe("gemini streamEncoder", () => {
  const head = `"modelVersion":"m","responseId":"r-1"`;
  const chunk = (parts: string, more = "") => `data: {"candidates":[{"content":{"parts":${parts},"role":"model"}${more},"index":0}],${head}}\r\n\r\n`;

  it("writes Gemini's chunks byte for byte, CRLF-framed, a call held until complete, usage with the finish", () => {
    const events: StreamEvent[] = [
      { type: "start", id: "r-1", model: "upstream", created: 1 },
      { type: "reasoning-delta", text: "hm", signature: "s1" },
      { type: "text-delta", text: "Hi" },
      { type: "tool-call-start", index: 3, id: "toolu_1", name: "get_time" },
      { type: "tool-call-delta", index: 3, argumentsDelta: '{"tz":' },
      { type: "tool-call-delta", index: 3, argumentsDelta: '"UTC"}' },
      { type: "finish", finishReason: "tool-calls" },
      { type: "usage", usage: { inputTokens: 10, outputTokens: 7, reasoningTokens: 2 } },
    ];
    expect(encodeAll(events, "m")).toBe(
      chunk(`[{"text":"hm","thought":true,"thoughtSignature":"s1"}]`) +
      chunk(`[{"text":"Hi"}]`) +
      chunk(`[{"functionCall":{"name":"get_time","args":{"tz":"UTC"},"id":"toolu_1"}}]`) +
      `data: {"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"STOP","index":0}],` +
      `"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"totalTokenCount":17,"thoughtsTokenCount":2},${head}}\r\n\r\n`,
    );
  });

  it("flushes held calls and the finish at end() when no usage came, and has no terminator", () => {
    const encoder = streamEncoder({ model: "m", includeUsage: false });
    const written = [
      encoder.encode({ type: "start", id: "r-1", model: "u", created: 1 }),
      encoder.encode({ type: "tool-call-start", index: 0, id: "call_0", name: "f" }),
      encoder.encode({ type: "tool-call-delta", index: 0, argumentsDelta: "{}" }),
    ];
    expect(written.join("")).toBe(""); // still held
    expect(encoder.end()).toBe(chunk(`[{"functionCall":{"name":"f","args":{}}}]`));
    expect(streamEncoder({ model: "m", includeUsage: false }).end()).toBe("");
  });

  it("writes an error event as Google's error body", () => {
    const encoder = streamEncoder({ model: "m", includeUsage: false });
    expect(encoder.encode({ type: "error", error: { kind: "rate_limited", message: "slow down" } }))
      .toBe(`data: {"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}\r\n\r\n`);
    expect(encoder.end()).toBe("");
  });
});

describe("gemini stream round trips", () => {
  it.each(["text.chunks.txt", "function-call.chunks.txt", "thinking.chunks.txt"])("%s: decode → encode → decode gives the same events", (name) => {
    const events = decodeAll(fixture(name));
    const again = decodeAll(encodeAll(events));
    const expected = events.map((e) => (e.type === "start" ? { ...e, model: "public-model" } : e));
    expect(again.map((e, i) => (e.type === "start" ? { ...e, created: (expected[i] as { created: number }).created } : e))).toStrictEqual(expected);
  });

  it("streamSignificant picks the events the same-dialect path must read", () => {
    const events = parseSse(fixture("text.chunks.txt")).map((e) => e.data);
    expect(events.map((data) => gemini.streamSignificant!.test(data))).toStrictEqual([false, false, true]);
    expect(parseSse(fixture("function-call.chunks.txt")).every((e) => gemini.streamSignificant!.test(e.data))).toBe(true);
    expect(gemini.streamSignificant!.test(parseSse(fixture("error.chunks.txt"))[1]!.data)).toBe(true);
    // a name inside text is escaped, so it does not count
    expect(gemini.streamSignificant!.test(String.raw`{"candidates":[{"content":{"parts":[{"text":"say \"finishReason\": no"}]}}]}`)).toBe(false);
  });
});
