import type { ErrorKind, GatewayError } from "../../errors.ts";

// Gateway errors in OpenAI's error body. `type` uses OpenAI's vocabulary so SDKs and clients
// that branch on it behave as they would against OpenAI:
//   invalid_request, not_found, model_not_found, payload_too_large → "invalid_request_error"
//     (OpenAI reports unknown models and oversized requests as invalid requests, told apart by `code`)
//   authentication → "authentication_error"     permission → "permission_error"
//   rate_limited → "rate_limit_exceeded"        (OpenAI's own 429 code)
//   cancelled → "invalid_request_error"         (the client went away; nobody reads it, but it is theirs)
//   upstream_*, overloaded, unavailable, internal → "server_error" (OpenAI's type for 5xx)
// `code` is the error's own code when it has one, else the default below.

const WIRE: Record<ErrorKind, { type: string; code: string | null }> = {
  invalid_request: { type: "invalid_request_error", code: null },
  authentication: { type: "authentication_error", code: "invalid_api_key" },
  permission: { type: "permission_error", code: null },
  not_found: { type: "invalid_request_error", code: null },
  model_not_found: { type: "invalid_request_error", code: "model_not_found" },
  payload_too_large: { type: "invalid_request_error", code: "request_too_large" },
  rate_limited: { type: "rate_limit_exceeded", code: "rate_limit_exceeded" },
  upstream_error: { type: "server_error", code: null },
  upstream_auth: { type: "server_error", code: "upstream_auth" },
  upstream_unreachable: { type: "server_error", code: "upstream_unreachable" },
  upstream_timeout: { type: "server_error", code: "timeout" },
  upstream_invalid: { type: "server_error", code: "upstream_invalid" },
  overloaded: { type: "server_error", code: "overloaded" },
  unavailable: { type: "server_error", code: "service_unavailable" },
  cancelled: { type: "invalid_request_error", code: "cancelled" },
  internal: { type: "server_error", code: null },
};

export function encodeError(error: GatewayError): Record<string, unknown> {
  const wire = WIRE[error.kind];
  return { error: { message: error.message, type: wire.type, param: error.param ?? null, code: error.code ?? wire.code } };
}

/** OpenAI ends a failed stream with one data event holding the error body (no [DONE] after it). */
export function encodeStreamError(error: GatewayError): string {
  return `data: ${JSON.stringify(encodeError(error))}\n\n`;
}

/** `error.message` of an OpenAI error body, or `error` when a compatible server sends a string. */
export function errorMessage(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null || !("error" in body)) return undefined;
  const error = body.error;
  if (typeof error === "string") return error;
  if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string") {
    return error.message;
  }
  return undefined;
}
