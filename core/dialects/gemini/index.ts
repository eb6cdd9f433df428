import type { Codec } from "../codec.ts";
import { encodeError, encodeStreamError, errorMessage } from "./error.ts";
import { passthroughRequest } from "./passthrough.ts";
import { decodeRequest, encodeRequest } from "./request.ts";
import { decodeResponse, encodeResponse } from "./response.ts";
import { streamDecoder, streamEncoder } from "./stream.ts";

/**
 * The events the same-dialect path must read: a finish (with the final, cumulative usageMetadata
 * that Gemini sends beside it), a prompt refused outright, an error, and function calls (so the
 * tally knows a STOP ended a tool-call turn). Every chunk carries a usageMetadata that only grows,
 * so usage alone does not make a chunk worth reading. Quotes inside strings are escaped, so text
 * that mentions these names does not match.
 */
const SIGNIFICANT = /"(?:finishReason|blockReason|error|functionCall)"\s*:/;

/** Google's Gemini API (models/{model}:generateContent and :streamGenerateContent?alt=sse). */
export const gemini: Codec = {
  id: "gemini",
  decodeRequest,
  encodeRequest,
  decodeResponse,
  encodeResponse,
  passthroughRequest,
  streamDecoder,
  streamSignificant: SIGNIFICANT,
  streamEncoder,
  encodeError,
  encodeStreamError,
  errorMessage,
};
