import { encode } from "gpt-tokenizer/encoding/o200k_base";
import { describe, expect, test } from "vitest";
import { emptyRequest, type Request } from "../../core/ir.ts";
import {
  countTokens, imageSize, MAX_IMAGE_TOKENS, MESSAGE_OVERHEAD, pixelTokens, UNKNOWN_IMAGE_TOKENS,
} from "../../core/tokens/count.ts";

// The counter: text by o200k_base, framing per message, tools from their JSON, images by pixels.

const n = (text: string) => encode(text).length;

/** A PNG header (signature + IHDR) for a width × height image; the rest of the file is not read. */
function png(width: number, height: number): Buffer {
  const b = Buffer.alloc(33);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b, 0);
  b.writeUInt32BE(13, 8);
  b.write("IHDR", 12, "ascii");
  b.writeUInt32BE(width, 16);
  b.writeUInt32BE(height, 20);
  b.set([8, 6, 0, 0, 0], 24); // bit depth, colour type, compression, filter, interlace
  return b;
}

/** A JPEG: SOI, an APP0 (JFIF) segment to skip, then a baseline SOF0 frame header with the size. */
function jpeg(width: number, height: number): Buffer {
  const app0 = Buffer.from([0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00]);
  const sof = Buffer.alloc(19);
  sof.set([0xff, 0xc0, 0x00, 0x11, 0x08], 0);
  sof.writeUInt16BE(height, 5);
  sof.writeUInt16BE(width, 7);
  sof.set([0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01], 9);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), app0, sof, Buffer.from([0xff, 0xd9])]);
}

function withImage(data: Buffer, mediaType: string): Request {
  const ir = emptyRequest("m");
  ir.messages.push({ role: "user", content: [{ type: "image", source: { kind: "base64", mediaType, data: data.toString("base64") } }] });
  return ir;
}

describe("countTokens", () => {
  test("message text is o200k_base tokens plus the per-message framing", () => {
    const ir = emptyRequest("m");
    ir.messages.push({ role: "user", content: [{ type: "text", text: "Hello, world! How are you today?" }] });
    ir.messages.push({ role: "assistant", content: [{ type: "text", text: "Fine, thanks." }] });
    const count = countTokens(ir);
    expect(n("Hello, world! How are you today?")).toBe(9); // the tokenizer itself, as a fixed point
    expect(count.parts.messages).toBe(2 * MESSAGE_OVERHEAD + n("Hello, world! How are you today?") + n("Fine, thanks."));
    expect(count.parts).toMatchObject({ system: 0, tools: 0, images: 0 });
    expect(count.total).toBe(count.parts.messages);
  });

  test("the system prompt adds its tokens", () => {
    const ir = emptyRequest("m");
    ir.messages.push({ role: "user", content: [{ type: "text", text: "hi" }] });
    const without = countTokens(ir).total;
    ir.system.push({ type: "text", text: "You are a terse assistant." }, { type: "text", text: "Answer in French." });
    const count = countTokens(ir);
    expect(count.parts.system).toBe(MESSAGE_OVERHEAD + n("You are a terse assistant.") + n("Answer in French."));
    expect(count.total).toBe(without + count.parts.system);
  });

  test("tools count from name, description and the JSON of their parameters", () => {
    const ir = emptyRequest("m");
    ir.messages.push({ role: "user", content: [{ type: "text", text: "weather in Paris?" }] });
    const without = countTokens(ir).total;
    const parameters = { type: "object", properties: { city: { type: "string", description: "City name" } }, required: ["city"] };
    ir.tools.push({ name: "get_weather", description: "Current weather for a city.", parameters });
    const count = countTokens(ir);
    expect(count.parts.tools).toBe(n("get_weather") + n("Current weather for a city.") + n(JSON.stringify(parameters)));
    expect(count.parts.tools).toBeGreaterThan(20);
    expect(count.total).toBe(without + count.parts.tools);
  });

  test("tool calls, tool results and reasoning count; redacted reasoning does not", () => {
    const ir = emptyRequest("m");
    ir.messages.push({
      role: "assistant",
      content: [
        { type: "reasoning", text: "Need the weather." },
        { type: "reasoning", text: "", redacted: "EnCrYpTeD".repeat(50) },
        { type: "tool-call", id: "c1", name: "get_weather", arguments: '{"city":"Paris"}' },
      ],
    });
    ir.messages.push({ role: "tool", content: [{ type: "tool-result", toolCallId: "c1", content: [{ type: "text", text: "18°C, cloudy" }] }] });
    expect(countTokens(ir).parts.messages).toBe(
      2 * MESSAGE_OVERHEAD + n("Need the weather.") + n("get_weather") + n('{"city":"Paris"}') + n("18°C, cloudy"),
    );
  });

  test("special-token text is counted as text, not refused", () => {
    const ir = emptyRequest("m");
    ir.messages.push({ role: "user", content: [{ type: "text", text: "what is <|endoftext|>?" }] });
    expect(countTokens(ir).total).toBeGreaterThan(MESSAGE_OVERHEAD);
  });
});

