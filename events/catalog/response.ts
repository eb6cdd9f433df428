import { Type } from "@sinclair/typebox";
import { defineEvent } from "../define.ts";

// The Responses API's stored conversations (`store`, `previous_response_id`). Each stored
// response keeps only its own turn — the request's new input and the answer — and points at
// the response it continued, so a conversation is the chain, and the log grows linearly.
// `input` holds IR messages and `output` IR parts, as JSON.

export const ResponseStored = defineEvent("response.stored", Type.Object({
  request: Type.String(),
  /** The response id the client was given (`resp_…`). */
  id: Type.String(),
  previous: Type.Optional(Type.String()),
  input: Type.Array(Type.Unknown()),
  output: Type.Array(Type.Unknown()),
}));
