import { describe, expect, test } from "vitest";
import { anthropic } from "../../core/dialects/anthropic/index.ts";
import { openaiChat } from "../../core/dialects/openai-chat/index.ts";
import type { Codec } from "../../core/dialects/codec.ts";
import { ResponseCollector } from "../../core/pipeline/ir-stream.ts";
import { decodeSse, firstSaying, openStream, passthroughSource, pump } from "../../core/pipeline/stream.ts";
import { AttemptSignal } from "../../core/pipeline/upstream.ts";

// The same-dialect stream path forwards content unread and reads only from the first event that
// may say something. Whatever way the upstream's bytes are cut into reads, the client gets
// exactly those bytes and the tally gets the finish and the usage.

const chunk = (content: string) => `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"${content}"},"finish_reason":null}]}\n\n`;
const finish = `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n`;
const usage = `data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":40,"total_tokens":47}}\n\n`;
const role = `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n`;
const done = "data: [DONE]\n\n";

// Non-ASCII content too: a read cut inside a UTF-8 sequence must not garble it.
const stream = [role, ...Array.from({ length: 40 }, (_, i) => chunk(i % 7 === 3 ? `hé🌊${i} ` : `tok${i} `)), finish, usage, done].join("");

function body(text: string, cut: number): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      controller.enqueue(bytes.slice(at, at + cut));
      at += cut;
      if (at >= bytes.length) controller.close();
    },
  });
}

async function forward(text: string, cut: number, codec: Codec = openaiChat) {
  const signal = new AttemptSignal(new AbortController().signal, Date.now() + 10_000, { connect_ms: 5000, first_byte_ms: 5000, idle_ms: 5000, total_ms: 10_000 });
  const opened = await openStream(body(text, cut), codec, signal);
  if (!opened.ok) throw new Error(opened.error.message);
  const source = passthroughSource(opened.body, codec, signal, false);
  const tally = new ResponseCollector();
  const units: Array<{ text: string; last?: boolean }> = [];
  for (let n = 0; n < 10_000; n++) {
    const unit = await source.next();
    if (!unit) break;
    for (const event of unit.events) tally.add(event);
    units.push(unit);
    if (unit.last) break;
  }
  source.close();
  return { text: units.map((u) => u.text).join(""), units, tally };
}

describe("firstSaying", () => {
  const significant = openaiChat.streamSignificant!;
  test("content only: nothing to read", () => {
    expect(firstSaying(chunk("a") + chunk("b"), significant)).toBe(-1);
  });
  test("the start of the first event that may carry a finish, usage or the end", () => {
    const before = role + chunk("a") + chunk("b");
    expect(firstSaying(before + finish + usage + done, significant)).toBe(before.length);
    expect(firstSaying(before + done, significant)).toBe(before.length);
    expect(firstSaying(finish, significant)).toBe(0);
  });
  test("CR framing is not cut: read from the start", () => {
    expect(firstSaying(chunk("a").replaceAll("\n", "\r\n") + finish.replaceAll("\n", "\r\n"), significant)).toBe(0);
  });
  test("a content delta that merely mentions a field is content", () => {
    expect(firstSaying(chunk('say \\"usage\\" twice'), significant)).toBe(-1);
  });
});

describe("same-dialect stream passthrough", () => {
  for (const cut of [stream.length, 4096, 333, 97, 7, 1]) {
    test(`reads of ${cut} bytes: the bytes go through unchanged, the tally has the finish and usage, [DONE] ends it`, async () => {
      const { text, units, tally } = await forward(stream, cut);
      expect(text).toBe(stream);
      expect(units.at(-1)).toMatchObject({ text: done, last: true });
      expect(tally.finishReason).toBe("stop");
      expect(tally.usage).toMatchObject({ inputTokens: 7, outputTokens: 40 });
    });
  }

  test("read into IR events (another dialect's client) byte by byte: the same text, finish and usage", async () => {
    const signal = new AttemptSignal(new AbortController().signal, Date.now() + 10_000, { connect_ms: 5000, first_byte_ms: 5000, idle_ms: 5000, total_ms: 10_000 });
    for (const cut of [1, 5, stream.length]) {
      const opened = await openStream(body(stream, cut), openaiChat, signal);
      if (!opened.ok) throw new Error(opened.error.message);
      const tally = new ResponseCollector();
      let text = "";
      for await (const event of decodeSse(opened.body, openaiChat.streamDecoder(), openaiChat.streamEnds)) {
        tally.add(event);
        if (event.type === "text-delta") text += event.text;
      }
      expect(text).toBe(Array.from({ length: 40 }, (_, i) => (i % 7 === 3 ? `hé🌊${i} ` : `tok${i} `)).join(""));
      expect(tally.finishReason).toBe("stop");
      expect(tally.usage).toMatchObject({ inputTokens: 7, outputTokens: 40 });
    }
    signal.dispose();
  });

  test("pumped to the client: what is ready goes out in one pull, and the final event is on record before [DONE]", async () => {
    for (const cut of [stream.length, 333, 7]) {
      const signal = new AttemptSignal(new AbortController().signal, Date.now() + 10_000, { connect_ms: 5000, first_byte_ms: 5000, idle_ms: 5000, total_ms: 10_000 });
      const opened = await openStream(body(stream, cut), openaiChat, signal);
      if (!opened.ok) throw new Error(opened.error.message);
      const order: string[] = [];
      const out = pump(passthroughSource(opened.body, openaiChat, signal, false), openaiChat, {
        firstByte: () => order.push("first byte"),
        sent: (text) => order.push(text),
        terminal: async (outcome) => {
          order.push(`terminal ${outcome.kind} ${outcome.tally.finishReason}`);
        },
      });
      const text = await new Response(out).text();
      expect(text).toBe(stream);
      expect(order[0]).toBe("first byte");
      expect(order.slice(-2)).toEqual(["terminal completed stop", done]);
      expect(order.slice(1, -2).join("")).toBe(stream.slice(0, -done.length));
    }
  });

  test("an Anthropic stream in one read: content forwarded, message_delta read, message_stop last", async () => {
    const ev = (type: string, data: string) => `event: ${type}\ndata: ${data}\n\n`;
    const text = [
      ev("message_start", '{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"c","content":[],"stop_reason":null,"usage":{"input_tokens":5,"output_tokens":1}}}'),
      ev("content_block_start", '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'),
      ...Array.from({ length: 20 }, (_, i) => ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"t${i} "}}`)),
      ev("content_block_stop", '{"type":"content_block_stop","index":0}'),
      ev("message_delta", '{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":20}}'),
      ev("message_stop", '{"type":"message_stop"}'),
    ].join("");
    const { text: out, units, tally } = await forward(text, text.length, anthropic);
    expect(out).toBe(text);
    expect(units.at(-1)?.last).toBe(true);
    expect(tally.finishReason).toBe("stop");
    expect(tally.usage?.outputTokens).toBe(20);
  });
});
