import { countTokens as o200k } from "gpt-tokenizer/encoding/o200k_base";
import type { ImagePart, Part, Request } from "../ir.ts";

// Input-token counting for the count-tokens endpoints. Everything the model reads is counted:
// the system prompt, every message part, the tool definitions and the images — not only message
// text (which is how other gateways come up with 48 tokens for a 728-token request).
//
// Honesty note: text is counted with o200k_base, OpenAI's tokenizer (GPT-4o and later). For
// OpenAI models it is the real vocabulary; for Claude and Gemini models, whose tokenizers are
// not public, it is an estimate (typically within ~10–20% for English and code). Provider
// framing is also estimated (see the constants below): Anthropic, for one, adds a hidden
// tool-use system prompt (some hundreds of tokens) when tools are present, which is not counted.
// Only the encoding module is imported, so only the o200k table is loaded.

/**
 * Per-message framing. OpenAI's chat format wraps each message as
 * `<|im_start|>{role}<|im_sep|>…<|im_end|>`: 3 framing tokens plus 1 for the role name, which is
 * the "tokens_per_message" of OpenAI's cookbook counting recipe. Other providers frame turns
 * differently but at a similar small fixed cost, so the same constant serves as the estimate.
 */
export const MESSAGE_OVERHEAD = 4;

/**
 * An image whose pixels we cannot see (a URL, or bytes that are no PNG/JPEG/GIF/WebP we can
 * read): counted as Anthropic's cap for one image (~1,600 tokens, a 1092×1092 image; anything
 * larger is scaled down to about that) — an upper-end estimate, since a count is used to stay
 * under a limit and undercounting is the worse error.
 */
export const UNKNOWN_IMAGE_TOKENS = 1600;

/** Anthropic's vision docs: an image costs about width × height / 750 tokens… */
export const PIXELS_PER_TOKEN = 750;
/** …after it is scaled down (aspect kept) so its long edge is at most 1568 px… */
export const MAX_LONG_EDGE = 1568;
/** …and it is at most ~1,600 tokens (≈1.2 megapixels). Newer models with a larger native size cost more. */
export const MAX_IMAGE_TOKENS = 1600;

const ENCODE_OPTIONS = { disallowedSpecial: new Set<string>() }; // `<|endoftext|>` in user text is text, not an error

export interface TokenCount {
  total: number;
  parts: { system: number; messages: number; tools: number; images: number };
}

/** A run this long without a break (or of breaks) is counted in pieces; see textTokens. */
const LONG_RUN = /\S{512,}|\s{512,}/g;
const PIECE = 256;

/**
 * o200k_base token count of a string. BPE merging costs the square of a pre-token's length, and
 * one unbroken run of letters, symbols or spaces is one pre-token: 40 000 "x" took 7.6 s, a
 * denial of service for every client. Runs of 512+ characters are counted in pieces of 256
 * (a piece boundary can shift a count by a token or so, where no real text has words that long).
 */
export function textTokens(text: string): number {
  if (text === "") return 0;
  if (text.length < 512) return o200k(text, ENCODE_OPTIONS);
  let total = 0;
  let from = 0;
  for (const run of text.matchAll(LONG_RUN)) {
    if (run.index > from) total += o200k(text.slice(from, run.index), ENCODE_OPTIONS);
    for (let i = 0; i < run[0].length; i += PIECE) total += o200k(run[0].slice(i, i + PIECE), ENCODE_OPTIONS);
    from = run.index + run[0].length;
  }
  if (from < text.length) total += o200k(text.slice(from), ENCODE_OPTIONS);
  return total;
}

export function countTokens(ir: Request): TokenCount {
  const parts = { system: 0, messages: 0, tools: 0, images: 0 };
  if (ir.system.length > 0) {
    parts.system = MESSAGE_OVERHEAD + ir.system.reduce((n, p) => n + textTokens(p.text), 0);
  }
  const addPart = (part: Part) => {
    switch (part.type) {
      case "text":
        parts.messages += textTokens(part.text);
        break;
      case "image":
        parts.images += imageTokens(part);
        break;
      case "tool-call":
        parts.messages += textTokens(part.name) + textTokens(part.arguments);
        break;
      case "tool-result":
        for (const inner of part.content) addPart(inner);
        break;
      case "reasoning":
        // Redacted reasoning is encrypted bytes, not text the model reads as such: not counted.
        parts.messages += textTokens(part.text);
        break;
    }
  };
  for (const message of ir.messages) {
    parts.messages += MESSAGE_OVERHEAD;
    if (message.name) parts.messages += textTokens(message.name);
    for (const part of message.content) addPart(part);
  }
  for (const tool of ir.tools) {
    parts.tools += textTokens(tool.name) + textTokens(tool.description ?? "") + textTokens(JSON.stringify(tool.parameters));
  }
  return { total: parts.system + parts.messages + parts.tools + parts.images, parts };
}

