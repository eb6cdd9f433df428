import { statusOf, type ErrorKind, type GatewayError } from "../../errors.ts";

// Gateway errors in Google's error body (google.rpc.Status as JSON): `code` is the HTTP status,
// `status` the canonical code name SDKs branch on:
//   invalid_request, payload_too_large → INVALID_ARGUMENT     authentication → UNAUTHENTICATED
//   permission → PERMISSION_DENIED      not_found, model_not_found → NOT_FOUND
//   rate_limited → RESOURCE_EXHAUSTED   upstream_timeout → DEADLINE_EXCEEDED
//   overloaded, unavailable, upstream_unreachable → UNAVAILABLE (retryable, as Google's 503)
//   cancelled → CANCELLED               upstream_error, upstream_auth, upstream_invalid, internal → INTERNAL
// The field at fault goes in a google.rpc.BadRequest detail, where Google puts it.

const STATUS: Record<ErrorKind, string> = {
  invalid_request: "INVALID_ARGUMENT",
  authentication: "UNAUTHENTICATED",
  permission: "PERMISSION_DENIED",
  not_found: "NOT_FOUND",
  model_not_found: "NOT_FOUND",
  payload_too_large: "INVALID_ARGUMENT",
  rate_limited: "RESOURCE_EXHAUSTED",
  upstream_error: "INTERNAL",
  upstream_auth: "INTERNAL",
  upstream_unreachable: "UNAVAILABLE",
  upstream_timeout: "DEADLINE_EXCEEDED",
  upstream_invalid: "INTERNAL",
  overloaded: "UNAVAILABLE",
  unavailable: "UNAVAILABLE",
  cancelled: "CANCELLED",
  internal: "INTERNAL",
};

export function encodeError(error: GatewayError): Record<string, unknown> {
  const body: Record<string, unknown> = { code: statusOf(error), message: error.message, status: STATUS[error.kind] };
  if (error.param !== undefined) {
    body.details = [{
      "@type": "type.googleapis.com/google.rpc.BadRequest",
      fieldViolations: [{ field: error.param, description: error.message }],
    }];
  }
  return { error: body };
}

/** Google ends a failed stream with one data event holding the error body; CRLF as its streams use. */
export function encodeStreamError(error: GatewayError): string {
  return `data: ${JSON.stringify(encodeError(error))}\r\n\r\n`;
}

/** `error.message` of a Google error body, also when it comes wrapped in an array (a JSON-array stream). */
export function errorMessage(body: unknown): string | undefined {
  const value = Array.isArray(body) ? body[0] : body;
  if (typeof value !== "object" || value === null || !("error" in value)) return undefined;
  const error = value.error;
  if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string") return error.message;
  return undefined;
}
