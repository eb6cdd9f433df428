import { gatewayError, type ErrorKind, type GatewayError } from "../../errors.ts";
import { encodeError as chatEncodeError, errorMessage } from "../openai-chat/error.ts";

// The Responses API uses OpenAI's error body (`{"error": {message, type, param, code}}`) for
// HTTP errors, so the openai-chat encoder is reused as is. In a stream, an error is an `error`
// event with code, message and param at the top level (the SDK's ResponseErrorEvent).

export { errorMessage };

export function encodeError(error: GatewayError): Record<string, unknown> {
  return chatEncodeError(error);
}

/** The `error` event's data; `code` falls back to the wire type so clients always get one. */
export function streamErrorData(error: GatewayError, sequence: number): Record<string, unknown> {
  const wire = (chatEncodeError(error) as { error: { type: string; code: string | null } }).error;
  return { type: "error", code: wire.code ?? wire.type, message: error.message, param: error.param ?? null, sequence_number: sequence };
}

/**
 * A failed stream ends with one `error` event. Without the stream's state the sequence number is
 * 0; the stream encoder writes its own (with the running number, and response.failed after it).
 */
export function encodeStreamError(error: GatewayError, sequence = 0): string {
  return `event: error\ndata: ${JSON.stringify(streamErrorData(error, sequence))}\n\n`;
}

type WireError = { code?: string | null; message?: string | null; type?: string | null } | null | undefined;

/**
 * An upstream's in-stream error (the `error` event, flat or nested under `error`, or a
 * response.failed's `response.error`) as a gateway error. Rate limits and overload keep their
 * kind (the router cools the target down by it); the rest is an upstream failure.
 */
export function decodeStreamError(flat: WireError, nested?: WireError): GatewayError {
  const code = nested?.code ?? flat?.code ?? nested?.type ?? undefined;
  const message = nested?.message ?? flat?.message ?? "upstream stream failed";
  const kind: ErrorKind = code === "rate_limit_exceeded" || code === "too_many_requests" ? "rate_limited"
    : code === "server_is_overloaded" || code === "overloaded" ? "overloaded" : "upstream_error";
  return gatewayError(kind, message, code ? { code } : {});
}
