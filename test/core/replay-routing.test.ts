import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { explain, formatTrail } from "../../core/routing/explain.ts";
import { loadWhatIfConfig, requestContext } from "../../core/cli/replay.ts";
import { formatWhatIf, whatIf } from "../../core/cli/replay-whatif.ts";
import { StartError } from "../../core/boot.ts";
import { AttemptFailed, AttemptStarted, AttemptSucceeded, RequestCancelled, RequestReceived } from "../../events/catalog/request.ts";
import { RouteDecided, UpstreamEjected, UpstreamRestored } from "../../events/catalog/routing.ts";
import { EventLog } from "../../events/log.ts";
import { defaultBehaviour, startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import { startGateway, type TestGateway } from "../support/gateway.ts";
import { event } from "../support/given.ts";
import { ROOT, expectOneLine, sluice } from "../support/cli.ts";

// `sluice replay --request` explains a request's routing in plain words; `sluice replay
// --config` re-routes the recorded requests under another config over the recorded health.
// The logs here are real: a real gateway in front of fake upstreams that fail as scripted.



/** Provider `a` fails as `mode` says (model r always answers 429, Retry-After 30); `b` always answers. */
let mode: "fail" | "ok" = "fail";
let upstreamA: FakeUpstream;
let upstreamB: FakeUpstream;
let gateway: TestGateway;
let dataDir: string;
let logPath: string;
const ids: Record<string, string> = {};

const providers = (priced: boolean, keyA = "sk-a-test-key-123456") => `providers:
  - id: a
    kind: openai
    base_url: ${upstreamA.url}
    api_key: ${keyA}
    models: [m, r]${priced ? "\n    model_info: { m: { price: { input: 1, output: 2 } } }" : ""}
  - id: b
    kind: openai
    base_url: ${upstreamB.url}
    api_key: sk-b-test-key-123456
    models: [m]${priced ? "\n    model_info: { m: { price: { input: 10, output: 20 } } }" : ""}
`;

const RECORDED_ROUTES = `routes:
  - { name: smart, targets: [a/m, b/m] }
  - { name: solo, targets: [a/m] }
  - { name: limited, targets: [a/r, b/m] }
`;

function configFile(name: string, yaml: string): string {
  const path = join(gateway.dir, name);
  writeFileSync(path, yaml);
  return path;
}

function readLog<T>(use: (log: EventLog) => T): T {
  const log = EventLog.open(logPath, { readonly: true });
  try {
    return use(log);
  } finally {
    log.close();
  }
}

function trailOf(id: string): string {
  return readLog((log) => {
    const events = log.forRequest(id);
    return formatTrail(explain(events, requestContext(log, events)));
  });
}

function whatIfUnder(yaml: string, details?: string) {
  const config = loadWhatIfConfig(configFile(`whatif-${Bun.hash(yaml).toString(16)}.yaml`, yaml), {});
  return readLog((log) => whatIf(log.all(), config, details ? { details } : {}));
}

beforeAll(async () => {
  upstreamA = startFakeUpstream((seen, request) => {
    if ((seen.json as { model?: string }).model === "r") {
      return Response.json({ error: { message: "slow down", type: "rate_limit_error" } }, { status: 429, headers: { "retry-after": "30" } });
    }
    if (mode === "fail") return Response.json({ error: { message: "upstream exploded", type: "server_error" } }, { status: 500 });
    return defaultBehaviour(seen, request);
  });
  upstreamB = startFakeUpstream();
  gateway = await startGateway(providers(false) + RECORDED_ROUTES);
  dataDir = join(gateway.dir, "data");
  logPath = join(dataDir, "events.db");
  const ask = async (name: string, model: string) => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST", body: JSON.stringify({ model, messages: [{ role: "user", content: `question ${name}` }] }),
    });
    await response.text();
    ids[name] = response.headers.get("x-sluice-request-id")!;
    return response.status;
  };
  try {
    mode = "fail";
    expect(await ask("s1", "smart")).toBe(200); // a/m 500 → b/m answers
    expect(await ask("s2", "smart")).toBe(200);
    expect(await ask("f1", "solo")).toBeGreaterThanOrEqual(500); // a/m 500, nothing to fall back to
    mode = "ok";
    expect(await ask("s3", "smart")).toBe(200); // a/m answers
    expect(await ask("s4", "smart")).toBe(200);
    expect(await ask("l1", "limited")).toBe(200); // a/r 429 Retry-After 30 → b/m
    expect(await ask("l2", "limited")).toBe(200); // a/r cooling: skipped → b/m
    expect(await ask("n1", "nope")).toBe(404); // unknown model: refused before routing
  } finally {
    await gateway.stop("test");
  }
}, 30_000);

afterAll(async () => {
  await gateway?.close();
  await upstreamA?.stop();
  await upstreamB?.stop();
});

