// Errors are values with a kind. The HTTP status of each kind is decided here, once;
// each dialect's error.ts decides only the wire shape.

export type ErrorKind =
  | "invalid_request"
  | "authentication"
  | "permission"
  | "not_found"
  | "model_not_found"
  | "payload_too_large"
  | "rate_limited"
  | "upstream_error"
  | "upstream_auth"
  | "upstream_unreachable"
  | "upstream_timeout"
  | "upstream_invalid"
  | "overloaded"
  | "unavailable"
  | "cancelled"
  | "internal";

const STATUS: Record<ErrorKind, number> = {
  invalid_request: 400,
  authentication: 401,
  permission: 403,
  not_found: 404,
  model_not_found: 404,
  payload_too_large: 413,
  rate_limited: 429,
  upstream_error: 502,
  upstream_auth: 502,
  upstream_unreachable: 502,
  upstream_timeout: 504,
  upstream_invalid: 502,
  overloaded: 529,
  unavailable: 503,
  cancelled: 499,
  internal: 500,
};

export interface GatewayError {
  kind: ErrorKind;
  message: string;
  /** Overrides the kind's status, e.g. an upstream 4xx passed on as it was. */
  status?: number;
  /** Seconds, for 429/503. */
  retryAfter?: number;
  /** A wire-level code for the client (`model_not_found`, `context_length_exceeded`, …). */
  code?: string;
  /** The field at fault, for invalid_request. */
  param?: string;
}

export function gatewayError(kind: ErrorKind, message: string, extra: Partial<GatewayError> = {}): GatewayError {
  return { kind, message, ...extra };
}

export function statusOf(error: GatewayError): number {
  return error.status ?? STATUS[error.kind];
}

export function isGatewayError(value: unknown): value is GatewayError {
  return typeof value === "object" && value !== null && "kind" in value && "message" in value &&
    typeof (value as GatewayError).kind === "string" && (value as GatewayError).kind in STATUS;
}

/** The error kind an upstream HTTP status maps to. */
export function kindOfUpstreamStatus(status: number): ErrorKind {
  if (status === 400 || status === 422) return "invalid_request";
  if (status === 401 || status === 403) return "upstream_auth";
  if (status === 404) return "model_not_found";
  if (status === 408) return "upstream_timeout";
  if (status === 413) return "payload_too_large";
  if (status === 429) return "rate_limited";
  if (status === 529 || status === 503) return "overloaded";
  return "upstream_error";
}
