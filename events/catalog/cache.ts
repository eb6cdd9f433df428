import { Type } from "@sinclair/typebox";
import { defineEvent } from "../define.ts";

// The exact response cache (a route's `cache`): an answer kept for reuse, and a request served
// from it. The cache key is a digest of the caller's scope and the normalised request; neither
// the request's content nor the caller's credential is recorded.

export const CacheStored = defineEvent("cache.stored", Type.Object({
  request: Type.String(),
  /** Hex digest of (caller scope, normalised request): the same for every request it answers. */
  key: Type.String(),
  /** When the entry stops being served, ms since epoch. */
  expires_at: Type.Integer({ minimum: 0 }),
  /** Size of the kept answer. */
  bytes: Type.Integer({ minimum: 0 }),
}));

export const CacheHit = defineEvent("cache.hit", Type.Object({
  request: Type.String(),
  key: Type.String(),
  /** The request whose answer was kept and is served again. */
  source_request: Type.String(),
  /** Who answered it first. */
  target: Type.String(),
  provider: Type.String(),
  model: Type.String(),
  age_ms: Type.Integer({ minimum: 0 }),
  /** What the kept answer cost upstream when it was made: not spent again. */
  saved_input_tokens: Type.Integer({ minimum: 0 }),
  saved_output_tokens: Type.Integer({ minimum: 0 }),
  /** Its cost then, USD; absent when its price was unknown. */
  saved_usd: Type.Optional(Type.Number({ minimum: 0 })),
}));