describe("the decision trail (replay --request)", () => {
  test("a fallback, in plain words", () => {
    const text = trailOf(ids.s1!);
    const lines = text.split("\n");
    expect(lines[0]).toBe(`request ${ids.s1} asked for "smart" (route smart, strategy priority; ~${lines[0]!.match(/~(\d+)/)![1]} input tokens)`);
    expect(lines[1]).toBe("  plan: a/m, then b/m");
    expect(lines[2]).toMatch(/^ {2}tried a\/m: 500 upstream_error "[^"]*" after \d+ ms; fell back$/);
    expect(lines[3]).toMatch(/^ {2}tried b\/m: ok \(200\), first byte after \d+ ms$/);
    expect(lines[4]).toMatch(/^answered 200 by b\/m in \d+ ms, 2 attempts, 11 in \/ 7 out tokens$/);
    expect(lines).toHaveLength(5);
  });

  test("a skipped target with its cooldown and why; a 429 with Retry-After; a failure with nothing left; a refusal", () => {
    const limited = trailOf(ids.l1!);
    expect(limited).toMatch(/tried a\/r: 429 rate_limited "[^"]*" after \d+ ms, Retry-After 30 s; fell back/);
    const skipped = trailOf(ids.l2!);
    expect(skipped).toMatch(/\n {2}plan: b\/m\n {2}skipped a\/r: cooling down until \d\d:\d\d:\d\d UTC \((29|30)\.\d s left\); after a 429\n {2}tried b\/m: ok/);
    const failed = trailOf(ids.f1!);
    expect(failed).toMatch(/tried a\/m: 500 upstream_error .* after \d+ ms; stopped: no more targets\nfailed 5\d\d upstream_error after 1 attempt in \d+ ms: /);
    const refused = trailOf(ids.n1!);
    expect(refused).toMatch(/^request req_\w+ asked for "nope" \(not routed: refused before a decision\)\nfailed 404 model_not_found after 0 attempts/);
  });

  test("probes, affinity, context skips, ejections during the request, cancelled and interrupted requests", () => {
    const T = Date.UTC(2025, 0, 1, 12, 0, 0);
    const r = "req_synthetic";
    const events = [
      event(RequestReceived, { request: r, dialect: "openai-chat", endpoint: "/v1/chat/completions", model: "fast", stream: true, candidates: ["x/big", "y/m"] }, T, 1),
      event(RouteDecided, {
        request: r, route: "smart", alias: "fast", strategy: "priority", tier: "complex", score: 7, affinity: "abc123", sticky: "x/big",
        input_tokens: 5000, max_tokens: 100, order: ["x/big", "y/m"], probes: ["y/m"],
        skipped: [{ target: "z/tiny", reason: "context", detail: "~5000 tokens > 4096 window" }, { target: "w/m", reason: "ejected", until: T + 31_000 }],
      }, T + 1, 2),
      event(AttemptStarted, { request: r, attempt: 1, target: "x/big", provider: "x", model: "big", passthrough: false }, T + 2, 3),
      event(AttemptFailed, { request: r, attempt: 1, target: "x/big", provider: "x", status: 0, reason: "upstream_unreachable", message: "connection refused", ms: 3, fallback: false, retry_ms: 250 }, T + 5, 4),
      event(UpstreamEjected, { target: "x/big", until: T + 60_000, ejections: 2, reason: "upstream_unreachable" }, T + 6, 5),
      event(AttemptStarted, { request: r, attempt: 2, target: "y/m", provider: "y", model: "m", passthrough: true }, T + 300, 6),
      event(AttemptSucceeded, { request: r, attempt: 2, target: "y/m", provider: "y", status: 200, ttfb_ms: 1900 }, T + 2200, 7),
      event(UpstreamRestored, { target: "y/m" }, T + 2201, 8),
      event(RequestCancelled, { request: r, status: 499, attempts: 2, total_ms: 2500, target: "y/m", provider: "y", model: "m", streamed_chars: 42 }, T + 2500, 9),
    ];
    const health = { providers: {}, targets: { "w/m": { successes: 0, failures: 5, consecutiveFailures: 5, consecutiveRateLimits: 0, ejections: 1, ejectedUntil: T + 31_000, lastFailureStatus: 500, lastFailureReason: "upstream_error" } } };
    const text = formatTrail(explain(events.filter((e) => !e.type.startsWith("upstream.")), { healthAtDecision: health, notes: events.filter((e) => e.type.startsWith("upstream.")) }));
    expect(text.split("\n")).toEqual([
      `request ${r} asked for "fast" (alias fast, route smart, tier complex (score 7), strategy priority; ~5000 input tokens, at most 100 output)`,
      "  plan: x/big, then y/m",
      "  affinity: conversation abc123 stays on x/big, which answered it before",
      "  skipped z/tiny: prompt too long for its context window (~5000 tokens > 4096 window)",
      "  skipped w/m: ejected until 12:00:31 UTC (31.0 s left); 5 failures in a row, last 500 upstream_error; ejection ×1",
      "  probe: y/m is ejected, but one probe may go through (one every 10 s)",
      `  tried x/big: no response (upstream_unreachable) "connection refused" after 3 ms; retried the same target after 250 ms`,
      "  meanwhile x/big was ejected until 12:01:00 UTC (ejection ×2, upstream_unreachable)",
      "  tried y/m: ok (200), first byte after 1.9 s",
      "  meanwhile y/m was restored (a success cleared its failures)",
      "cancelled: the client left (499) after 2 attempts in 2.5 s, while y/m was answering (42 characters sent)",
    ]);
    const interrupted = formatTrail(explain(events.slice(0, 3)));
    expect(interrupted).toContain("  tried x/big: no outcome on record (the server stopped during the attempt)");
    expect(interrupted.split("\n").at(-1)).toBe("interrupted: no terminal event on record (the server stopped mid-request; last event #3)");
  });

  test("the real CLI: the trail in plain words, then the raw timeline; --json has request, trail and events", async () => {
    const text = await sluice(["replay", "--data", dataDir, "--request", ids.s1!]);
    expect(text.code).toBe(0);
    const [trail, raw] = text.stdout.trimEnd().split("\n\n");
    expect(trail).toMatch(/tried a\/m: 500 upstream_error .* fell back\n {2}tried b\/m: ok/);
    expect(raw!.split("\n").map((l) => l.split(/\s+/)[3])).toEqual(
      ["request.received", "route.decided", "attempt.started", "attempt.failed", "attempt.started", "attempt.succeeded", "request.completed"],
    );
    const json = JSON.parse((await sluice(["replay", "--data", dataDir, "--request", ids.s1!, "--json"])).stdout);
    expect(json.request).toBe(ids.s1);
    expect(json.events).toHaveLength(7);
    expect(json.trail.map((s: { step: string }) => s.step)).toEqual(["asked", "routed", "attempt", "attempt", "outcome"]);
    expect(json.trail[2]).toMatchObject({ target: "a/m", result: "failed", status: 500, reason: "upstream_error", then: "fell back" });
    expect(json.trail[3]).toMatchObject({ target: "b/m", result: "ok", status: 200 });
    expect(json.trail[4]).toMatchObject({ outcome: "completed", target: "b/m", attempts: 2, usage: { input_tokens: 11, output_tokens: 7 } });
  }, 30_000);
});

