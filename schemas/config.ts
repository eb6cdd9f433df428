import { Type, type Static } from "@sinclair/typebox";

// The shape of sluice.yaml. Types flow from here: `Config` is `Static<typeof ConfigSchema>`.

const Name = Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._-]*$", maxLength: 64, description: "letters, digits, . _ -" });
const Ms = (defaultMs?: number) => Type.Integer({ minimum: 1, maximum: 86_400_000, default: defaultMs });

/** Upstream time limits. Defaults from RELIABILITY.md §3.8. */
const timeouts = (defaults: boolean) => Type.Object({
  /**
   * Connecting to the upstream. Fetch does not report its connect step, so when no answer has come
   * by then, Sluice checks the upstream is reachable (a TCP connect, at most 1 s) and gives up on
   * this attempt if it is not: a host that is down costs seconds, not the first-byte limit.
   */
  connect_ms: Ms(defaults ? 5_000 : undefined),
  /** Until the upstream's response headers arrive (connect included). */
  first_byte_ms: Ms(defaults ? 60_000 : undefined),
  /** Longest silence between two chunks of a streamed response. */
  idle_ms: Ms(defaults ? 120_000 : undefined),
  /** Hard cap on one request, all attempts together. */
  total_ms: Ms(defaults ? 600_000 : undefined),
}, { additionalProperties: false, default: defaults ? {} : undefined });
export const TimeoutsSchema = timeouts(true);

const Tokens = Type.Integer({ minimum: 1 });
const UsdPerMillion = Type.Number({ minimum: 0 });

export const ModelInfoSchema = Type.Object({
  /** Context window in tokens (input and output together). */
  context: Type.Optional(Tokens),
  /** Largest max_tokens the model accepts. */
  max_output: Type.Optional(Tokens),
  /** USD per million tokens. */
  price: Type.Optional(Type.Object({
    input: UsdPerMillion,
    output: UsdPerMillion,
    cached_input: Type.Optional(UsdPerMillion),
    cache_write: Type.Optional(UsdPerMillion),
    /** The date the price applies from (YYYY-MM-DD), shown by /api/prices. */
    effective: Type.Optional(Type.String({ pattern: "^\\d{4}-\\d{2}-\\d{2}$", description: "a date, YYYY-MM-DD" })),
  }, { additionalProperties: false })),
}, { additionalProperties: false });

export const ProviderSchema = Type.Object({
  id: Name,
  /** The executor plugin that speaks this upstream's API (openai, anthropic, …, or a plugin's kind). */
  kind: Type.String({ minLength: 1 }),
  base_url: Type.Optional(Type.String({ pattern: "^https?://", description: "an http(s) URL" })),
  api_key: Type.Optional(Type.String()),
  /** Models this provider serves; `*` matches any run of characters (e.g. `gpt-*`). */
  models: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
  /** Extra headers sent upstream (e.g. OpenRouter's HTTP-Referer). */
  headers: Type.Record(Type.String(), Type.String(), { default: {} }),
  /** Overrides of the global `timeouts` for this provider. */
  timeouts: Type.Optional(Type.Partial(timeouts(false), { additionalProperties: false })),
  /** Ask OpenAI-compatible upstreams for usage in streams even if the client did not. */
  stream_usage: Type.Boolean({ default: true }),
  /** Settings only this provider's executor reads (e.g. azure-openai's api_version and deployments). */
  options: Type.Record(Type.String(), Type.Unknown(), { default: {} }),
  /**
   * What Sluice should know of a model it cannot look up (a local model) or knows wrongly: keyed
   * by model name or `*` pattern. Used to clamp max_tokens, skip targets too small for a prompt,
   * route by cost and price usage.
   */
  model_info: Type.Record(Type.String({ minLength: 1 }), ModelInfoSchema, { default: {} }),
}, { additionalProperties: false });

