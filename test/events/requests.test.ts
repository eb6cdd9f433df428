import { describe, expect, test } from "vitest";
import {
  AttemptFailed, AttemptStarted, AttemptSucceeded, RequestCancelled, RequestCompleted, RequestFailed, RequestReceived,
} from "../../events/catalog/request.ts";
import { RouteDecided } from "../../events/catalog/routing.ts";
import { ServerStarted } from "../../events/catalog/server.ts";
import type { EventRecord } from "../../events/define.ts";
import { fold } from "../../events/projections/projection.ts";
import { MAX_REQUESTS, matches, recent, requests, requestsProjection, type RequestsState } from "../../events/projections/requests.ts";
import { event, given } from "../support/given.ts";

const T = 1_700_000_000_000;
const received = (request: string, at: number, extra: Partial<{ model: string; stream: boolean; caller: string }> = {}) =>
  event(RequestReceived, { request, dialect: "openai-chat", endpoint: "/v1/chat/completions", model: "smart", stream: false, candidates: ["a/m", "b/m"], ...extra }, at);
const started = (request: string, attempt: number, target: string, at: number) =>
  event(AttemptStarted, { request, attempt, target, provider: target.split("/")[0]!, model: "m", passthrough: true }, at);
const completed = (request: string, target: string, at: number, extra: Record<string, unknown> = {}) =>
  event(RequestCompleted, {
    request, target, provider: target.split("/")[0]!, model: "m", status: 200, attempts: 1, stream: false, ttfb_ms: 5, total_ms: 9,
    usage: { input_tokens: 10, output_tokens: 2 }, cost_usd: 0.001, ...extra,
  }, at);
const serverStarted = (at: number) => event(ServerStarted, { host: "127.0.0.1", port: 1, version: "0", pid: 1, durability: "normal" }, at);

