import { gatewayError, type ErrorKind, type GatewayError } from "../../errors.ts";

// Gateway errors in Anthropic's error body. `type` uses Anthropic's vocabulary (its API reference
// lists one type per status), so SDKs and clients that branch on it behave as against Anthropic:
//   invalid_request, cancelled            → invalid_request_error
//   not_found, model_not_found            → not_found_error
//   payload_too_large                     → request_too_large
//   overloaded, unavailable               → overloaded_error (both are "try again shortly")
//   upstream_*, internal                  → api_error (Anthropic's type for its own 5xx; upstream_auth
//                                           is the gateway's credential, not the client's)

const WIRE: Record<ErrorKind, string> = {
  invalid_request: "invalid_request_error",
  authentication: "authentication_error",
  permission: "permission_error",
  not_found: "not_found_error",
  model_not_found: "not_found_error",
  payload_too_large: "request_too_large",
  rate_limited: "rate_limit_error",
  upstream_error: "api_error",
  upstream_auth: "api_error",
  upstream_unreachable: "api_error",
  upstream_timeout: "api_error",
  upstream_invalid: "api_error",
  overloaded: "overloaded_error",
  unavailable: "overloaded_error",
  cancelled: "invalid_request_error",
  internal: "api_error",
};

export function encodeError(error: GatewayError): Record<string, unknown> {
  return { type: "error", error: { type: WIRE[error.kind], message: error.message } };
}

/** Anthropic ends a failed stream with one `error` event holding the error body. */
export function encodeStreamError(error: GatewayError): string {
  return `event: error\ndata: ${JSON.stringify(encodeError(error))}\n\n`;
}

/** `error.message` of an Anthropic error body. */
export function errorMessage(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null || !("error" in body)) return undefined;
  const error = body.error;
  if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string") {
    return error.message;
  }
  return undefined;
}

/**
 * An upstream's in-stream error as a gateway error. Overload and rate limits keep their kind (the
 * router cools the target down by it); everything else is an upstream failure. The wire type
 * stays in `code` for the logs.
 */
export function decodeStreamError(error: { type?: string; message?: string } | undefined): GatewayError {
  const type = error?.type;
  const kind: ErrorKind = type === "overloaded_error" ? "overloaded" : type === "rate_limit_error" ? "rate_limited" : "upstream_error";
  return gatewayError(kind, error?.message ?? "upstream stream failed", type ? { code: type } : {});
}