export const Strategy = Type.Union([
  Type.Literal("priority"), Type.Literal("round-robin"), Type.Literal("weighted"),
  Type.Literal("random"), Type.Literal("least-latency"), Type.Literal("cost"),
]);

/** "provider/model", or with a weight for the weighted strategy. */
const RouteTarget = Type.Union([
  Type.String({ minLength: 1 }),
  Type.Object({
    target: Type.String({ minLength: 1 }),
    weight: Type.Number({ minimum: 0, default: 1 }),
  }, { additionalProperties: false }),
]);
const Targets = Type.Array(RouteTarget, { minItems: 1 });

export const RouteSchema = Type.Object({
  name: Name,
  strategy: Type.Optional(Strategy),
  /** Targets, tried in the strategy's order; the next one after a failure that allows it. */
  targets: Targets,
  /**
   * Smart routing (opt-in): a complexity score picks a tier, and the tier's own targets are
   * used (the route's `targets` for a tier not listed).
   */
  tiers: Type.Optional(Type.Object({
    simple: Type.Optional(Targets),
    medium: Type.Optional(Targets),
    complex: Type.Optional(Targets),
    reasoning: Type.Optional(Targets),
  }, { additionalProperties: false })),
  /** Prompt-cache affinity: a conversation prefix stays on the target that answered it while that target is well. */
  affinity: Type.Boolean({ default: false }),
  /**
   * Keep request and response bodies of this route's requests as `body.captured` events, secrets
   * redacted and cut at `max_bytes` each (off unless set): for debugging, visible in the timeline.
   */
  capture: Type.Optional(Type.Object({
    max_bytes: Type.Integer({ minimum: 256, maximum: 16 * 1024 * 1024, default: 65_536 }),
  }, { additionalProperties: false })),
  /**
   * Compressors for this route's requests: `false` turns them all off, `{ skip: [names] }` some
   * of them (a request can do the same with the header `x-sluice-compress: off` or `-name,-name`).
   */
  compress: Type.Optional(Type.Union([
    Type.Boolean(),
    Type.Object({ skip: Type.Array(Type.String({ minLength: 1 })) }, { additionalProperties: false }),
  ])),
  /**
   * Terse output mode (off unless set): an instruction asking for terse replies is appended to the
   * end of the system prompt. With `{ holdout: h }` a share h of conversations (chosen by a hash
   * of their first user message, so a whole conversation stays in one arm) goes without it, as
   * the control group that measures the effect. A request can ask with `x-sluice-terse: on|off`.
   */
  terse: Type.Optional(Type.Union([
    Type.Boolean(),
    Type.Object({ holdout: Type.Number({ minimum: 0, maximum: 0.5 }) }, { additionalProperties: false }),
  ])),
  /**
   * The exact response cache (off unless set): a request identical to an earlier one of the same
   * caller in the same dialect (after normalising) is answered again from memory for `ttl_s`,
   * stream or not. Bounded by entries and bytes, oldest use out first; not kept across restarts. A
   * request can skip it with the header `x-sluice-cache: off`.
   */
  cache: Type.Optional(Type.Object({
    ttl_s: Type.Integer({ minimum: 1, maximum: 86_400, default: 300 }),
    max_entries: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1000 }),
    max_bytes: Type.Integer({ minimum: 1024, maximum: 4 * 1024 * 1024 * 1024, default: 64 * 1024 * 1024 }),
  }, { additionalProperties: false })),
  /** Overrides of the global `timeouts` for requests to this route (a provider's own override still wins). */
  timeouts: Type.Optional(Type.Partial(timeouts(false), { additionalProperties: false })),
}, { additionalProperties: false });