describe("requests projection", () => {
  test("one summary per request: route, attempts, fallbacks, the target that answered, status, timings, usage", () => {
    given([
      received("r1", T, { caller: "key_1" }),
      event(RouteDecided, { request: "r1", route: "smart", strategy: "priority", input_tokens: 3, order: ["a/m", "b/m"], skipped: [] }, T + 1),
      started("r1", 1, "a/m", T + 2),
      event(AttemptFailed, { request: "r1", attempt: 1, target: "a/m", provider: "a", status: 503, reason: "overloaded", message: "busy", ms: 4, fallback: true }, T + 6),
      started("r1", 2, "b/m", T + 6),
      event(AttemptSucceeded, { request: "r1", attempt: 2, target: "b/m", provider: "b", status: 200, ttfb_ms: 3 }, T + 9),
      completed("r1", "b/m", T + 12, { attempts: 2, total_ms: 12, ttfb_ms: 9 }),
      received("r2", T + 20, { stream: true }),
      started("r2", 1, "a/m", T + 21),
      event(AttemptFailed, { request: "r2", attempt: 1, target: "a/m", provider: "a", status: 429, reason: "rate_limited", message: "slow", ms: 1, fallback: false, retry_ms: 100 }, T + 22),
      started("r2", 2, "a/m", T + 122),
      event(AttemptFailed, { request: "r2", attempt: 2, target: "a/m", provider: "a", status: 429, reason: "rate_limited", message: "slow", ms: 1, fallback: false, stopped: "no-more-targets" }, T + 123),
      event(RequestFailed, { request: "r2", status: 429, reason: "rate_limited", message: "slow", attempts: 2, total_ms: 103 }, T + 123),
      received("r3", T + 30, { stream: true }),
      started("r3", 1, "a/m", T + 31),
      event(RequestCancelled, { request: "r3", status: 499, attempts: 1, total_ms: 50, target: "a/m", provider: "a", model: "m", streamed_chars: 12 }, T + 80),
      received("r4", T + 40),
    ]).when(requests).then((state) => {
      expect(state.rows.map((r) => [r.id, r.outcome, r.status, r.target, r.attempts, r.fallbacks, r.retries])).toEqual([
        ["r1", "completed", 200, "b/m", 2, 1, 0],
        ["r2", "failed", 429, "a/m", 2, 0, 1],
        ["r3", "cancelled", 499, "a/m", 1, 0, 0],
        ["r4", "in_flight", undefined, undefined, 0, 0, 0],
      ]);
      expect(state.rows[0]).toMatchObject({
        seq: 1, at: T, caller: "key_1", route: "smart", strategy: "priority", provider: "b", ttfb_ms: 9, total_ms: 12,
        usage: { input_tokens: 10, output_tokens: 2 }, cost_usd: 0.001,
      });
      expect(state.rows[1]).toMatchObject({ reason: "rate_limited", stream: true });
    });
  });

  test("a server start marks what the last run left open as interrupted; a request after it is in flight", () => {
    given([received("r1", T), started("r1", 1, "a/m", T + 1), serverStarted(T + 100), received("r2", T + 200)]).when(requests).then((state) => {
      expect(state.rows.map((r) => [r.id, r.outcome])).toEqual([["r1", "interrupted"], ["r2", "in_flight"]]);
    });
  });

  test("an end with no arrival on record (a failure inside the gateway) still makes a row", () => {
    given([event(RequestFailed, { request: "r9", status: 500, reason: "internal", message: "internal error", attempts: 0, total_ms: 3 }, T + 10)])
      .when(requests).then((state) => {
        expect(state.rows).toEqual([expect.objectContaining({ id: "r9", at: T + 7, outcome: "failed", status: 500, seq: 1 })]);
      });
  });

  test("bounded: the oldest requests leave in batches, and an evicted request's late end is not a new row", () => {
    const events: EventRecord[] = [received("old", T)];
    for (let i = 0; i < 30; i++) events.push(received(`r${i}`, T + 10 + i), completed(`r${i}`, "a/m", T + 10 + i));
    events.push(completed("old", "a/m", T + 100, { total_ms: 100 }));
    given(events).when(requestsProjection(10)).then((state) => {
      expect(state.rows.length).toBeLessThanOrEqual(11);
      expect(state.rows.length).toBeGreaterThanOrEqual(10);
      expect(state.rows.at(-1)!.id).toBe("r29");
      expect(state.byId.size).toBe(state.rows.length);
      expect(state.evicted + state.rows.length).toBe(31);
      expect(state.byId.has("old")).toBe(false);
    });
  });

  test("recent: newest first, filtered, and a cursor that stays put while requests arrive", () => {
    const events: EventRecord[] = [];
    for (let i = 0; i < 10; i++) events.push(received(`r${i}`, T + i, { model: i % 2 ? "odd" : "even" }));
    const numbered = events.map((e, i) => ({ ...e, seq: i + 1 }));
    const state = fold(requests, numbered);
    const first = recent(state, { model: "odd" }, undefined, 3);
    expect(first.rows.map((r) => r.id)).toEqual(["r9", "r7", "r5"]);
    // New requests arrive between pages: the next page goes on where the first stopped.
    requests.evolve(state, { ...received("r10", T + 10, { model: "odd" }), seq: 11 });
    const second = recent(state, { model: "odd" }, first.before, 3);
    expect(second.rows.map((r) => r.id)).toEqual(["r3", "r1"]);
    expect(second.before).toBeUndefined();
    expect(second.older).toBe(false);
  });

  test("status filters: exact, class, and any error", () => {
    const state = fold(requests, [
      received("a", T), completed("a", "x/m", T + 1),
      received("b", T + 2), event(RequestFailed, { request: "b", status: 502, reason: "upstream_error", message: "x", attempts: 1, total_ms: 1 }, T + 3),
      received("c", T + 4), serverStarted(T + 5),
    ].map((e, i) => ({ ...e, seq: i + 1 })));
    const ids = (filter: Parameters<typeof matches>[0]) => state.rows.filter((r) => matches(filter, r)).map((r) => r.id);
    expect(ids({ status: 200 })).toEqual(["a"]);
    expect(ids({ status: [500, 599] })).toEqual(["b"]);
    expect(ids({ status: "error" })).toEqual(["b", "c"]);
    expect(ids({ outcome: "interrupted" })).toEqual(["c"]);
    expect(ids({ since: T + 2, until: T + 3 })).toEqual(["b"]);
  });

  test("micro-benchmark: a filtered page over the kept requests (100 000 folded)", () => {
    const t0 = performance.now();
    const state: RequestsState = requests.initial();
    let seq = 0;
    const targets = ["a/m", "b/m", "c/m", "d/m"];
    for (let i = 0; i < 100_000; i++) {
      const id = `req_${i}`;
      const target = targets[i % 4]!;
      requests.evolve(state, { ...received(id, T + i, { model: i % 10 === 0 ? "rare" : "smart", caller: `key_${i % 7}` }), seq: ++seq });
      requests.evolve(state, { ...started(id, 1, target, T + i), seq: ++seq });
      if (i % 50 === 0) requests.evolve(state, { ...event(RequestFailed, { request: id, status: 502, reason: "upstream_error", message: "x", attempts: 1, total_ms: 3 }, T + i), seq: ++seq });
      else requests.evolve(state, { ...completed(id, target, T + i), seq: ++seq });
    }
    const foldMs = performance.now() - t0;
    expect(state.rows.length).toBeLessThanOrEqual(MAX_REQUESTS * 1.1);
    const time = (filter: Parameters<typeof recent>[1], before?: number) => {
      const start = performance.now();
      let page;
      for (let i = 0; i < 20; i++) page = recent(state, filter, before, 50);
      return { ms: (performance.now() - start) / 20, rows: page!.rows.length };
    };
    const common = time({ model: "smart", target: "b/m" });
    const selective = time({ status: [500, 599], caller: "key_3", target: "c/m" });
    const none = time({ model: "nobody" });
    const deep = time({ model: "rare" }, state.rows[5_000]!.seq);
    // Informational (not asserted): a page reads memory only, at worst every row once.
    console.log(`requests projection: fold of 100k requests ${foldMs.toFixed(0)} ms; page of 50: common filter ${common.ms.toFixed(3)} ms, selective ${selective.ms.toFixed(3)} ms, no match (full scan) ${none.ms.toFixed(3)} ms, deep cursor ${deep.ms.toFixed(3)} ms`);
    expect(common.rows).toBe(50);
    expect(none.rows).toBe(0);
  });
});