describe("what-if under another config (replay --config)", () => {
  // b/m first everywhere; the limited route now starts at a/x (never tried, no price); an unset ${VAR}.
  let B_FIRST = "";
  beforeAll(() => {
    B_FIRST = `${providers(true, "${SLUICE_TEST_NEVER_SET_KEY}")}routes:
  - { name: smart, targets: [b/m, a/m] }
  - { name: solo, targets: [b/m] }
  - { name: limited, targets: [a/x, b/m] }
`;
  });

  test("the same config reproduces every recorded decision, the recorded cooldown included", () => {
    const report = whatIfUnder(providers(false) + RECORDED_ROUTES);
    expect(report).toMatchObject({ requests: 8, rerouted: 7, unrouted: 1, unchanged: 7, movedRequests: 0, moved: [], noTarget: 0 });
    expect(report.recorded).toEqual({ completed: 6, failed: 2, cancelled: 0, interrupted: 0 });
    expect(report.failures).toMatchObject({ avoided: 0, added: 0, stillFailing: 1 });
  });

  test("b/m first: requests move from a/m to b/m, the failure is avoided, the cost difference is right", () => {
    const report = whatIfUnder(B_FIRST);
    expect(report.moved).toEqual([{ from: "a/m", to: "b/m", requests: 5 }, { from: "a/r", to: "a/x", requests: 1 }, { from: "b/m", to: "a/x", requests: 1 }]);
    expect(report.unchanged).toBe(0);
    expect(report.failures).toMatchObject({ avoided: 1, added: 0, stillFailing: 0, avoidedRequests: [ids.f1] });
    // s1 and s2 were served by b/m and stay there (0); s3 and s4 move from a/m ($1/$2 per M) to
    // b/m ($10/$20 per M) for 11 in / 7 out tokens; l1 and l2 would go to a/x, which has no price.
    const perRequest = (11 * 10 + 7 * 20 - (11 * 1 + 7 * 2)) / 1e6;
    expect(report.cost.compared).toBe(4);
    expect(report.cost.skippedUnpriced).toBe(2);
    expect(report.cost.differenceUsd).toBeCloseTo(2 * perRequest, 12);
    expect(report.cost.differenceUsd).toBeGreaterThan(0);
    expect(report.cost.recordedUsd).toBeCloseTo((2 * 250 + 2 * 25) / 1e6, 12);
    expect(report.cost.newUsd).toBeCloseTo(4 * 250 / 1e6, 12);
    const text = formatWhatIf(report, { config: "b-first.yaml", log: logPath });
    expect(text).toMatch(/\n {2}a\/m\s+b\/m\s+5\n/);
    expect(text).toContain("failures   1 avoided, 0 added, 0 still failing");
    expect(text).toContain("(+$0.000450)");
  });

  test("cheaper first target: a negative difference", () => {
    const yaml = `${providers(true)}routes:
  - { name: smart, targets: [a/m, b/m] }
  - { name: solo, targets: [a/m] }
  - { name: limited, targets: [a/m, b/m] }
`;
    const report = whatIfUnder(yaml);
    // l1 and l2 (served by b/m) would start at a/m instead: 225 µ$ cheaper each.
    expect(report.moved).toEqual([{ from: "a/r", to: "a/m", requests: 1 }, { from: "b/m", to: "a/m", requests: 1 }]);
    expect(report.cost.differenceUsd).toBeCloseTo(-2 * 225 / 1e6, 12);
  });

  test("fewer targets: a request that needed its fallback would fail", () => {
    const report = whatIfUnder(`${providers(false)}routes:
  - { name: smart, targets: [a/m] }
  - { name: solo, targets: [a/m] }
  - { name: limited, targets: [a/r, b/m] }
`);
    expect(report.failures).toMatchObject({ added: 2, addedBy: { unknownModel: 0, noTarget: 0, failingTargets: 2 } });
    expect(new Set(report.failures.addedRequests)).toEqual(new Set([ids.s1, ids.s2]));
  });

  test("a config without the routes: unknown-model requests", () => {
    const report = whatIfUnder(`${providers(false)}routes:\n  - { name: limited, targets: [a/r, b/m] }\n`);
    expect(report.unknownModel).toEqual({ requests: 5, models: { smart: 4, solo: 1 } });
    expect(report.failures.addedBy.unknownModel).toBe(4);
    expect(formatWhatIf(report, { config: "c", log: "l" })).toContain(`unknown model under the new config: 5 requests ("smart" ×4, "solo" ×1)`);
  });

  test("the real CLI: table, JSON, one request side by side, and a bad config in one line", async () => {
    const path = configFile("cli-whatif.yaml", B_FIRST);
    const table = await sluice(["replay", "--data", dataDir, "--config", path]);
    expect(table.stderr).toBe("");
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/\n {2}a\/m\s+b\/m\s+5\n/);
    expect(table.stdout).toContain("failures   1 avoided, 0 added");

    const json = JSON.parse((await sluice(["replay", "--data", dataDir, "--config", path, "--json"])).stdout);
    expect(json.moved[0]).toEqual({ from: "a/m", to: "b/m", requests: 5 });
    expect(json.failures.avoided).toBe(1);
    expect(json.cost.differenceUsd).toBeCloseTo(2 * 225 / 1e6, 12);

    const one = await sluice(["replay", "--data", dataDir, "--config", path, "--request", ids.f1!]);
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/order\s+a\/m — failed 500 upstream_error\s+b\/m — not tried; no failure in a row then/);
    expect(one.stdout).toContain("verdict: moves from a/m to b/m; the failure would likely be avoided");

    const bad = configFile("bad.yaml", "routes:\n  - { name: smart, targets: [nobody/m] }\n");
    const refused = await sluice(["replay", "--data", dataDir, "--config", bad]);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(refused.stderr).toMatch(/bad\.yaml:2: routes\[0\]\.targets\[0\]: unknown provider "nobody"/);
    const missing = await sluice(["replay", "--data", dataDir, "--config", join(gateway.dir, "missing.yaml")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trimEnd()).toMatch(/^cannot read config .*missing\.yaml: no such file$/);
  }, 60_000);

  test("an unset ${VAR} does not block a what-if, a bad value still does", () => {
    const path = configFile("env.yaml", `${providers(false, "${SLUICE_TEST_NEVER_SET_KEY}")}${RECORDED_ROUTES}`);
    expect(loadWhatIfConfig(path, {}).providers[0]!.api_key).toBe("");
    expect(loadWhatIfConfig(path, { SLUICE_TEST_NEVER_SET_KEY: "sk-set" }).providers[0]!.api_key).toBe("sk-set");
    const port = configFile("port.yaml", "server:\n  port: ${SLUICE_TEST_PORT:-eighty}\n");
    expect(() => loadWhatIfConfig(port, {})).toThrow(StartError);
    expect(() => loadWhatIfConfig(port, {})).toThrow(/port\.yaml:2: server\.port: expected an integer/);
  });
});