export const ConfigSchema = Type.Object({
  server: Type.Object({
    host: Type.String({ default: "127.0.0.1", minLength: 1 }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 2402 }),
    /** Largest request body accepted, bytes (413 above). */
    max_body_bytes: Type.Integer({ minimum: 1024, default: 32 * 1024 * 1024 }),
    /** Seconds a client may stay silent while sending its request; lifted once the body is in. */
    idle_timeout_s: Type.Integer({ minimum: 1, maximum: 255, default: 10 }),
    /** Client addresses (IPs or IPv4 CIDR ranges) served at all; everyone when absent. */
    allow_ips: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
  }, { additionalProperties: false, default: {} }),
  data_dir: Type.String({ default: "./.sluice", minLength: 1 }),
  /** normal: a process crash loses nothing committed; full: fsync every commit (power-loss safe). */
  durability: Type.Union([Type.Literal("normal"), Type.Literal("full")], { default: "normal" }),
  admin_key: Type.Optional(Type.String()),
  auth: Type.Object({
    /** Allow unauthenticated callers on a non-loopback address. */
    open: Type.Boolean({ default: false }),
  }, { additionalProperties: false, default: {} }),
  log: Type.Object({
    level: Type.Union(["fatal", "error", "warn", "info", "debug", "trace", "silent"].map((l) => Type.Literal(l)), { default: "info" }),
  }, { additionalProperties: false, default: {} }),
  /** Directory of user plugins, loaded at start and reloaded when a file changes. */
  plugins_dir: Type.Optional(Type.String({ minLength: 1 })),
  timeouts: TimeoutsSchema,
  tokens: Type.Object({
    /**
     * Share of answered requests whose input Sluice also counts itself, after the answer went out,
     * to learn how far its count is from each upstream's (count_tokens answers are corrected by it).
     */
    estimate_sample: Type.Number({ minimum: 0, maximum: 1, default: 0.05 }),
  }, { additionalProperties: false, default: {} }),
  /**
   * Same-target retries, only where safe: the upstream could not be reached (nothing was sent), or
   * it said to come back within `max_wait_s`; and only when no other target is left to fall back to.
   */
  retry: Type.Object({
    attempts: Type.Integer({ minimum: 0, maximum: 5, default: 1 }),
    backoff_ms: Type.Integer({ minimum: 1, maximum: 60_000, default: 250 }),
    max_wait_s: Type.Number({ minimum: 0, maximum: 60, default: 2 }),
  }, { additionalProperties: false, default: {} }),
  /** Fail-fast limits (RELIABILITY §3.8): beyond them a request gets 503 (global) or 429 (per key) with Retry-After, never a queue. */
  limits: Type.Object({
    max_in_flight: Type.Integer({ minimum: 1, default: 500 }),
    /** Requests in flight per caller key, unless the key sets its own `concurrency`. */
    key_in_flight: Type.Integer({ minimum: 1, default: 50 }),
  }, { additionalProperties: false, default: {} }),
  providers: Type.Array(ProviderSchema, { default: [] }),
  routes: Type.Array(RouteSchema, { default: [] }),
  /** Other names for models: alias → a route, "provider/model" or a bare model name. */
  aliases: Type.Record(Type.String({ minLength: 1 }), Type.String({ minLength: 1 }), { default: {} }),
}, { additionalProperties: false });

export type Config = Static<typeof ConfigSchema>;
export type ProviderConfig = Static<typeof ProviderSchema>;
export type RouteConfig = Static<typeof RouteSchema>;
export type RouteTargetConfig = Static<typeof RouteTarget>;

/** The "provider/model" of a route target, whichever way it is written. */
export const targetName = (target: RouteTargetConfig): string => (typeof target === "string" ? target : target.target);

/** Every target list of a route, with its config path: `targets`, then each tier's. */
export function routeTargetLists(route: RouteConfig): Array<{ path: string[]; targets: RouteTargetConfig[] }> {
  const lists = [{ path: ["targets"], targets: route.targets }];
  for (const [tier, targets] of Object.entries(route.tiers ?? {})) if (targets) lists.push({ path: ["tiers", tier], targets });
  return lists;
}
export type StrategyName = Static<typeof Strategy>;
export type Timeouts = Static<typeof TimeoutsSchema>;
