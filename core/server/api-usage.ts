import { Elysia } from "elysia";
import {
  HOUR_MS, MAX_BUCKETS, MAX_KEYS_PER_HOUR, OTHER, RETAIN_HOURS, emptyLatency, mergeLatency, percentile,
  type Latency, type TerseArmUsage, type UsageBucket,
} from "../../events/projections/usage-rollup.ts";
import { gatewayError, type GatewayError } from "../errors.ts";
import type { Gateway } from "../gateway.ts";
import { priceOf } from "../models/catalog.ts";
import { adminError, adminGuard } from "./admin.ts";

// Usage and prices for the admin API: GET /api/usage sums the usageRollup projection's hourly
// buckets by the dimensions asked for (day totals are made here, from hours), and reads
// percentiles from merged latency bins; GET /api/prices shows what each configured model costs.

const DIMENSIONS = ["caller", "provider", "model", "route"] as const;
type Dimension = typeof DIMENSIONS[number];
type Period = "day" | "hour";
const PARAMS = new Set<string>(["group", "since", "until", ...DIMENSIONS]);
const DAY_MS = 24 * HOUR_MS;

export interface UsageQuery {
  dimensions: Dimension[];
  period?: Period;
  /** Hours starting in [since, until) are summed. */
  since?: number;
  until?: number;
  /** Exact values per dimension ("" is none: no caller key, or no route). */
  filters: Partial<Record<Dimension, Set<string>>>;
}

const invalid = (param: string, message: string): GatewayError => gatewayError("invalid_request", `${param}: ${message}`, { param });

/** ms since epoch, or an ISO date or date-time ("2026-11-23" is midnight UTC). */
function time(param: string, value: string): number | GatewayError {
  const at = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  // JavaScript dates end at ±8.64e15 ms (year 275760): past that a date cannot be written back.
  if (Number.isFinite(at) && Math.abs(at) > 8.64e15) return invalid(param, `"${value.slice(0, 40)}" is beyond the last representable date`);
  return Number.isFinite(at) ? at : invalid(param, `"${value.slice(0, 40)}" is not a date, a date-time or ms since epoch`);
}

function parseQuery(params: URLSearchParams): UsageQuery | GatewayError {
  for (const name of params.keys()) if (!PARAMS.has(name)) return invalid(name, `unknown parameter (use ${[...PARAMS].join(", ")})`);
  for (const name of PARAMS) if (params.getAll(name).length > 1) return invalid(name, "given more than once (list values with commas)");
  const query: UsageQuery = { dimensions: [], filters: {} };
  for (const part of (params.get("group") ?? "").split(",").map((p) => p.trim()).filter(Boolean)) {
    if (part === "day" || part === "hour") {
      if (query.period !== undefined && query.period !== part) return invalid("group", "day and hour cannot both be grouped by");
      query.period = part;
    } else if ((DIMENSIONS as readonly string[]).includes(part)) {
      if (!query.dimensions.includes(part as Dimension)) query.dimensions.push(part as Dimension);
    } else if (part === "compressor") {
      // A request may be compressed by several compressors: savings per compressor are a breakdown, not a dimension.
      return invalid("group", "compressor is not a grouping: every row's saved_by_compressor breaks its savings down by compressor");
    } else {
      return invalid("group", `unknown "${part}" (use ${[...DIMENSIONS, "day", "hour"].join(", ")})`);
    }
  }
  for (const bound of ["since", "until"] as const) {
    const value = params.get(bound);
    if (value === null) continue;
    const at = time(bound, value);
    if (typeof at !== "number") return at;
    query[bound] = at;
  }
  if (query.since !== undefined && query.until !== undefined && query.until <= query.since) return invalid("until", "must be after since");
  for (const dimension of DIMENSIONS) {
    const value = params.get(dimension);
    if (value !== null) query.filters[dimension] = new Set(value.split(",").map((v) => v.trim()));
  }
  return query;
}

type Sums = Omit<UsageBucket, "hour" | Dimension>;

const emptySums = (): Sums => ({
  requests: 0, completed: 0, failed: 0, cancelled: 0, errors: {},
  input_tokens: 0, output_tokens: 0, cached_input_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0,
  fallbacks: 0, fallback_requests: 0, cost_usd: 0, unpriced: 0, ttfb_ms: emptyLatency(), total_ms: emptyLatency(),
  compressed_requests: 0, tokens_saved: 0, saved_usd: 0, saved_by_compressor: {},
  cache_hits: 0, cache_saved_input_tokens: 0, cache_saved_output_tokens: 0, cache_saved_usd: 0,
  terse: { requests: 0, output_tokens: 0 }, terse_control: { requests: 0, output_tokens: 0 },
});

