import { Type } from "@sinclair/typebox";
import { defineEvent } from "../define.ts";

// Caller keys. The secret is shown once when created and never stored: events carry its
// SHA-256 and a short prefix to recognise it by, never the key itself.

export const BudgetPeriod = Type.Union([Type.Literal("day"), Type.Literal("month"), Type.Literal("total")]);

export const KeyLimits = Type.Object({
  /** Models, routes or `*` patterns the key may ask for (all when absent). */
  models: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  /** Requests per minute. */
  rpm: Type.Optional(Type.Integer({ minimum: 1 })),
  /** Tokens (input estimate + output) per minute. */
  tpm: Type.Optional(Type.Integer({ minimum: 1 })),
  /** Requests in flight at once. */
  concurrency: Type.Optional(Type.Integer({ minimum: 1 })),
  /** USD per budget period. */
  budget_usd: Type.Optional(Type.Number({ minimum: 0 })),
  budget_period: Type.Optional(BudgetPeriod),
  /** ms since epoch after which the key no longer works. */
  expires_at: Type.Optional(Type.Number()),
  /** Client addresses (IPs or CIDR ranges) the key is accepted from. */
  ips: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
});

export const KeyCreated = defineEvent("key.created", Type.Composite([
  Type.Object({
    key: Type.String(),
    name: Type.String({ minLength: 1, maxLength: 128 }),
    /** SHA-256 of the key, hex. */
    hash: Type.String({ pattern: "^[0-9a-f]{64}$" }),
    /** The key's first characters, to tell keys apart in lists. */
    prefix: Type.String(),
    /** Who created it: cli or api. */
    via: Type.String(),
  }),
  KeyLimits,
]));

export const KeyRevoked = defineEvent("key.revoked", Type.Object({
  key: Type.String(),
  via: Type.String(),
}));
