import { describe, expect, test } from "vitest";
import { parseConfig } from "../../../core/config/load.ts";
import { decide, type RouteInput } from "../../../core/routing/decide.ts";
import { emptyRequest, type Request } from "../../../core/ir.ts";
import { AttemptFailed, AttemptSucceeded } from "../../../events/catalog/request.ts";
import { fold } from "../../../events/projections/projection.ts";
import { health, type HealthState } from "../../../events/projections/health.ts";
import type { Config } from "../../../schemas/config.ts";
import { event } from "../../support/given.ts";

// decide(request, state) → the order of targets and the record of why. Pure: the same config,
// health, time and request id always give the same decision, which is what replay relies on.

const T = 1_700_000_000_000;

function config(yaml: string): Config {
  const result = parseConfig(yaml, "sluice.yaml", {});
  if (!result.ok) throw new Error(result.error);
  return result.config;
}

const PROVIDERS = `providers:
  - { id: a, kind: openai, base_url: "http://127.0.0.1:1/v1", models: [m1, shared], model_info: { m1: { context: 1000, price: { input: 5, output: 15 } }, shared: { context: 100000 } } }
  - { id: b, kind: openai, base_url: "http://127.0.0.1:2/v1", models: [m2, shared], model_info: { m2: { context: 200000, price: { input: 1, output: 2 } } } }
  - { id: c, kind: openai, base_url: "http://127.0.0.1:3/v1", models: [m3], model_info: { m3: { price: { input: 3, output: 3 } } } }
`;
const route = (extra: string) => config(`${PROVIDERS}routes:\n  - { name: r, targets: [a/m1, b/m2, c/m3], ${extra} }\n`);
const input = (over: Partial<RouteInput> = {}): RouteInput => ({ id: "req_1", model: "r", inputTokens: 10, position: () => 0, ...over });
const calm = { health: { providers: {}, targets: {} } as HealthState, sticky: {}, now: T };
const orderOf = (cfg: Config, i: RouteInput = input(), state = calm) => {
  const d = decide(cfg, i, state);
  if (!d.ok) throw new Error(d.error.message);
  return d.decision.order;
};

describe("strategies", () => {
  test("priority keeps config order; a bare model goes to the providers listing it, in config order", () => {
    expect(orderOf(route("strategy: priority"))).toEqual(["a/m1", "b/m2", "c/m3"]);
    expect(orderOf(config(PROVIDERS), input({ model: "shared" }))).toEqual(["a/shared", "b/shared"]);
  });

  test("round-robin starts one further along at each decision", () => {
    const cfg = route("strategy: round-robin");
    expect([0, 1, 2, 3].map((n) => orderOf(cfg, input({ position: () => n }))[0])).toEqual(["a/m1", "b/m2", "c/m3", "a/m1"]);
  });

  test("random is seeded by the request id: the same id draws the same order, ids spread over targets", () => {
    const cfg = route("strategy: random");
    expect(orderOf(cfg, input({ id: "req_x" }))).toEqual(orderOf(cfg, input({ id: "req_x" })));
    const firsts = new Set(Array.from({ length: 60 }, (_, i) => orderOf(cfg, input({ id: `req_${i}` }))[0]));
    expect(firsts.size).toBe(3);
  });

  test("weighted draws in proportion to weight; weight 0 never goes first", () => {
    const cfg = config(`${PROVIDERS}routes:\n  - name: r\n    strategy: weighted\n    targets: [{ target: a/m1, weight: 3 }, { target: b/m2, weight: 1 }, { target: c/m3, weight: 0 }]\n`);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 400; i++) {
      const first = orderOf(cfg, input({ id: `req_${i}` }))[0]!;
      counts[first] = (counts[first] ?? 0) + 1;
    }
    expect(counts["c/m3"]).toBeUndefined();
    expect(counts["a/m1"]! / 400).toBeGreaterThan(0.65);
    expect(counts["a/m1"]! / 400).toBeLessThan(0.85);
  });

  test("least-latency: the fastest measured target first, an unmeasured one before all", () => {
    const ok = (target: string, ttfb: number) => event(AttemptSucceeded, { request: "x", attempt: 1, target, provider: target.split("/")[0]!, status: 200, ttfb_ms: ttfb }, T);
    const measured = fold(health, [ok("a/m1", 900), ok("b/m2", 100)]);
    expect(orderOf(route("strategy: least-latency"), input(), { ...calm, health: measured })).toEqual(["c/m3", "b/m2", "a/m1"]);
  });

  test("cost: cheapest expected answer first, unknown prices last", () => {
    expect(orderOf(route("strategy: cost"))).toEqual(["b/m2", "c/m3", "a/m1"]);
  });
});

