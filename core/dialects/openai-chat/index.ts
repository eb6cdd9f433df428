import type { Codec } from "../codec.ts";
import { encodeError, encodeStreamError, errorMessage } from "./error.ts";
import { passthroughRequest } from "./passthrough.ts";
import { decodeRequest, encodeRequest } from "./request.ts";
import { decodeResponse, encodeResponse } from "./response.ts";
import { streamDecoder, streamEncoder } from "./stream.ts";

/** Whether `"key"` occurs in `data` with a value that starts with `first` (JSON whitespace allowed). */
function keyWithValue(data: string, key: string, first: string): boolean {
  for (let at = data.indexOf(key); at >= 0; at = data.indexOf(key, at + key.length)) {
    let i = at + key.length;
    while (data[i] === " " || data[i] === "\t" || data[i] === "\n" || data[i] === "\r") i++;
    if (data[i] !== ":") continue;
    i++;
    while (data[i] === " " || data[i] === "\t" || data[i] === "\n" || data[i] === "\r") i++;
    if (data[i] === first) return true;
  }
  return false;
}

/** OpenAI Chat Completions (/v1/chat/completions), also spoken by most OpenAI-compatible servers. */
export const openaiChat: Codec = {
  id: "openai-chat",
  decodeRequest,
  encodeRequest,
  decodeResponse,
  encodeResponse,
  passthroughRequest,
  streamDecoder,
  // A finish reason that is not null, a usage object, or an error.
  streamSignificant: (data) =>
    keyWithValue(data, '"finish_reason"', '"') || keyWithValue(data, '"usage"', "{") || data.includes('"error"'),
  streamEncoder,
  encodeError,
  encodeStreamError,
  errorMessage,
};
