import type { Codec } from "../codec.ts";
import { encodeError, encodeStreamError, errorMessage } from "./error.ts";
import { passthroughRequest } from "./passthrough.ts";
import { decodeRequest, encodeRequest } from "./request.ts";
import { decodeResponse, encodeResponse } from "./response.ts";
import { streamDecoder, streamEncoder } from "./stream.ts";

// The terminal events carry the finish and the usage (the whole response), error events the
// error; response.created gives the stream its id and model. The decoder reports a stream
// without a terminal event as cut short, so every terminal event must be let through.
const SIGNIFICANT = /"type"\s*:\s*"(?:response\.(?:created|completed|incomplete|failed)|error)"/;

/** OpenAI Responses (/v1/responses). previous_response_id and store arrive in `extra`; the pipeline resolves them (pipeline/conversation.ts). */
export const openaiResponses: Codec = {
  id: "openai-responses",
  decodeRequest,
  encodeRequest,
  decodeResponse,
  encodeResponse,
  passthroughRequest,
  streamDecoder,
  streamSignificant: SIGNIFICANT,
  streamEnds: (event) => /^response\.(?:completed|incomplete|failed)$/.test(event.event ?? "")
    || (event.event === undefined && /"type"\s*:\s*"response\.(?:completed|incomplete|failed)"/.test(event.data)),
  streamEncoder,
  encodeError,
  encodeStreamError: (error) => encodeStreamError(error),
  errorMessage,
};