/** Anthropic's formula for a width × height image, after its resize. */
export function pixelTokens(width: number, height: number): number {
  if (!(width > 0 && height > 0)) return UNKNOWN_IMAGE_TOKENS;
  const scale = Math.min(1, MAX_LONG_EDGE / Math.max(width, height), Math.sqrt((MAX_IMAGE_TOKENS * PIXELS_PER_TOKEN) / (width * height)));
  const w = Math.max(1, Math.floor(width * scale));
  const h = Math.max(1, Math.floor(height * scale));
  return Math.min(MAX_IMAGE_TOKENS, Math.ceil((w * h) / PIXELS_PER_TOKEN));
}

export function imageTokens(part: ImagePart): number {
  if (part.source.kind !== "base64") return UNKNOWN_IMAGE_TOKENS;
  const size = imageSize(base64Bytes(part.source.data));
  return size ? pixelTokens(size.width, size.height) : UNKNOWN_IMAGE_TOKENS;
}

/** Enough decoded bytes to find the size: JPEG's frame header may follow ~64 KB of EXIF, so decode up to 1 MB. */
function base64Bytes(data: string): Uint8Array {
  const head = data.startsWith("data:") ? data.slice(data.indexOf(",") + 1) : data;
  return Buffer.from(head.slice(0, 1_400_000), "base64");
}

/** Width and height from a PNG, JPEG, GIF or WebP header; undefined for anything else or truncated bytes. */
export function imageSize(b: Uint8Array): { width: number; height: number } | undefined {
  const at = (i: number) => b[i] ?? 0;
  const be16 = (i: number) => (at(i) << 8) | at(i + 1);
  const le16 = (i: number) => at(i) | (at(i + 1) << 8);
  const be32 = (i: number) => ((at(i) << 24) >>> 0) + (at(i + 1) << 16) + (at(i + 2) << 8) + at(i + 3);
  const ascii = (i: number, n: number) => String.fromCharCode(...b.subarray(i, i + n));
  const ok = (width: number, height: number) => (width > 0 && height > 0 ? { width, height } : undefined);
  // PNG: signature, then the IHDR chunk: width and height big-endian at 16 and 20.
  if (b.length >= 24 && at(0) === 0x89 && ascii(1, 3) === "PNG" && ascii(12, 4) === "IHDR") return ok(be32(16), be32(20));
  // GIF: "GIF87a"/"GIF89a", logical screen width and height little-endian at 6 and 8.
  if (b.length >= 10 && ascii(0, 3) === "GIF") return ok(le16(6), le16(8));
  // WebP: RIFF....WEBP then a VP8 (lossy), VP8L (lossless) or VP8X (extended) chunk.
  if (b.length >= 30 && ascii(0, 4) === "RIFF" && ascii(8, 4) === "WEBP") {
    const kind = ascii(12, 4);
    if (kind === "VP8 ") return ok(le16(26) & 0x3fff, le16(28) & 0x3fff);
    if (kind === "VP8L") return ok(1 + (le16(21) & 0x3fff), 1 + (((at(22) >> 6) | (at(23) << 2) | (at(24) << 10)) & 0x3fff));
    if (kind === "VP8X") return ok(1 + (at(24) | (at(25) << 8) | (at(26) << 16)), 1 + (at(27) | (at(28) << 8) | (at(29) << 16)));
    return undefined;
  }
  // JPEG: walk the marker segments to a start-of-frame (SOF0–SOF15 but DHT C4, JPG C8, DAC CC).
  if (at(0) === 0xff && at(1) === 0xd8) {
    let i = 2;
    while (i + 9 < b.length) {
      if (at(i) !== 0xff) return undefined;
      const marker = at(i + 1);
      if (marker === 0xff) { i++; continue; } // fill byte
      if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { i += 2; continue; } // no length
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return ok(be16(i + 7), be16(i + 5));
      if (marker === 0xd9 || marker === 0xda) return undefined; // end of image or start of scan: no frame header before it
      i += 2 + be16(i + 2);
    }
  }
  return undefined;
}

/**
 * A quick upper-ish estimate of a request's input tokens for routing (context-window checks):
 * characters / 4 plus a flat cost per image, no tokenizer. Microseconds on any prompt, where a
 * real count of a long prompt takes milliseconds on the request's path.
 */
export function quickEstimate(ir: Request): number {
  let chars = 0;
  let images = 0;
  for (const part of ir.system) chars += part.text.length;
  for (const message of ir.messages) {
    for (const part of message.content) {
      switch (part.type) {
        case "text":
        case "reasoning":
          chars += part.text.length;
          break;
        case "image":
          images++;
          break;
        case "tool-call":
          chars += part.name.length + part.arguments.length;
          break;
        case "tool-result":
          for (const inner of part.content) {
            if (inner.type === "text") chars += inner.text.length;
            else images++;
          }
          break;
      }
    }
  }
  for (const tool of ir.tools) chars += tool.name.length + (tool.description?.length ?? 0) + JSON.stringify(tool.parameters).length;
  return Math.ceil(chars / 4) + images * UNKNOWN_IMAGE_TOKENS + ir.messages.length * MESSAGE_OVERHEAD;
}