const COUNTS = [
  "requests", "completed", "failed", "cancelled", "input_tokens", "output_tokens", "cached_input_tokens",
  "cache_write_tokens", "reasoning_tokens", "fallbacks", "fallback_requests", "cost_usd", "unpriced",
  "compressed_requests", "tokens_saved", "saved_usd", "cache_hits", "cache_saved_input_tokens", "cache_saved_output_tokens", "cache_saved_usd",
] as const;

function add(into: Sums, bucket: UsageBucket): void {
  for (const field of COUNTS) into[field] += bucket[field];
  for (const [reason, n] of Object.entries(bucket.errors)) into.errors[reason] = (into.errors[reason] ?? 0) + n;
  for (const [name, saved] of Object.entries(bucket.saved_by_compressor)) {
    const sum = (into.saved_by_compressor[name] ??= { requests: 0, tokens_saved: 0, saved_usd: 0 });
    sum.requests += saved.requests;
    sum.tokens_saved += saved.tokens_saved;
    sum.saved_usd += saved.saved_usd;
  }
  for (const arm of ["terse", "terse_control"] as const) {
    into[arm].requests += bucket[arm].requests;
    into[arm].output_tokens += bucket[arm].output_tokens;
  }
  mergeLatency(into.ttfb_ms, bucket.ttfb_ms);
  mergeLatency(into.total_ms, bucket.total_ms);
}

const round = (value: number, places: number) => Math.round(value * 10 ** places) / 10 ** places;

function latency(l: Latency) {
  const ms = (q: number) => {
    const value = percentile(l, q);
    return value === null ? null : round(value, 1);
  };
  return { count: l.count, p50: ms(0.5), p90: ms(0.9), p99: ms(0.99), mean: l.count ? round(l.sum / l.count, 1) : null, max: l.count ? round(l.max, 1) : null };
}

const mean = (arm: TerseArmUsage) => (arm.requests ? round(arm.output_tokens / arm.requests, 1) : null);

/**
 * Terse mode's measured effect: mean output tokens per answered request in each arm and the
 * relative change (terse vs control); null, with the reason, until both arms have answers.
 */
function terseEffect(terse: TerseArmUsage, control: TerseArmUsage) {
  if (terse.requests === 0 && control.requests === 0) return { terse_effect: null, terse_effect_reason: "no requests in terse mode" };
  if (control.requests === 0) return { terse_effect: null, terse_effect_reason: "no control group: give the route terse: { holdout: 0.1 } to measure the effect" };
  if (terse.requests === 0) return { terse_effect: null, terse_effect_reason: "no requests in the terse arm yet" };
  const t = terse.output_tokens / terse.requests;
  const c = control.output_tokens / control.requests;
  return {
    terse_effect: {
      terse_mean_output_tokens: round(t, 1),
      control_mean_output_tokens: round(c, 1),
      /** (terse − control) / control: −0.4 is 40 % fewer output tokens with the instruction. */
      relative_change: c > 0 ? round((t - c) / c, 4) : null,
    },
    terse_effect_reason: null,
  };
}

function sums(s: Sums) {
  const { unpriced, ttfb_ms, total_ms, cost_usd, saved_usd, cache_saved_usd, saved_by_compressor, terse, terse_control, ...counts } = s;
  return {
    ...counts, cost_usd: round(cost_usd, 9), unpriced_requests: unpriced, ttfb_ms: latency(ttfb_ms), total_ms: latency(total_ms),
    saved_usd: round(saved_usd, 9), cache_saved_usd: round(cache_saved_usd, 9),
    saved_by_compressor: Object.fromEntries(Object.entries(saved_by_compressor)
      .sort(([a, x], [b, y]) => y.tokens_saved - x.tokens_saved || a.localeCompare(b))
      .map(([name, x]) => [name, { ...x, saved_usd: round(x.saved_usd, 9) }])),
    terse: { ...terse, mean_output_tokens: mean(terse) },
    terse_control: { ...terse_control, mean_output_tokens: mean(terse_control) },
    ...terseEffect(terse, terse_control),
  };
}

const isoHour = (hour: number) => `${new Date(hour).toISOString().slice(0, 13)}:00Z`;
const isoDay = (hour: number) => new Date(hour).toISOString().slice(0, 10);

function selected(bucket: UsageBucket, query: UsageQuery): boolean {
  if (query.since !== undefined && bucket.hour < Math.floor(query.since / HOUR_MS) * HOUR_MS) return false;
  if (query.until !== undefined && bucket.hour >= query.until) return false;
  return DIMENSIONS.every((d) => query.filters[d] === undefined || query.filters[d]!.has(bucket[d]));
}

