import type { Codec } from "../codec.ts";
import { encodeError, encodeStreamError, errorMessage } from "./error.ts";
import { passthroughRequest } from "./passthrough.ts";
import { decodeRequest, encodeRequest } from "./request.ts";
import { decodeResponse, encodeResponse } from "./response.ts";
import { streamDecoder, streamEncoder } from "./stream.ts";

// message_stop is significant too: the decoder reports a stream without it as cut short, so the
// same-dialect path, which decodes only these events, must let it through.
const SIGNIFICANT = /"type"\s*:\s*"(?:message_start|message_delta|message_stop|error)"/;

/** Anthropic Messages (/v1/messages). */
export const anthropic: Codec = {
  id: "anthropic",
  decodeRequest,
  encodeRequest,
  decodeResponse,
  encodeResponse,
  passthroughRequest,
  streamDecoder,
  // Usage (message_start, message_delta), the stop reason (message_delta), the end, or an error.
  streamSignificant: SIGNIFICANT,
  streamEnds: (event) => event.event === "message_stop" || (event.event === undefined && /"type"\s*:\s*"message_stop"/.test(event.data)),
  streamEncoder,
  encodeError,
  encodeStreamError,
  errorMessage,
};
