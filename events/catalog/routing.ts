import { Type } from "@sinclair/typebox";
import { defineEvent } from "../define.ts";

// Routing decisions, one per request, and the health transitions routing acts on. Everything a
// decision read is derivable from earlier events, so `sluice replay` can explain and re-run it.

export const Skip = Type.Object({
  target: Type.String(),
  /** cooldown | ejected | context | no-executor | retry-budget */
  reason: Type.String(),
  /** ms since epoch when the cooldown or ejection ends. */
  until: Type.Optional(Type.Number()),
  detail: Type.Optional(Type.String()),
});

export const RouteDecided = defineEvent("route.decided", Type.Object({
  request: Type.String(),
  /** The route that named the targets, when the model was a route (or an alias of one). */
  route: Type.Optional(Type.String()),
  /** The alias the client used, when it was one. */
  alias: Type.Optional(Type.String()),
  strategy: Type.String(),
  /** Smart routing: the complexity tier and score that chose the target list. */
  tier: Type.Optional(Type.String()),
  score: Type.Optional(Type.Number()),
  /** Prompt-cache affinity: digest of the conversation prefix, and whether it moved a target first. */
  affinity: Type.Optional(Type.String()),
  sticky: Type.Optional(Type.String()),
  /** Sluice's estimate of the prompt's tokens, used for context-window checks. */
  input_tokens: Type.Integer({ minimum: 0 }),
  /** The client's output limit, if it set one (the cost strategy reads it). */
  max_tokens: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Targets in the order they will be tried. */
  order: Type.Array(Type.String()),
  /** Targets that will be tried although unwell, as probes (ejected) or because nothing else was left. */
  probes: Type.Optional(Type.Array(Type.String())),
  skipped: Type.Array(Skip),
}));

export const UpstreamEjected = defineEvent("upstream.ejected", Type.Object({
  /** "provider/model", or a provider id when the whole provider is out. */
  target: Type.String(),
  until: Type.Number(),
  ejections: Type.Integer({ minimum: 1 }),
  reason: Type.String(),
}));

export const UpstreamRestored = defineEvent("upstream.restored", Type.Object({
  target: Type.String(),
}));

/** An upstream call refused because its address is link-local or a cloud metadata service. */
export const EgressBlocked = defineEvent("egress.blocked", Type.Object({
  request: Type.Optional(Type.String()),
  target: Type.String(),
  host: Type.String(),
}));