/** The answer to GET /api/usage: rows by the dimensions asked for, totals, and warnings. */
export function usageReport(gw: Gateway, query: UsageQuery) {
  const state = gw.projections.get("usageRollup");
  const keys = gw.projections.get("keys").keys;
  const rows = new Map<string, { group: Record<string, string>; sums: Sums }>();
  const totals = emptySums();
  const unpriced = new Map<string, { provider: string; model: string; requests: number }>();
  let other = false;
  for (const bucket of Object.values(state.buckets)) {
    if (!selected(bucket, query)) continue;
    const group: Record<string, string> = {};
    if (query.period === "day") group.day = isoDay(Math.floor(bucket.hour / DAY_MS) * DAY_MS);
    if (query.period === "hour") group.hour = isoHour(bucket.hour);
    for (const d of query.dimensions) group[d] = bucket[d];
    const id = JSON.stringify(group);
    let row = rows.get(id);
    if (!row) rows.set(id, (row = { group, sums: emptySums() }));
    add(row.sums, bucket);
    add(totals, bucket);
    if (bucket.caller === OTHER) other = true;
    if (bucket.unpriced > 0) {
      const target = `${bucket.provider}/${bucket.model}`;
      const seen = unpriced.get(target) ?? { provider: bucket.provider, model: bucket.model, requests: 0 };
      seen.requests += bucket.unpriced;
      unpriced.set(target, seen);
    }
  }
  const data = [...rows.values()]
    .sort((a, b) => {
      for (const field of ["day", "hour", ...query.dimensions]) {
        const order = (a.group[field] ?? "").localeCompare(b.group[field] ?? "");
        if (order !== 0) return order;
      }
      return 0;
    })
    .map(({ group, sums: s }) => ({
      ...group,
      ...(group.caller !== undefined && keys[group.caller] ? { caller_name: keys[group.caller]!.name } : {}),
      ...sums(s),
    }));
  const warnings: string[] = [];
  for (const { provider, model, requests } of unpriced.values()) {
    const configured = gw.config.providers.find((p) => p.id === provider);
    const now = configured && priceOf(configured, model) ? " (it has a price now: later requests are costed)" : "";
    warnings.push(`model ${model || "(unknown)"} on provider ${provider || "(unknown)"} has no known price: ${requests} ${requests === 1 ? "request" : "requests"} counted without cost${now}`);
  }
  if (state.dropped > 0 && (query.since === undefined || query.since < state.keptFrom)) {
    warnings.push(`usage before ${isoHour(state.keptFrom)} is no longer kept: ${state.dropped} requests dropped (at most ${RETAIN_HOURS / 24} days of hours and ${MAX_BUCKETS} buckets are kept)`);
  }
  if (other) warnings.push(`some usage is summed under "${OTHER}": an hour had more than ${MAX_KEYS_PER_HOUR} caller/provider/model/route combinations`);
  return {
    group: [...(query.period ? [query.period] : []), ...query.dimensions],
    since: query.since !== undefined ? new Date(query.since).toISOString() : null,
    until: query.until !== undefined ? new Date(query.until).toISOString() : null,
    data,
    totals: sums(totals),
    warnings,
  };
}

/** The price of every configured model (exact names; patterns in `models` match too many to list). */
export function pricesReport(gw: Gateway) {
  const now = new Date();
  return {
    unit: "USD per million tokens",
    notes: [
      "reasoning tokens are billed as output tokens (they are counted within output_tokens)",
      "effective_basis: from = the price applies from that date; updated = the dataset entry was refreshed that day; as_of = no start date is recorded, the price is known in force on that date (the price dataset's newest recorded change, or the day the config was loaded)",
    ],
    data: gw.config.providers.flatMap((provider) => provider.models.filter((m) => !m.includes("*")).map((model) => {
      const fact = priceOf(provider, model, now);
      return fact
        ? { provider: provider.id, model, priced: true, price: fact.price, source: fact.source, effective: fact.effective, effective_basis: fact.effective_basis }
        : { provider: provider.id, model, priced: false, price: null, source: null, effective: null, effective_basis: null };
    })),
  };
}

export function usageRoutes(gw: Gateway) {
  const guard = adminGuard(gw);
  return new Elysia({ name: "api-usage", prefix: "/api" })
    .onBeforeHandle(({ request }) => guard(request))
    .get("/usage", ({ request }) => {
      const query = parseQuery(new URL(request.url).searchParams);
      if ("kind" in query) return adminError(gw, query);
      return Response.json(usageReport(gw, query));
    })
    .get("/prices", () => Response.json(pricesReport(gw)));
}
