import { Type } from "@sinclair/typebox";
import { defineEvent } from "../define.ts";

// How far Sluice's own token count (what count_tokens answers) is from what the upstream billed.
// A sample of answered requests is counted after the answer has gone out, off the request's path.

export const TokensEstimated = defineEvent("tokens.estimated", Type.Object({
  request: Type.String(),
  /** "provider/model" that served the request. */
  target: Type.String(),
  /** Input tokens by Sluice's tokenizer (system, messages, tools and images). */
  estimated: Type.Integer({ minimum: 0 }),
  /** Input tokens the upstream reported for the same request. */
  reported: Type.Integer({ minimum: 0 }),
}));
