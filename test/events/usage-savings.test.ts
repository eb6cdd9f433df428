import { describe, expect, test } from "vitest";
import { CacheHit } from "../../events/catalog/cache.ts";
import { CompressionApplied } from "../../events/catalog/compression.ts";
import { AttemptStarted, RequestCancelled, RequestCompleted, RequestFailed, RequestReceived } from "../../events/catalog/request.ts";
import { RouteDecided } from "../../events/catalog/routing.ts";
import { TerseApplied } from "../../events/catalog/terse.ts";
import type { EventRecord } from "../../events/define.ts";
import { fold } from "../../events/projections/projection.ts";
import { MAX_PENDING, MAX_REASONS, OTHER, usageRollup, type UsageBucket, type UsageRollupState } from "../../events/projections/usage-rollup.ts";
import { event, given } from "../support/given.ts";

// The token saver in the usage rollup: what compression saved (tokens, and money at the serving
// target's input price as request.completed records it), what the response cache saved, and terse
// mode's two arms. Given events, when folded, then these buckets.

const T = Date.UTC(2026, 10, 23, 13, 0, 0);
const served = { target: "p/m", provider: "p", model: "m" };
const asked = (request: string, caller = "key_a") =>
  event(RequestReceived, { request, dialect: "openai-chat", endpoint: "/v1/chat/completions", model: "smart", stream: false, candidates: ["p/m"], caller }, T);
const routed = (request: string) => event(RouteDecided, { request, route: "smart", strategy: "priority", input_tokens: 10, order: ["p/m"], skipped: [] }, T);
const tried = (request: string) => event(AttemptStarted, { request, attempt: 1, ...served, passthrough: false }, T);
const compressed = (request: string, compressor: string, before: number, after: number) =>
  event(CompressionApplied, { request, compressor, tokens_before: before, tokens_after: after }, T);
type Completed = Parameters<typeof event<typeof RequestCompleted>>[1];
const completed = (request: string, extra: Partial<Completed> = {}) =>
  event(RequestCompleted, { ...served, request, status: 200, attempts: 1, stream: false, ttfb_ms: 10, total_ms: 20, usage: { input_tokens: 100, output_tokens: 20 }, cost_usd: 0.001, ...extra }, T + 1);
const terse = (request: string, arm: "terse" | "control") => event(TerseApplied, { request, arm }, T);

const only = (state: UsageRollupState): UsageBucket => {
  const all = Object.values(state.buckets);
  expect(all).toHaveLength(1);
  return all[0]!;
};

describe("compression savings", () => {
  test("tokens saved sum over a request's compressors; the money is what request.completed recorded, shared by tokens", () => {
    given([
      asked("r1"), routed("r1"),
      compressed("r1", "git", 5000, 2000), compressed("r1", "whitespace", 2000, 1000),
      tried("r1"), completed("r1", { compression_saved_usd: 0.008 }),
      asked("r2"), routed("r2"), compressed("r2", "git", 900, 400), tried("r2"), completed("r2", { compression_saved_usd: 0.001 }),
      asked("r3"), routed("r3"), tried("r3"), completed("r3"),
    ]).when(usageRollup).then((state) => {
      const bucket = only(state);
      expect(bucket).toMatchObject({ requests: 3, compressed_requests: 2, tokens_saved: 4000 + 500 });
      expect(bucket.saved_usd).toBeCloseTo(0.009, 12);
      expect(bucket.saved_by_compressor.git).toMatchObject({ requests: 2, tokens_saved: 3500 });
      expect(bucket.saved_by_compressor.whitespace).toMatchObject({ requests: 1, tokens_saved: 1000 });
      // r1's $0.008 is 3/4 git's and 1/4 whitespace's; r2's $0.001 all git's.
      expect(bucket.saved_by_compressor.git!.saved_usd).toBeCloseTo(0.006 + 0.001, 12);
      expect(bucket.saved_by_compressor.whitespace!.saved_usd).toBeCloseTo(0.002, 12);
    });
  });

  test("an unpriced model saves tokens but no money; a failure that went upstream counts its tokens; a refusal before any attempt does not", () => {
    given([
      asked("r1"), compressed("r1", "json", 300, 100), tried("r1"), completed("r1", {}),
      asked("r2"), compressed("r2", "json", 300, 200), tried("r2"),
      event(RequestFailed, { ...served, request: "r2", status: 502, reason: "upstream_error", message: "cut", attempts: 1, total_ms: 5 }, T + 1),
      asked("r3"), compressed("r3", "json", 300, 200), tried("r3"),
      event(RequestCancelled, { ...served, request: "r3", status: 499, attempts: 1, total_ms: 5, streamed_chars: 0 }, T + 1),
      asked("r4"), compressed("r4", "json", 999, 1),
      event(RequestFailed, { request: "r4", status: 429, reason: "rate_limited", message: "cooling", attempts: 0, total_ms: 1 }, T + 1),
    ]).when(usageRollup).then((state) => {
      const buckets = Object.values(state.buckets);
      const served = buckets.find((b) => b.provider === "p")!;
      expect(served).toMatchObject({ compressed_requests: 3, tokens_saved: 400, saved_usd: 0, saved_by_compressor: { json: { requests: 3, tokens_saved: 400, saved_usd: 0 } } });
      const refused = buckets.find((b) => b.provider === "")!;
      expect(refused).toMatchObject({ requests: 1, compressed_requests: 0, tokens_saved: 0, saved_by_compressor: {} });
    });
  });

  test("compressor names past the cap are summed under (other), counting each request once", () => {
    const events: EventRecord[] = [asked("r1")];
    for (let i = 0; i < MAX_REASONS + 3; i++) events.push(compressed("r1", `c${i}`, 10, 9));
    events.push(tried("r1"), completed("r1", { compression_saved_usd: 0.0019 }));
    given(events).when(usageRollup).then((state) => {
      const by = only(state).saved_by_compressor;
      expect(Object.keys(by)).toHaveLength(MAX_REASONS + 1);
      expect(by[OTHER]).toMatchObject({ requests: 1, tokens_saved: 3 });
      expect(only(state).tokens_saved).toBe(MAX_REASONS + 3);
    });
  });

  test("a compression event of a request no longer remembered is ignored, and pending state stays bounded", () => {
    const events: EventRecord[] = [];
    for (let i = 0; i < MAX_PENDING + 2; i++) events.push(asked(`r${i}`), compressed(`r${i}`, "git", 10, 5));
    // r0 and r1 were forgotten: their compression is not counted when they end.
    events.push(compressed("r0", "git", 10, 5), completed("r0"), completed(`r${MAX_PENDING + 1}`));
    given(events).when(usageRollup).then((state) => {
      expect(state.pendingCount).toBe(MAX_PENDING - 1);
      const byCaller = Object.fromEntries(Object.values(state.buckets).map((b) => [b.caller, b]));
      expect(byCaller[""]).toMatchObject({ requests: 1, compressed_requests: 0, tokens_saved: 0 });
      expect(byCaller.key_a).toMatchObject({ requests: 1, compressed_requests: 1, tokens_saved: 5 });
    });
  });
});

