import { CacheHit } from "../catalog/cache.ts";
import { CompressionApplied } from "../catalog/compression.ts";
import { AttemptStarted, RequestCancelled, RequestCompleted, RequestFailed, RequestReceived } from "../catalog/request.ts";
import { RouteDecided } from "../catalog/routing.ts";
import { TerseApplied } from "../catalog/terse.ts";
import { isEvent, type EventData } from "../define.ts";
import type { Projection } from "./projection.ts";

// Usage rolled up per UTC hour × caller × provider × model × route, for /api/usage. A request is
// counted once, when it ends, in the hour of its final event, against the model that served it
// (for a failure, the last one tried). Day totals are sums of hours, made at query time.
//
// Bounded, and deterministic from the events alone: hours older than RETAIN_HOURS behind the
// newest hour seen are dropped; past MAX_BUCKETS buckets the oldest hours go first; an hour
// holds at most MAX_KEYS_PER_HOUR distinct keys, later ones are summed under OTHER. Updated in
// place: the state is large, and copying it per event would make every request pay for it.

export const HOUR_MS = 3_600_000;
/** Hours kept behind the newest: 90 days. */
export const RETAIN_HOURS = 90 * 24;
/** About 1 KB each with typical latency spreads (measured): some 30 MB at the cap. */
export const MAX_BUCKETS = 30_000;
export const MAX_KEYS_PER_HOUR = 500;
/** Requests in flight remembered (a request that never ends, e.g. a crash, is forgotten oldest first). */
export const MAX_PENDING = 10_000;
/** Failure reasons kept per bucket, and compressors per bucket; the rest are counted under OTHER. */
export const MAX_REASONS = 16;
/** The caller, provider, model and route of usage summed past a cap. */
export const OTHER = "(other)";

/**
 * Latency histograms have fixed log-spaced bins: bin 0 holds [0, 1) ms, bin i ≥ 1 holds
 * [2^((i-1)/8), 2^(i/8)) ms, and the last bin everything from 2^24 ms (4.7 h) up. Fixed bins
 * merge by adding counts, so a percentile of any group is read from its merged bins; it is the
 * bin's geometric middle, within 2^(1/16) − 1 ≈ 4.5% of the exact nearest-rank value.
 */
export const BINS_PER_DOUBLING = 8;
export const TOP_BIN = 24 * BINS_PER_DOUBLING + 1;

export interface Latency {
  count: number;
  sum: number;
  min: number;
  max: number;
  /**
   * The bins that were hit, as [bin, count, bin, count, …] ascending by bin: a third of the
   * memory of an object keyed by bin number (measured in Bun), and already in order to read.
   */
  bins: number[];
}

/** What one compressor saved in a bucket. */
export interface CompressorSavings {
  /** Requests it changed. */
  requests: number;
  tokens_saved: number;
  /** Its share of the requests' compression_saved_usd, in proportion to the tokens it saved. */
  saved_usd: number;
}

/** One arm of terse mode: requests answered (with usage) and their output tokens. */
export interface TerseArmUsage {
  requests: number;
  output_tokens: number;
}

export interface UsageBucket {
  /** Start of the UTC hour, ms since epoch. */
  hour: number;
  /** Caller key id (or an auth plugin's caller name); "" when the gateway had no caller keys. */
  caller: string;
  provider: string;
  model: string;
  /** The route the client named (or an alias of it); "" when it named a model. */
  route: string;
  requests: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** Failed requests by reason (error kind). */
  errors: Record<string, number>;
  input_tokens: number;
  output_tokens: number;
  cached_input_tokens: number;
  cache_write_tokens: number;
  /** Part of output_tokens. */
  reasoning_tokens: number;
  /** Attempts beyond the first, summed (fallbacks to another target, and retries). */
  fallbacks: number;
  /** Requests that needed more than one attempt. */
  fallback_requests: number;
  /** The cost recorded on each request's final event (at the prices known then). */
  cost_usd: number;
  /** Requests that used tokens but ended without a cost: their model had no known price. */
  unpriced: number;
  /** Completed requests only: time to first byte, and total time. */
  ttfb_ms: Latency;
  total_ms: Latency;
  /**
   * The token saver. Compression counts for requests that went upstream (at least one attempt):
   * requests a compressor changed, input tokens saved (tokens_before − tokens_after of their
   * compression.applied events), and that at the serving target's input price (recorded on
   * request.completed, so answered requests only).
   */
  compressed_requests: number;
  tokens_saved: number;
  saved_usd: number;
  /** Per compressor (at most MAX_REASONS names; the rest under OTHER). */
  saved_by_compressor: Record<string, CompressorSavings>;
  /** Requests answered from the response cache, and what their kept answers cost when made. */
  cache_hits: number;
  cache_saved_input_tokens: number;
  cache_saved_output_tokens: number;
  cache_saved_usd: number;
  /** Terse mode's arms: completed requests with usage, with the instruction and without (the holdout). */
  terse: TerseArmUsage;
  terse_control: TerseArmUsage;
}