describe("skips", () => {
  test("a prompt too long for a target's window skips it, with the reason on record", () => {
    const d = decide(route("strategy: priority"), input({ inputTokens: 5000 }), calm);
    expect(d.ok && d.decision.order).toEqual(["b/m2", "c/m3"]);
    expect(d.decision!.skipped).toEqual([{ target: "a/m1", reason: "context", detail: "~5000 tokens > 1000 window" }]);
  });

  test("a cooling target is skipped until its time; when all are cooling, a 429 with the soonest Retry-After", () => {
    const limited = (target: string, seconds: number) => event(AttemptFailed, {
      request: "x", attempt: 1, target, provider: target.split("/")[0]!, status: 429, reason: "rate_limited", message: "slow down", ms: 1, fallback: true, retry_after: seconds,
    }, T);
    const cfg = config(`${PROVIDERS}routes:\n  - { name: r, targets: [a/m1, b/m2] }\n`);
    const state = { ...calm, health: fold(health, [limited("a/m1", 30), limited("b/m2", 5)]) };
    const d = decide(cfg, input(), state);
    expect(d.ok).toBe(false);
    if (d.ok) return;
    expect(d.error).toMatchObject({ kind: "rate_limited", retryAfter: 5 });
    expect(d.decision!.skipped.map((s) => [s.target, s.reason, s.until])).toEqual([["a/m1", "cooldown", T + 30_000], ["b/m2", "cooldown", T + 5000]]);
    expect(orderOf(cfg, input(), { ...state, now: T + 5000 })).toEqual(["b/m2"]);
  });

  test("too long for every target: a 400 context_length_exceeded naming the windows", () => {
    const d = decide(config(`${PROVIDERS}routes:\n  - { name: r, targets: [a/m1] }\n`), input({ inputTokens: 2000 }), calm);
    expect(!d.ok && d.error).toMatchObject({ kind: "invalid_request", code: "context_length_exceeded" });
  });

  test("an unknown model: a 404 and no decision", () => {
    const d = decide(route(""), input({ model: "nope" }), calm);
    expect(d.ok).toBe(false);
    expect(!d.ok && d.error.kind).toBe("model_not_found");
    expect(d.decision).toBeUndefined();
  });
});

describe("aliases, tiers and affinity", () => {
  test("an alias stands for a route or a model and is on record", () => {
    const cfg = config(`${PROVIDERS}routes:\n  - { name: r, targets: [c/m3] }\naliases: { fast: r, cheap: b/m2 }\n`);
    const d = decide(cfg, input({ model: "fast" }), calm);
    expect(d.ok && d.decision).toMatchObject({ route: "r", alias: "fast", order: ["c/m3"] });
    expect(orderOf(cfg, input({ model: "cheap" }))).toEqual(["b/m2"]);
  });

  const text = (s: string): Request => ({ ...emptyRequest("r"), messages: [{ role: "user", content: [{ type: "text", text: s }] }] });

  test("a smart route sends each tier to its own targets and records tier and score", () => {
    const cfg = route("tiers: { simple: [c/m3], reasoning: [b/m2] }");
    const simple = decide(cfg, input({ ir: text("hi there") }), calm);
    expect(simple.ok && simple.decision).toMatchObject({ tier: "simple", order: ["c/m3"] });
    expect(typeof simple.decision!.score).toBe("number");
    const hard = decide(cfg, input({ ir: { ...text("Prove that there are infinitely many primes, step by step."), reasoningEffort: "high" } }), calm);
    expect(hard.ok && hard.decision).toMatchObject({ tier: "reasoning", order: ["b/m2"] });
    // Replay has no request body: the recorded tier stands in.
    expect(orderOf(cfg, input({ recorded: { tier: "simple" } }))).toEqual(["c/m3"]);
  });

  test("affinity puts the target that last answered the same prefix first, while it is well", () => {
    const cfg = route("affinity: true");
    const ir = text("a long shared system context");
    const first = decide(cfg, input({ ir }), calm);
    const digest = first.decision!.affinity!;
    expect(digest).toMatch(/^[0-9a-f]+$/);
    const d = decide(cfg, input({ ir }), { ...calm, sticky: { [digest]: "c/m3" } });
    expect(d.ok && d.decision).toMatchObject({ sticky: "c/m3", order: ["c/m3", "a/m1", "b/m2"] });
  });
});
