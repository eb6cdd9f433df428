import { describe, expect, test } from "vitest";
import { AttemptFailed, AttemptStarted, AttemptSucceeded, RequestFailed } from "../../events/catalog/request.ts";
import { availability, EJECT_BASE_MS, health, PROBE_EVERY_MS } from "../../events/projections/health.ts";
import { event, given } from "../support/given.ts";

// Upstream health is folded from attempt outcomes alone, so a restart or a replay rebuilds the
// same cooldowns and ejections. Time comes from the events.

const T = 1_700_000_000_000;
const A = { target: "anthropic/claude", provider: "anthropic" };

const started = (at: number) => event(AttemptStarted, { request: "r", attempt: 1, ...A, model: "claude", passthrough: false }, at);
const failed = (at: number, reason: string, status: number, retryAfter?: number) =>
  event(AttemptFailed, { request: "r", attempt: 1, ...A, status, reason, message: "x", ms: 5, fallback: true, ...(retryAfter !== undefined ? { retry_after: retryAfter } : {}) }, at);
const ok = (at: number, ttfb = 100) => event(AttemptSucceeded, { request: "r", attempt: 1, ...A, status: 200, ttfb_ms: ttfb }, at);

describe("health projection", () => {
  test("counts per target and per provider; a success clears failures in a row", () => {
    given([failed(T, "upstream_error", 500), failed(T + 1, "upstream_error", 500), ok(T + 2)]).when(health).then((state) => {
      expect(state.targets["anthropic/claude"]).toMatchObject({ successes: 1, failures: 2, consecutiveFailures: 0, lastSuccessAt: T + 2, lastFailureReason: "upstream_error", latencyMs: 100 });
      // A 5xx is the model's trouble: the provider record only sees the success.
      expect(state.providers.anthropic).toMatchObject({ successes: 1, failures: 0 });
    });
  });

  test("a 429 with Retry-After cools the target until then, and it is skipped meanwhile", () => {
    given([failed(T, "rate_limited", 429, 2)]).when(health).then((state) => {
      expect(state.targets["anthropic/claude"]!.coolUntil).toBe(T + 2000);
      expect(availability(state, A.target, A.provider, T + 1999)).toEqual({ ok: false, reason: "cooldown", until: T + 2000 });
      expect(availability(state, A.target, A.provider, T + 2000)).toEqual({ ok: true });
    });
  });

  test("429s without Retry-After back off exponentially, with a jitter drawn from the event, not a clock", () => {
    const events = [failed(T, "rate_limited", 429), failed(T + 10, "rate_limited", 429), failed(T + 20, "rate_limited", 429)];
    given(events).when(health).then((state) => {
      const wait = state.targets["anthropic/claude"]!.coolUntil! - (T + 20);
      expect(wait).toBeGreaterThanOrEqual(4000 * 0.8);
      expect(wait).toBeLessThan(4000 * 1.2);
    });
    // The same events fold to the same state, every time.
    given(events).when(health).then((a) => given(events).when(health).then((b) => expect(a).toEqual(b)));
  });

  test("5 failures in a row eject for 30 s, with a probe every 10 s; the next failure ejects for longer; a success restores", () => {
    const five = [0, 1, 2, 3, 4].map((i) => failed(T + i, "overloaded", 529));
    given(five).when(health).then((state) => {
      const h = state.targets["anthropic/claude"]!;
      expect(h.ejections).toBe(1);
      expect(h.ejectedUntil).toBe(T + 4 + EJECT_BASE_MS);
      // The last attempt was at T+4 (no attempt.started in this story: lastAttemptAt unset), so a probe may go.
      expect(availability(state, A.target, A.provider, T + 5)).toEqual({ ok: true, probe: true });
    });
    given([...five, started(T + 5)]).when(health).then((state) => {
      expect(availability(state, A.target, A.provider, T + 6)).toMatchObject({ ok: false, reason: "ejected" });
      expect(availability(state, A.target, A.provider, T + 5 + PROBE_EVERY_MS)).toEqual({ ok: true, probe: true });
    });
    given([...five, started(T + 40_000), failed(T + 40_001, "overloaded", 529)]).when(health).then((state) => {
      expect(state.targets["anthropic/claude"]).toMatchObject({ ejections: 2, ejectedUntil: T + 40_001 + 2 * EJECT_BASE_MS });
    });
    given([...five, ok(T + 40_000)]).when(health).then((state) => {
      const h = state.targets["anthropic/claude"]!;
      expect(h).toMatchObject({ ejections: 0, consecutiveFailures: 0 });
      expect(h.ejectedUntil).toBeUndefined();
    });
  });

  test("an unreachable provider is out as a whole: every model of it", () => {
    const five = [0, 1, 2, 3, 4].map((i) => failed(T + i, "upstream_unreachable", 0));
    given([...five, started(T + 5)]).when(health).then((state) => {
      expect(state.providers.anthropic!.ejections).toBe(1);
      expect(availability(state, "anthropic/other-model", "anthropic", T + 6)).toMatchObject({ ok: false, reason: "ejected" });
    });
  });

  test("a caller's own mistake says nothing of the upstream", () => {
    given([failed(T, "invalid_request", 400), failed(T + 1, "cancelled", 0)]).when(health).then((state) => {
      expect(state).toEqual({ providers: {}, targets: {} });
    });
  });

  test("a stream the upstream broke off after its first byte counts as the target's failure", () => {
    given([ok(T), event(RequestFailed, { request: "r", status: 502, reason: "upstream_error", message: "cut", attempts: 1, total_ms: 9, ...A, model: "claude" }, T + 9)])
      .when(health).then((state) => expect(state.targets["anthropic/claude"]).toMatchObject({ successes: 1, failures: 1, consecutiveFailures: 1 }));
  });

  test("time to first byte is a moving average", () => {
    given([ok(T, 100), ok(T + 1, 200)]).when(health).then((state) => expect(state.targets["anthropic/claude"]!.latencyMs).toBeCloseTo(130, 6));
  });
});