interface Pending {
  caller: string;
  route: string;
  /** The target of the latest attempt, for a failure no upstream answered. */
  provider?: string;
  model?: string;
  /** Tokens saved per compressor (one entry per compressor loaded, at most). */
  saved?: Record<string, number>;
  cache?: { input: number; output: number; usd: number };
  terse?: "terse" | "control";
}

export interface UsageRollupState {
  buckets: Record<string, UsageBucket>;
  /** Bucket keys per hour, and the hours held, ascending: whole hours are dropped together. */
  byHour: Record<string, string[]>;
  hours: number[];
  size: number;
  /** The first hour that can still be counted: RETAIN_HOURS behind the newest, or later past the cap. */
  keptFrom: number;
  pending: Record<string, Pending>;
  pendingCount: number;
  /** Ids of requests in flight in arrival order; ids of ended ones are cleared out lazily. */
  arrivals: string[];
  /** Requests no longer counted: in hours dropped, or ended in an hour already dropped. */
  dropped: number;
}

export const emptyLatency = (): Latency => ({ count: 0, sum: 0, min: 0, max: 0, bins: [] });

export function binOf(ms: number): number {
  if (!(ms >= 1)) return 0;
  return Math.min(TOP_BIN, 1 + Math.floor(Math.log2(ms) * BINS_PER_DOUBLING));
}

export function addLatency(into: Latency, ms: number): void {
  into.min = into.count === 0 ? ms : Math.min(into.min, ms);
  into.max = into.count === 0 ? ms : Math.max(into.max, ms);
  into.count += 1;
  into.sum += ms;
  addToBin(into.bins, binOf(ms), 1);
}

function addToBin(bins: number[], bin: number, count: number): void {
  let at = 0;
  while (at < bins.length && bins[at]! < bin) at += 2;
  if (bins[at] === bin) bins[at + 1]! += count;
  else bins.splice(at, 0, bin, count);
}

export function mergeLatency(into: Latency, from: Latency): void {
  if (from.count === 0) return;
  into.min = into.count === 0 ? from.min : Math.min(into.min, from.min);
  into.max = into.count === 0 ? from.max : Math.max(into.max, from.max);
  into.count += from.count;
  into.sum += from.sum;
  for (let at = 0; at < from.bins.length; at += 2) addToBin(into.bins, from.bins[at]!, from.bins[at + 1]!);
}

/** The q-quantile (0 < q ≤ 1) by nearest rank, read from the bins; null when empty. */
export function percentile(latency: Latency, q: number): number | null {
  if (latency.count === 0) return null;
  const rank = Math.max(1, Math.ceil(q * latency.count));
  let seen = 0;
  for (let at = 0; at < latency.bins.length; at += 2) {
    const bin = latency.bins[at]!;
    seen += latency.bins[at + 1]!;
    if (seen < rank) continue;
    const middle = bin === 0 ? 0.5 : bin === TOP_BIN ? latency.max : 2 ** ((bin - 0.5) / BINS_PER_DOUBLING);
    // The true value also lies within [min, max]; clamping only brings the estimate nearer.
    return Math.min(latency.max, Math.max(latency.min, middle));
  }
  return latency.max;
}

export const hourOf = (at: number): number => Math.floor(at / HOUR_MS) * HOUR_MS;

const SEP = "\u001f";

/** Drop the oldest hour, and everything before it from now on. */
function dropOldest(state: UsageRollupState): void {
  const oldest = state.hours.shift()!;
  const keys = state.byHour[oldest]!;
  for (const key of keys) {
    state.dropped += state.buckets[key]!.requests;
    delete state.buckets[key];
  }
  state.size -= keys.length;
  delete state.byHour[oldest];
  state.keptFrom = Math.max(state.keptFrom, oldest + HOUR_MS);
}

