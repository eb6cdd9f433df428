import { afterEach, describe, expect, test } from "vitest";
import { AttemptStarted, RequestCancelled, RequestCompleted, RequestFailed, RequestReceived } from "../../events/catalog/request.ts";
import { RouteDecided } from "../../events/catalog/routing.ts";
import type { EventRecord } from "../../events/define.ts";
import { fold } from "../../events/projections/projection.ts";
import {
  BINS_PER_DOUBLING, HOUR_MS, MAX_BUCKETS, MAX_KEYS_PER_HOUR, MAX_PENDING, MAX_REASONS, OTHER, RETAIN_HOURS,
  addLatency, emptyLatency, mergeLatency, percentile, usageRollup, type UsageBucket, type UsageRollupState,
} from "../../events/projections/usage-rollup.ts";
import { completion, startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import { startGateway, type TestGateway } from "../support/gateway.ts";
import { createKey } from "../../core/keys/keys.ts";
import { event, given } from "../support/given.ts";

const T = Date.UTC(2026, 10, 23, 13, 0, 0); // 13:00 UTC
const asked = (request: string, caller?: string) =>
  event(RequestReceived, { request, dialect: "openai-chat", endpoint: "/v1/chat/completions", model: "smart", stream: false, candidates: ["openai/gpt-4.1"], ...(caller ? { caller } : {}) }, T);
const routed = (request: string, route?: string) =>
  event(RouteDecided, { request, ...(route ? { route } : {}), strategy: "priority", input_tokens: 10, order: ["openai/gpt-4.1"], skipped: [] }, T);
const tried = (request: string, attempt: number, provider: string, model: string) =>
  event(AttemptStarted, { request, attempt, target: `${provider}/${model}`, provider, model, passthrough: false }, T);
const served = { target: "openai/gpt-4.1", provider: "openai", model: "gpt-4.1" };
const completed = (request: string, at: number, extra: Partial<Parameters<typeof event<typeof RequestCompleted>>[1]> = {}) =>
  event(RequestCompleted, { ...served, request, status: 200, attempts: 1, stream: false, ttfb_ms: 100, total_ms: 400, usage: { input_tokens: 100, output_tokens: 20 }, cost_usd: 0.001, ...extra }, at);

const only = (state: UsageRollupState): UsageBucket => {
  const all = Object.values(state.buckets);
  expect(all).toHaveLength(1);
  return all[0]!;
};

describe("usage rollup projection", () => {
  test("a request is counted when it ends, in its hour, by caller, served model and route", () => {
    given([
      asked("r1", "key_a"), routed("r1", "smart"), tried("r1", 1, "openai", "gpt-4.1"),
      completed("r1", T + 59 * 60_000, {
        ttfb_ms: 120, total_ms: 900, cost_usd: 0.0042,
        usage: { input_tokens: 1000, output_tokens: 200, cached_input_tokens: 400, cache_write_tokens: 50, reasoning_tokens: 80 },
      }),
    ]).when(usageRollup).then((state) => {
      expect(only(state)).toMatchObject({
        hour: T, caller: "key_a", provider: "openai", model: "gpt-4.1", route: "smart",
        requests: 1, completed: 1, failed: 0, cancelled: 0, errors: {},
        input_tokens: 1000, output_tokens: 200, cached_input_tokens: 400, cache_write_tokens: 50, reasoning_tokens: 80,
        fallbacks: 0, fallback_requests: 0, cost_usd: 0.0042, unpriced: 0,
        ttfb_ms: { count: 1, min: 120, max: 120 }, total_ms: { count: 1, min: 900, max: 900 },
      });
      expect(state.pending).toEqual({});
    });
  });

  test("the next hour is another bucket; a request with no caller key and no route has them empty", () => {
    given([
      asked("r1", "key_a"), routed("r1", "smart"), completed("r1", T + 10),
      asked("r2"), routed("r2"), completed("r2", T + HOUR_MS + 10),
    ]).when(usageRollup).then((state) => {
      expect(state.hours).toEqual([T, T + HOUR_MS]);
      const second = Object.values(state.buckets).find((b) => b.hour === T + HOUR_MS)!;
      expect(second).toMatchObject({ caller: "", route: "", provider: "openai", requests: 1 });
    });
  });

  test("failures count by reason, against the last target tried when none answered; cancellations count apart", () => {
    given([
      asked("r1", "key_a"), tried("r1", 1, "openai", "gpt-4.1"), tried("r1", 2, "openai", "gpt-4.1"),
      event(RequestFailed, { request: "r1", status: 504, reason: "upstream_timeout", message: "slow", attempts: 2, total_ms: 30_000 }, T + 1),
      asked("r2", "key_a"), tried("r2", 1, "openai", "gpt-4.1"),
      event(RequestFailed, { ...served, request: "r2", status: 502, reason: "upstream_error", message: "cut", attempts: 1, total_ms: 50, usage: { input_tokens: 10, output_tokens: 3 }, cost_usd: 0.0001 }, T + 2),
      asked("r3", "key_a"), tried("r3", 1, "openai", "gpt-4.1"),
      event(RequestCancelled, { ...served, request: "r3", status: 499, attempts: 1, total_ms: 70, streamed_chars: 5 }, T + 3),
    ]).when(usageRollup).then((state) => {
      expect(only(state)).toMatchObject({
        requests: 3, completed: 0, failed: 2, cancelled: 1,
        errors: { upstream_timeout: 1, upstream_error: 1 },
        input_tokens: 10, output_tokens: 3, cost_usd: 0.0001, fallbacks: 1, fallback_requests: 1,
        // Latency is of answers: failures and cancellations do not skew it.
        ttfb_ms: { count: 0 }, total_ms: { count: 0 },
      });
    });
  });

  test("a refusal before any attempt is counted with empty provider and model", () => {
    given([
      asked("r1", "key_b"),
      event(RequestFailed, { request: "r1", status: 429, reason: "rate_limited", message: "over", attempts: 0, total_ms: 1 }, T),
    ]).when(usageRollup).then((state) => {
      expect(only(state)).toMatchObject({ caller: "key_b", provider: "", model: "", failed: 1, errors: { rate_limited: 1 }, fallbacks: 0 });
    });
  });

  test("fallbacks: attempts beyond the first are summed, and the requests that needed one counted", () => {
    given([
      asked("r1"), completed("r1", T, { attempts: 3 }),
      asked("r2"), completed("r2", T, { attempts: 2 }),
      asked("r3"), completed("r3", T),
    ]).when(usageRollup).then((state) => {
      expect(only(state)).toMatchObject({ requests: 3, fallbacks: 3, fallback_requests: 2 });
    });
  });

  test("usage without a cost is unpriced, not free; usage of no tokens is neither", () => {
    const { cost_usd: _none, ...unpricedEnd } = completed("r1", T).data as Record<string, unknown>;
    given([
      asked("r1"), { ...completed("r1", T), data: unpricedEnd },
      asked("r2"), completed("r2", T, { cost_usd: 0.5 }),
      asked("r3"), { ...completed("r3", T), data: { ...unpricedEnd, request: "r3", usage: { input_tokens: 0, output_tokens: 0 } } },
    ]).when(usageRollup).then((state) => {
      expect(only(state)).toMatchObject({ requests: 3, cost_usd: 0.5, unpriced: 1, input_tokens: 200 });
    });
  });

  test("failure reasons past the cap are counted under (other)", () => {
    const events: EventRecord[] = [];
    for (let i = 0; i <= MAX_REASONS + 2; i++) {
      events.push(asked(`r${i}`), event(RequestFailed, { request: `r${i}`, status: 502, reason: `reason_${i}`, message: "x", attempts: 0, total_ms: 1 }, T));
    }
    given(events).when(usageRollup).then((state) => {
      const errors = only(state).errors;
      expect(Object.keys(errors)).toHaveLength(MAX_REASONS + 1);
      expect(errors[OTHER]).toBe(3);
    });
  });

  test("hours older than the retention behind the newest are dropped, and a late end for one is not counted", () => {
    const newest = T + RETAIN_HOURS * HOUR_MS;
    given([
      asked("r1"), completed("r1", T),
      asked("r2"), completed("r2", T + HOUR_MS),
      asked("r3"), completed("r3", newest),
      asked("r4"), completed("r4", T + 10),
    ]).when(usageRollup).then((state) => {
      expect(state.hours).toEqual([T + HOUR_MS, newest]);
      expect(state.keptFrom).toBe(T + HOUR_MS);
      expect(state.size).toBe(2);
      expect(state.dropped).toBe(2);
    });
  });

  test("past the bucket cap the oldest hours go first", () => {
    const events: EventRecord[] = [];
    const perHour = 100;
    const hours = MAX_BUCKETS / perHour + 2;
    for (let h = 0; h < hours; h++) {
      for (let c = 0; c < perHour; c++) {
        const id = `r${h}-${c}`;
        events.push(asked(id, `key_${c}`), completed(id, T + h * HOUR_MS));
      }
    }
    given(events).when(usageRollup).then((state) => {
      expect(state.size).toBeLessThanOrEqual(MAX_BUCKETS);
      expect(state.size).toBe(Object.keys(state.buckets).length);
      // Each new hour past the cap pushes out the oldest one.
      expect(state.hours[0]).toBe(T + 2 * HOUR_MS);
      expect(state.hours.at(-1)).toBe(T + (hours - 1) * HOUR_MS);
      expect(state.dropped).toBe(2 * perHour);
    });
  });

  test("an hour holds at most MAX_KEYS_PER_HOUR keys; the rest sum under (other)", () => {
    const events: EventRecord[] = [];
    for (let c = 0; c < MAX_KEYS_PER_HOUR + 5; c++) events.push(asked(`r${c}`, `key_${c}`), completed(`r${c}`, T));
    given(events).when(usageRollup).then((state) => {
      expect(state.size).toBe(MAX_KEYS_PER_HOUR + 1);
      const other = Object.values(state.buckets).find((b) => b.caller === OTHER)!;
      expect(other).toMatchObject({ provider: OTHER, model: OTHER, route: OTHER, requests: 5 });
    });
  });

  test("requests that never end are forgotten oldest first past the cap", () => {
    const events: EventRecord[] = [];
    for (let i = 0; i < MAX_PENDING + 3; i++) events.push(asked(`r${i}`, "key_a"));
    events.push(completed("r0", T), completed(`r${MAX_PENDING + 2}`, T));
    given(events).when(usageRollup).then((state) => {
      expect(state.pendingCount).toBe(MAX_PENDING - 1);
      expect(Object.keys(state.pending)).toHaveLength(MAX_PENDING - 1);
      expect(state.arrivals.length).toBeLessThanOrEqual(2 * MAX_PENDING);
      // r0 was forgotten: its end has no caller; the newest kept its caller.
      expect(Object.values(state.buckets).map((b) => [b.caller, b.requests]).sort()).toEqual([["", 1], ["key_a", 1]]);
    });
  });
});

describe("latency histograms", () => {
  test("percentiles are within 4.5% of the exact nearest-rank value, and merged bins give the merged percentile", () => {
    // A deterministic spread over five decades (1 ms .. 100 s).
    const values = Array.from({ length: 5000 }, (_, i) => 10 ** (((i * 7919) % 5000) / 1000));
    const a = emptyLatency();
    const b = emptyLatency();
    values.forEach((v, i) => addLatency(i % 2 ? a : b, v));
    const merged = emptyLatency();
    mergeLatency(merged, a);
    mergeLatency(merged, b);
    const sorted = [...values].sort((x, y) => x - y);
    const bound = 2 ** (1 / (2 * BINS_PER_DOUBLING)) - 1;
    expect(bound).toBeLessThan(0.045);
    for (const q of [0.01, 0.5, 0.9, 0.99, 1]) {
      const exact = sorted[Math.ceil(q * sorted.length) - 1]!;
      const read = percentile(merged, q)!;
      expect(Math.abs(read - exact) / exact).toBeLessThanOrEqual(bound);
    }
    expect(merged).toMatchObject({ count: 5000, min: sorted[0], max: sorted.at(-1) });
  });

  test("one sample reads back exactly (clamped to min and max); sub-millisecond values and empties", () => {
    const one = emptyLatency();
    addLatency(one, 137);
    expect(percentile(one, 0.5)).toBe(137);
    const tiny = emptyLatency();
    addLatency(tiny, 0);
    addLatency(tiny, 0.4);
    expect(percentile(tiny, 0.99)).toBe(0.4);
    expect(percentile(emptyLatency(), 0.5)).toBeNull();
  });

  test("bins are kept sparse and in order", () => {
    const l = emptyLatency();
    for (const v of [1000, 1, 1000, 10]) addLatency(l, v);
    const bins = l.bins.filter((_, i) => i % 2 === 0);
    expect(bins).toEqual([...bins].sort((x, y) => x - y));
    expect(l.bins.filter((_, i) => i % 2 === 1)).toEqual([1, 1, 2]);
  });
});

describe("usage rollup over a real gateway's log", () => {
  const open: Array<{ stop(): Promise<void> } | TestGateway> = [];
  afterEach(async () => {
    for (const thing of open.splice(0).reverse()) await ("close" in thing ? thing.close() : thing.stop());
  });

  test("rebuilding from event 1 equals the live state", async () => {
    let n = 0;
    const up: FakeUpstream = startFakeUpstream((seen) => {
      n += 1;
      if (n % 4 === 0) return Response.json({ error: { message: "boom", type: "server_error" } }, { status: 500 });
      return Response.json(completion("ok", String(seen.json.model), { prompt_tokens: 10 + n, completion_tokens: n }));
    });
    open.push(up);
    const g = await startGateway(`
providers:
  - id: p
    kind: openai
    base_url: "${up.url}"
    api_key: sk-test-provider-key-123456
    models: [m, priced]
    model_info: { priced: { price: { input: 1, output: 2 } } }
routes:
  - { name: smart, targets: [p/priced, p/m] }
`);
    open.push(g);
    const one = await createKey(g.gw.log, { name: "one" }, "cli");
    const two = await createKey(g.gw.log, { name: "two" }, "cli");
    for (let i = 0; i < 12; i++) {
      const key = i % 2 ? one.secret : two.secret;
      await fetch(`${g.url}/v1/chat/completions`, {
        method: "POST", headers: { authorization: `Bearer ${key}` },
        body: JSON.stringify({ model: ["smart", "m", "priced"][i % 3], messages: [{ role: "user", content: `hi ${i}` }] }),
      });
    }
    await fetch(`${g.url}/v1/chat/completions`, { method: "POST", body: "{}" }); // no key: refused
    const live = g.gw.projections.get("usageRollup");
    const rebuilt = fold(usageRollup, g.gw.log.all());
    expect(rebuilt).toEqual(live);
    expect(Object.values(live.buckets).reduce((sum, b) => sum + b.requests, 0)).toBe(13);
    expect(new Set(Object.values(live.buckets).map((b) => b.caller))).toEqual(new Set([one.id, two.id, ""]));
  });
});