describe("cache hits", () => {
  test("a request answered from the cache counts what its kept answer cost; it used no tokens itself", () => {
    given([
      asked("r1"), routed("r1"), tried("r1"), completed("r1", { usage: { input_tokens: 1200, output_tokens: 300 }, cost_usd: 0.0054 }),
      asked("r2"), routed("r2"), compressed("r2", "git", 50, 40),
      event(CacheHit, { request: "r2", key: "ab12", source_request: "r1", ...served, age_ms: 900, saved_input_tokens: 1200, saved_output_tokens: 300, saved_usd: 0.0054 }, T),
      { ...completed("r2"), data: { ...served, request: "r2", status: 200, attempts: 0, stream: false, ttfb_ms: 1, total_ms: 1, cached: true } },
      asked("r3"), routed("r3"),
      event(CacheHit, { request: "r3", key: "cd34", source_request: "r0", ...served, age_ms: 5, saved_input_tokens: 10, saved_output_tokens: 2 }, T),
      { ...completed("r3"), data: { ...served, request: "r3", status: 200, attempts: 0, stream: false, ttfb_ms: 1, total_ms: 1, cached: true } },
    ]).when(usageRollup).then((state) => {
      const bucket = only(state);
      expect(bucket).toMatchObject({
        requests: 3, completed: 3, input_tokens: 1200, output_tokens: 300, cost_usd: 0.0054,
        cache_hits: 2, cache_saved_input_tokens: 1210, cache_saved_output_tokens: 302, cache_saved_usd: 0.0054,
        // Nothing went upstream for r2: its compression saved nothing billable.
        compressed_requests: 0, tokens_saved: 0, fallbacks: 0,
      });
    });
  });
});

describe("terse mode arms", () => {
  test("each arm counts its answered requests and their output tokens; failures and unarmed requests do not", () => {
    given([
      asked("t1"), terse("t1", "terse"), tried("t1"), completed("t1", { usage: { input_tokens: 100, output_tokens: 40 } }),
      asked("t2"), terse("t2", "terse"), tried("t2"), completed("t2", { usage: { input_tokens: 100, output_tokens: 60 } }),
      asked("c1"), terse("c1", "control"), tried("c1"), completed("c1", { usage: { input_tokens: 100, output_tokens: 200 } }),
      asked("c2"), terse("c2", "control"), tried("c2"),
      event(RequestFailed, { ...served, request: "c2", status: 502, reason: "upstream_error", message: "x", attempts: 1, total_ms: 1, usage: { input_tokens: 100, output_tokens: 7 } }, T + 1),
      asked("n1"), tried("n1"), completed("n1", { usage: { input_tokens: 100, output_tokens: 999 } }),
    ]).when(usageRollup).then((state) => {
      expect(only(state)).toMatchObject({ terse: { requests: 2, output_tokens: 100 }, terse_control: { requests: 1, output_tokens: 200 } });
    });
  });
});

test("rebuilding from any point equals folding in one go (a pure fold of the events)", () => {
  const events: EventRecord[] = [
    asked("r1"), routed("r1"), compressed("r1", "git", 100, 10), terse("r1", "terse"), tried("r1"), completed("r1", { compression_saved_usd: 0.0009 }),
    asked("r2"), terse("r2", "control"), tried("r2"), completed("r2"),
    asked("r3"), event(CacheHit, { request: "r3", key: "k", source_request: "r1", ...served, age_ms: 1, saved_input_tokens: 100, saved_output_tokens: 20, saved_usd: 0.001 }, T),
    { ...completed("r3"), data: { ...served, request: "r3", status: 200, attempts: 0, stream: false, ttfb_ms: 1, total_ms: 1, cached: true } },
  ].map((e, i) => ({ ...e, seq: i + 1 }));
  const once = fold(usageRollup, events);
  for (let cut = 0; cut <= events.length; cut++) {
    // A restart at `cut`: the state so far (through a JSON snapshot), then the rest.
    const restored = JSON.parse(JSON.stringify(fold(usageRollup, events.slice(0, cut)))) as UsageRollupState;
    const resumed = events.slice(cut).reduce((state, e) => usageRollup.evolve(state, e), restored);
    expect(resumed).toEqual(once);
  }
});