function bucketFor(state: UsageRollupState, hour: number, dims: Pick<UsageBucket, "caller" | "provider" | "model" | "route">): UsageBucket | undefined {
  const newest = Math.max(hour, state.hours.at(-1) ?? hour);
  state.keptFrom = Math.max(state.keptFrom, newest - (RETAIN_HOURS - 1) * HOUR_MS);
  while (state.hours.length > 0 && state.hours[0]! < state.keptFrom) dropOldest(state);
  if (hour < state.keptFrom) return undefined;
  let key = [hour, dims.caller, dims.provider, dims.model, dims.route].join(SEP);
  if (state.buckets[key]) return state.buckets[key];
  const full = (state.byHour[hour]?.length ?? 0) >= MAX_KEYS_PER_HOUR;
  if (full) {
    key = [hour, OTHER, OTHER, OTHER, OTHER].join(SEP);
    if (state.buckets[key]) return state.buckets[key];
  }
  // A new bucket: make room, oldest hours first (which may be this one, for a late event).
  while (state.size >= MAX_BUCKETS) dropOldest(state);
  if (hour < state.keptFrom) return undefined;
  if (!(hour in state.byHour)) {
    let at = state.hours.length;
    while (at > 0 && state.hours[at - 1]! > hour) at--;
    state.hours.splice(at, 0, hour);
    state.byHour[hour] = [];
  }
  const bucket: UsageBucket = {
    hour, ...(full ? { caller: OTHER, provider: OTHER, model: OTHER, route: OTHER } : dims),
    requests: 0, completed: 0, failed: 0, cancelled: 0, errors: {},
    input_tokens: 0, output_tokens: 0, cached_input_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0,
    fallbacks: 0, fallback_requests: 0, cost_usd: 0, unpriced: 0,
    ttfb_ms: emptyLatency(), total_ms: emptyLatency(),
    compressed_requests: 0, tokens_saved: 0, saved_usd: 0, saved_by_compressor: {},
    cache_hits: 0, cache_saved_input_tokens: 0, cache_saved_output_tokens: 0, cache_saved_usd: 0,
    terse: { requests: 0, output_tokens: 0 }, terse_control: { requests: 0, output_tokens: 0 },
  };
  state.buckets[key] = bucket;
  state.byHour[hour]!.push(key);
  state.size += 1;
  return bucket;
}

/** Forget the oldest requests in flight past MAX_PENDING (ones that never ended, e.g. in a crash). */
function forgetOldest(state: UsageRollupState): void {
  // Each id leaves `arrivals` once, and it is compacted when half stale: O(1) per request, amortized.
  if (state.arrivals.length > 2 * MAX_PENDING) state.arrivals = state.arrivals.filter((id) => id in state.pending);
  while (state.pendingCount > MAX_PENDING) {
    const oldest = state.arrivals.shift()!;
    if (!(oldest in state.pending)) continue;
    delete state.pending[oldest];
    state.pendingCount -= 1;
  }
}

type Ended =
  | { outcome: "completed"; data: EventData<typeof RequestCompleted> }
  | { outcome: "failed"; data: EventData<typeof RequestFailed> }
  | { outcome: "cancelled"; data: EventData<typeof RequestCancelled> };

function end(state: UsageRollupState, at: number, ended: Ended): void {
  const { data } = ended;
  const pending = state.pending[data.request];
  if (pending) {
    delete state.pending[data.request];
    state.pendingCount -= 1;
  }
  const bucket = bucketFor(state, hourOf(at), {
    caller: pending?.caller ?? "",
    route: pending?.route ?? "",
    provider: data.provider ?? pending?.provider ?? "",
    model: data.model ?? pending?.model ?? "",
  });
  if (!bucket) {
    state.dropped += 1;
    return;
  }
  bucket.requests += 1;
  bucket[ended.outcome] += 1;
  if (ended.outcome === "failed") {
    const reason = ended.data.reason in bucket.errors || Object.keys(bucket.errors).length < MAX_REASONS ? ended.data.reason : OTHER;
    bucket.errors[reason] = (bucket.errors[reason] ?? 0) + 1;
  }
  const usage = data.usage;
  if (usage) {
    bucket.input_tokens += usage.input_tokens;
    bucket.output_tokens += usage.output_tokens;
    bucket.cached_input_tokens += usage.cached_input_tokens ?? 0;
    bucket.cache_write_tokens += usage.cache_write_tokens ?? 0;
    bucket.reasoning_tokens += usage.reasoning_tokens ?? 0;
    if (data.cost_usd === undefined && usage.input_tokens + usage.output_tokens > 0) bucket.unpriced += 1;
  }
  bucket.cost_usd += data.cost_usd ?? 0;
  if (data.attempts > 1) {
    bucket.fallbacks += data.attempts - 1;
    bucket.fallback_requests += 1;
  }
  // An answer from the response cache says nothing of how fast its target is: no latency from it.
  if (ended.outcome === "completed" && ended.data.cached !== true) {
    addLatency(bucket.ttfb_ms, ended.data.ttfb_ms);
    addLatency(bucket.total_ms, ended.data.total_ms);
  }
  if (pending?.saved && data.attempts > 0) {
    addSavings(bucket, pending.saved, ended.outcome === "completed" ? ended.data.compression_saved_usd ?? 0 : 0);
  }
  if (pending?.cache) {
    bucket.cache_hits += 1;
    bucket.cache_saved_input_tokens += pending.cache.input;
    bucket.cache_saved_output_tokens += pending.cache.output;
    bucket.cache_saved_usd += pending.cache.usd;
  }
  if (pending?.terse && ended.outcome === "completed" && usage) {
    const arm = pending.terse === "terse" ? bucket.terse : bucket.terse_control;
    arm.requests += 1;
    arm.output_tokens += usage.output_tokens;
  }
}

