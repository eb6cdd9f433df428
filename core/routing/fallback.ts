import type { ErrorKind, GatewayError } from "../errors.ts";

// The fallback rule table: what an attempt's failure means for the request. Read it as the
// documented contract (README "Fallback"); tryTargets applies it.
//
//   next     the upstream failed, not the request: try the next target
//   larger   the prompt did not fit: try the next target whose context window is larger
//   answer   the request itself is at fault (or the client left): answer at once, no fallback

export type Rule = "next" | "larger" | "answer";

export const FALLBACK_RULES: Record<ErrorKind, Rule> = {
  upstream_unreachable: "next", // connection refused, or reset before an answer
  upstream_timeout: "next", // 408, time to first byte, idle between chunks
  upstream_error: "next", // 5xx, a broken stream before its first byte
  upstream_invalid: "next", // a body that is not the dialect's shape
  upstream_auth: "next", // 401/403 to the gateway's own key: this provider is misconfigured, another may not be
  rate_limited: "next", // 429
  overloaded: "next", // 503, 529
  model_not_found: "next", // 404: this provider does not have the model
  unavailable: "next",
  invalid_request: "answer", // 400: the same request fails everywhere (context length aside: "larger")
  payload_too_large: "answer", // 413
  authentication: "answer", // the caller's own key
  permission: "answer",
  not_found: "answer",
  cancelled: "answer", // the client left: nothing to answer, nothing to retry
  internal: "answer",
};

export function ruleFor(error: GatewayError): Rule {
  if (error.code === "context_length_exceeded") return "larger";
  if (error.code === "timeout:total") return "answer"; // the request's own deadline is spent
  return FALLBACK_RULES[error.kind];
}

/**
 * Whether the same target may be tried again: only when nothing of the request was sent (the
 * connection was refused) or the upstream asked to come back
 * within `maxWaitS`. Anything else may have been half-done upstream, or will fail the same way.
 */
export function safeToRetry(error: GatewayError, maxWaitS: number): boolean {
  if (error.kind === "upstream_unreachable") return error.code === "connect";
  if (error.kind === "rate_limited" || error.kind === "overloaded") return error.retryAfter !== undefined && error.retryAfter <= maxWaitS;
  return false;
}
