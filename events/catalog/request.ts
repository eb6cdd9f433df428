import { Type } from "@sinclair/typebox";
import { defineEvent } from "../define.ts";

// Request lifecycle. `request` is the gateway's request id (x-sluice-request-id).
// No event carries a secret: callers are named by key id, never by key material.

export const Usage = Type.Object({
  input_tokens: Type.Integer({ minimum: 0 }),
  output_tokens: Type.Integer({ minimum: 0 }),
  cached_input_tokens: Type.Optional(Type.Integer({ minimum: 0 })),
  cache_write_tokens: Type.Optional(Type.Integer({ minimum: 0 })),
  reasoning_tokens: Type.Optional(Type.Integer({ minimum: 0 })),
});

const Ms = Type.Number({ minimum: 0 });

/** What the gateway changed in the request for this target (x-sluice-adjustments), one note each. */
const Adjustments = Type.Optional(Type.Array(Type.String()));

export const RequestReceived = defineEvent("request.received", Type.Object({
  request: Type.String(),
  dialect: Type.String(),
  endpoint: Type.String(),
  /** The model name the client asked for (provider/model, route or bare name). */
  model: Type.String(),
  stream: Type.Boolean(),
  /** Targets ("provider/model") in the order they will be tried. */
  candidates: Type.Array(Type.String()),
  caller: Type.Optional(Type.String()),
}));

export const AttemptStarted = defineEvent("attempt.started", Type.Object({
  request: Type.String(),
  attempt: Type.Integer({ minimum: 1 }),
  target: Type.String(),
  provider: Type.String(),
  model: Type.String(),
  /** The request went upstream as the client sent it (same dialect, model renamed only). */
  passthrough: Type.Boolean(),
}));

export const AttemptSucceeded = defineEvent("attempt.succeeded", Type.Object({
  request: Type.String(),
  attempt: Type.Integer({ minimum: 1 }),
  target: Type.String(),
  provider: Type.String(),
  status: Type.Integer(),
  /** Time from the attempt's start to the upstream's response headers. */
  ttfb_ms: Ms,
  adjustments: Adjustments,
}));

export const AttemptFailed = defineEvent("attempt.failed", Type.Object({
  request: Type.String(),
  attempt: Type.Integer({ minimum: 1 }),
  target: Type.String(),
  provider: Type.String(),
  /** Upstream HTTP status, or 0 when no response arrived. */
  status: Type.Integer(),
  /** Error kind (upstream_timeout, upstream_unreachable, rate_limited, …). */
  reason: Type.String(),
  message: Type.String(),
  ms: Ms,
  /** Whether the gateway moved on to the next target because of it. */
  fallback: Type.Boolean(),
  /** Why the gateway went no further: not-retryable | deadline | no-more-targets | retry-budget. */
  stopped: Type.Optional(Type.String()),
  /** The same target is tried again after this backoff (a safe retry). */
  retry_ms: Type.Optional(Type.Number({ minimum: 0 })),
  retry_after: Type.Optional(Type.Number({ minimum: 0 })),
  adjustments: Adjustments,
}));

export const RequestCompleted = defineEvent("request.completed", Type.Object({
  request: Type.String(),
  target: Type.String(),
  provider: Type.String(),
  model: Type.String(),
  status: Type.Integer(),
  /** Upstream attempts made: 0 for an answer served from the response cache. */
  attempts: Type.Integer({ minimum: 0 }),
  stream: Type.Boolean(),
  /** Time from request arrival to the first byte sent to the client. */
  ttfb_ms: Ms,
  total_ms: Ms,
  finish_reason: Type.Optional(Type.String()),
  usage: Type.Optional(Usage),
  /** What the usage cost at the prices known then, USD (absent when the price is unknown). */
  cost_usd: Type.Optional(Type.Number({ minimum: 0 })),
  /**
   * What the compressors saved on this request at the serving target's input price, USD: the
   * tokens their compression.applied events saved × that price (absent when nothing was saved or
   * the price is unknown). Recorded here because the price is known only at write time.
   */
  compression_saved_usd: Type.Optional(Type.Number({ minimum: 0 })),
  /**
   * Served from the response cache (see cache.hit): target, provider and model are those of the
   * kept answer; nothing went upstream, so there is no usage and no cost.
   */
  cached: Type.Optional(Type.Literal(true)),
}));

/** Who was serving when a request ended early: set once an upstream had started answering. */
const ServedBy = {
  target: Type.Optional(Type.String()),
  provider: Type.Optional(Type.String()),
  model: Type.Optional(Type.String()),
  /** Usage the upstream reported before the end, if any. */
  usage: Type.Optional(Usage),
  cost_usd: Type.Optional(Type.Number({ minimum: 0 })),
};

export const RequestFailed = defineEvent("request.failed", Type.Object({
  request: Type.String(),
  status: Type.Integer(),
  reason: Type.String(),
  message: Type.String(),
  attempts: Type.Integer({ minimum: 0 }),
  total_ms: Ms,
  ...ServedBy,
}));

export const RequestCancelled = defineEvent("request.cancelled", Type.Object({
  request: Type.String(),
  /** 499: the client closed the connection. */
  status: Type.Literal(499),
  attempts: Type.Integer({ minimum: 0 }),
  total_ms: Ms,
  ...ServedBy,
  /** Characters of the response body already sent to the client. */
  streamed_chars: Type.Integer({ minimum: 0 }),
}));