/** A compressed request's savings into its bucket; the money is shared by tokens saved. */
function addSavings(bucket: UsageBucket, saved: Record<string, number>, usd: number): void {
  let tokens = 0;
  let positive = 0;
  for (const n of Object.values(saved)) {
    tokens += n;
    positive += Math.max(0, n);
  }
  bucket.compressed_requests += 1;
  bucket.tokens_saved += tokens;
  bucket.saved_usd += usd;
  // Names past the cap are summed under OTHER, which then counts the request once.
  const merged = new Map<string, CompressorSavings>();
  for (const [name, n] of Object.entries(saved)) {
    // Own keys only: a compressor named like an Object method ("constructor") is a name like any other.
    const key = Object.hasOwn(bucket.saved_by_compressor, name) || Object.keys(bucket.saved_by_compressor).length < MAX_REASONS ? name : OTHER;
    if (!Object.hasOwn(bucket.saved_by_compressor, key)) bucket.saved_by_compressor[key] = { requests: 0, tokens_saved: 0, saved_usd: 0 };
    let into = merged.get(key);
    if (!into) merged.set(key, (into = { requests: 1, tokens_saved: 0, saved_usd: 0 }));
    into.tokens_saved += n;
    into.saved_usd += positive > 0 ? (usd * Math.max(0, n)) / positive : 0;
  }
  for (const [key, m] of merged) {
    const into = bucket.saved_by_compressor[key]!;
    into.requests += m.requests;
    into.tokens_saved += m.tokens_saved;
    into.saved_usd += m.saved_usd;
  }
}

export const usageRollup: Projection<UsageRollupState> = {
  name: "usageRollup",
  initial: () => ({ buckets: {}, byHour: {}, hours: [], size: 0, keptFrom: 0, pending: {}, pendingCount: 0, arrivals: [], dropped: 0 }),
  evolve(state, event) {
    if (isEvent(event, RequestReceived)) {
      const id = event.data.request;
      if (!(id in state.pending)) {
        state.pendingCount += 1;
        state.arrivals.push(id);
      }
      state.pending[id] = { caller: event.data.caller ?? "", route: "" };
      forgetOldest(state);
      return state;
    }
    if (isEvent(event, RouteDecided)) {
      const pending = state.pending[event.data.request];
      if (pending && event.data.route !== undefined) pending.route = event.data.route;
      return state;
    }
    if (isEvent(event, AttemptStarted)) {
      const pending = state.pending[event.data.request];
      if (pending) {
        pending.provider = event.data.provider;
        pending.model = event.data.model;
      }
      return state;
    }
    if (isEvent(event, CompressionApplied)) {
      const pending = state.pending[event.data.request];
      if (pending) {
        const saved = (pending.saved ??= {});
        saved[event.data.compressor] = (saved[event.data.compressor] ?? 0) + event.data.tokens_before - event.data.tokens_after;
      }
      return state;
    }
    if (isEvent(event, CacheHit)) {
      const pending = state.pending[event.data.request];
      if (pending) pending.cache = { input: event.data.saved_input_tokens, output: event.data.saved_output_tokens, usd: event.data.saved_usd ?? 0 };
      return state;
    }
    if (isEvent(event, TerseApplied)) {
      const pending = state.pending[event.data.request];
      // A request the header put in terse mode chose itself: not part of the measurement.
      if (pending && event.data.arm !== "forced") pending.terse = event.data.arm;
      return state;
    }
    if (isEvent(event, RequestCompleted)) end(state, event.at, { outcome: "completed", data: event.data });
    else if (isEvent(event, RequestFailed)) end(state, event.at, { outcome: "failed", data: event.data });
    else if (isEvent(event, RequestCancelled)) end(state, event.at, { outcome: "cancelled", data: event.data });
    return state;
  },
};