describe("images", () => {
  test("PNG and JPEG headers give width and height", () => {
    expect(imageSize(png(640, 480))).toEqual({ width: 640, height: 480 });
    expect(imageSize(jpeg(300, 200))).toEqual({ width: 300, height: 200 });
    expect(imageSize(Buffer.from("not an image at all, just text"))).toBeUndefined();
    expect(imageSize(png(640, 480).subarray(0, 20))).toBeUndefined(); // truncated
  });

  test("GIF and WebP headers give width and height", () => {
    const gif = Buffer.alloc(13);
    gif.write("GIF89a", 0, "ascii");
    gif.writeUInt16LE(123, 6);
    gif.writeUInt16LE(45, 8);
    expect(imageSize(gif)).toEqual({ width: 123, height: 45 });

    const vp8x = Buffer.alloc(30);
    vp8x.write("RIFF", 0, "ascii");
    vp8x.write("WEBPVP8X", 8, "ascii");
    vp8x.writeUIntLE(800 - 1, 24, 3);
    vp8x.writeUIntLE(600 - 1, 27, 3);
    expect(imageSize(vp8x)).toEqual({ width: 800, height: 600 });

    const vp8l = Buffer.alloc(30);
    vp8l.write("RIFF", 0, "ascii");
    vp8l.write("WEBPVP8L", 8, "ascii");
    vp8l[20] = 0x2f;
    const bits = (1000 - 1) | ((700 - 1) << 14);
    vp8l.writeUInt32LE(bits, 21);
    expect(imageSize(vp8l)).toEqual({ width: 1000, height: 700 });

    const vp8 = Buffer.alloc(30);
    vp8.write("RIFF", 0, "ascii");
    vp8.write("WEBPVP8 ", 8, "ascii");
    vp8.set([0x9d, 0x01, 0x2a], 23);
    vp8.writeUInt16LE(320, 26);
    vp8.writeUInt16LE(240, 28);
    expect(imageSize(vp8)).toEqual({ width: 320, height: 240 });
  });

  test("a base64 PNG costs width × height / 750 tokens (Anthropic's formula)", () => {
    const count = countTokens(withImage(png(200, 200), "image/png"));
    expect(count.parts.images).toBe(Math.ceil((200 * 200) / 750)); // 54, as Anthropic's table says
    expect(count.parts.images).toBe(54);
    expect(count.total).toBe(MESSAGE_OVERHEAD + 54);
  });

  test("a base64 JPEG costs width × height / 750 tokens", () => {
    expect(countTokens(withImage(jpeg(1000, 1000), "image/jpeg")).parts.images).toBe(1334); // Anthropic: ~1334
    expect(countTokens(withImage(jpeg(300, 200), "image/jpeg")).parts.images).toBe(80);
  });

  test("large images are scaled down first: long edge 1568, at most ~1600 tokens", () => {
    expect(pixelTokens(1092, 1092)).toBe(1590); // Anthropic's table: ~1590
    expect(pixelTokens(4000, 3000)).toBeLessThanOrEqual(MAX_IMAGE_TOKENS);
    expect(pixelTokens(4000, 3000)).toBeGreaterThan(1500);
    // 3136 × 200 → long edge 1568 → 1568 × 100.
    expect(pixelTokens(3136, 200)).toBe(Math.ceil((1568 * 100) / 750));
    expect(countTokens(withImage(png(8000, 8000), "image/png")).parts.images).toBeLessThanOrEqual(MAX_IMAGE_TOKENS);
  });

  test("URL images and unreadable bytes count as the documented constant", () => {
    const ir = emptyRequest("m");
    ir.messages.push({
      role: "user",
      content: [
        { type: "image", source: { kind: "url", url: "https://example.com/cat.png" } },
        { type: "image", source: { kind: "base64", mediaType: "image/png", data: "!!!not base64!!!" } },
      ],
    });
    expect(countTokens(ir).parts.images).toBe(2 * UNKNOWN_IMAGE_TOKENS);
  });

  test("images inside tool results count too", () => {
    const ir = emptyRequest("m");
    ir.messages.push({
      role: "tool",
      content: [{ type: "tool-result", toolCallId: "c", content: [{ type: "image", source: { kind: "base64", mediaType: "image/png", data: png(200, 200).toString("base64") } }] }],
    });
    expect(countTokens(ir).parts.images).toBe(54);
  });
});
