import type { Codec } from "../codec.ts";
import { encodeError, encodeStreamError, errorMessage } from "./error.ts";
import { passthroughRequest } from "./passthrough.ts";
import { decodeRequest, encodeRequest } from "./request.ts";
import { decodeResponse, encodeResponse } from "./response.ts";
import { streamDecoder, streamEncoder } from "./stream.ts";

const SIGNIFICANT = /"finish_reason"\s*:\s*"|"usage"\s*:\s*\{|"error"\s*:/;

/** OpenAI Chat Completions (/v1/chat/completions), also spoken by most OpenAI-compatible servers. */
export const openaiChat: Codec = {
  id: "openai-chat",
  decodeRequest,
  encodeRequest,
  decodeResponse,
  encodeResponse,
  passthroughRequest,
  streamDecoder,
  // A finish reason that is not null, a usage object, or an error (in one event or many).
  streamSignificant: SIGNIFICANT,
  streamEnds: (event) => event.data.trim() === "[DONE]",
  streamEncoder,
  encodeError,
  encodeStreamError,
  errorMessage,
};
