import { Elysia } from "elysia";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { EventRecord } from "../../events/define.ts";
import { createMetrics, LABEL_CAP, metricsRoutes } from "../../core/server/metrics.ts";
import type { Gateway } from "../../core/gateway.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import { oneProvider, startGateway, type TestGateway } from "../support/gateway.ts";

// GET /metrics (SPEC §3, issue 7 point 4): counters match the traffic sent, the text is valid
// Prometheus exposition, no secret leaks into it (RELIABILITY T19), and gateways don't share counters.

const ADMIN_KEY = "adm-canary-5f1d0e9a7c3b-2e8c4a6f0b9d1e3a";
const PRIMARY_KEY = "sk-primary-canary-0123456789";
const BACKUP_KEY = "sk-backup-canary-9876543210";

let primary: FakeUpstream;
let backup: FakeUpstream;
let a: TestGateway;
let b: TestGateway;

/** Mounted like app.ts does (`.use(metricsRoutes(gw))`); the same metrics if app.ts mounts them too. */
async function scrape(gw: Gateway): Promise<Response> {
  return new Elysia().use(metricsRoutes(gw)).handle(new Request("http://localhost/metrics"));
}

async function scrapeText(gw: Gateway): Promise<string> {
  const response = await scrape(gw);
  expect(response.status).toBe(200);
  return response.text();
}

/** `name{a="1",b="2"}` with its labels in name order, whatever order they were printed in. */
function canonical(key: string): string {
  const brace = key.indexOf("{");
  if (brace < 0) return key;
  const labels = [...key.slice(brace + 1, -1).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => `${m[1]}="${m[2]}"`);
  return `${key.slice(0, brace)}{${labels.sort().join(",")}}`;
}

/** Samples by series (canonical "name{labels}") → value. */
function parse(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    samples.set(canonical(line.slice(0, space)), Number(line.slice(space + 1)));
  }
  return samples;
}

const series = (name: string, labels: Record<string, string> = {}) => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  return parts.length ? canonical(`${name}{${parts.join(",")}}`) : name;
};

const value = (samples: Map<string, number>, name: string, labels: Record<string, string> = {}) => samples.get(series(name, labels)) ?? 0;

/** Events of `type` committed after `after` (what the metrics listener saw), with their data. */
function logged(gw: Gateway, type: string, after: number): Array<Record<string, any>> {
  return [...gw.log.all()].filter((e) => e.seq > after && e.type === type).map((e) => e.data as Record<string, any>);
}

const chat = (gw: TestGateway, body: Record<string, unknown>) => fetch(`${gw.url}/v1/chat/completions`, {
  method: "POST",
  headers: { "content-type": "application/json", authorization: "Bearer anything" },
  body: JSON.stringify({ messages: [{ role: "user", content: "hello" }], ...body }),
});

let startSeqA = 0;

beforeAll(async () => {
  primary = startFakeUpstream();
  backup = startFakeUpstream();
  const price = "model_info: { fake-model: { price: { input: 1, output: 2 } } }";
  a = await startGateway(`
admin_key: ${ADMIN_KEY}
providers:
  - id: primary
    kind: openai
    base_url: ${primary.url}
    api_key: ${PRIMARY_KEY}
    models: [fake-model]
    ${price}
  - id: backup
    kind: openai
    base_url: ${backup.url}
    api_key: ${BACKUP_KEY}
    models: [fake-model]
    ${price}
  - id: wild
    kind: openai
    base_url: ${backup.url}
    models: ["wild-*"]
routes:
  - { name: smart, targets: [primary/fake-model, backup/fake-model] }
`);
  b = await startGateway(oneProvider(backup.url));
  // Subscribe before any traffic (a no-op once app.ts mounts the plugin itself).
  metricsRoutes(a.gw);
  metricsRoutes(b.gw);
  startSeqA = a.gw.log.lastSeq;

  // 3 plain answers, 2 streams with usage: all served by primary.
  for (let i = 0; i < 3; i++) expect((await chat(a, { model: "smart" })).status).toBe(200);
  for (let i = 0; i < 2; i++) {
    const response = await chat(a, { model: "smart", stream: true, stream_options: { include_usage: true } });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("[DONE]");
  }
  // primary answers 500: the gateway falls back to backup.
  primary.behave(() => Response.json({ error: { message: `boom ${PRIMARY_KEY}` } }, { status: 500 }));
  for (let i = 0; i < 2; i++) {
    const response = await chat(a, { model: "smart" });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-sluice-provider")).toBe("backup");
  }
  // A model nobody serves: a failed request.
  expect((await chat(a, { model: "no-such-model" })).status).toBe(404);
  // A client-chosen target name that carries a secret (wildcard model pattern).
  await (await chat(a, { model: `wild/wild-${BACKUP_KEY}` })).text();
  primary.reset();

  expect((await chat(b, { model: "fake-model" })).status).toBe(200);
}, 60_000);

afterAll(async () => {
  await a?.close();
  await b?.close();
  await primary?.stop();
  await backup?.stop();
});

describe("GET /metrics", () => {
  test("answers Prometheus text format 0.0.4", async () => {
    const response = await scrape(a.gw);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  test("the text is valid exposition: comments, blank lines, or name{labels} value; every sample's family declared once", async () => {
    const text = await scrapeText(a.gw);
    const name = "[a-zA-Z_:][a-zA-Z0-9_:]*";
    const label = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
    const sample = new RegExp(`^(${name})(\\{(${label})(,${label})*\\})? (-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|NaN|\\+Inf|-Inf)$`);
    const typed = new Map<string, string>();
    const seen = new Set<string>();
    for (const line of text.split("\n")) {
      if (line === "") continue;
      const comment = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (comment) {
        if (comment[1] === "TYPE") {
          expect(typed.has(comment[2]!), `TYPE twice for ${comment[2]}`).toBe(false);
          expect(["counter", "gauge", "histogram", "summary", "untyped"]).toContain(comment[3]);
          typed.set(comment[2]!, comment[3]!);
        }
        continue;
      }
      const match = sample.exec(line);
      expect(match, `not a valid sample line: ${line}`).not.toBeNull();
      const metric = match![1]!;
      const family = [metric, metric.replace(/_(bucket|sum|count)$/, "")].find((f) => typed.has(f));
      expect(family, `sample before its TYPE: ${line}`).toBeDefined();
      const key = line.slice(0, line.lastIndexOf(" "));
      expect(seen.has(key), `duplicate series ${key}`).toBe(false);
      seen.add(key);
    }
    for (const [family, type] of typed) if (family.startsWith("sluice_") && type === "counter") expect(family).toMatch(/_total$/);
  });

  test("request counters and histograms match the requests sent", async () => {
    const m = parse(await scrapeText(a.gw));
    const completed = logged(a.gw, "request.completed", startSeqA);
    const failed = logged(a.gw, "request.failed", startSeqA);
    expect(completed.length).toBeGreaterThanOrEqual(7);
    expect(value(m, "sluice_requests_total", { dialect: "openai-chat", outcome: "completed" })).toBe(completed.length);
    expect(value(m, "sluice_requests_total", { dialect: "openai-chat", outcome: "failed" })).toBe(failed.length);
    expect(failed.length).toBeGreaterThanOrEqual(1);
    expect(value(m, "sluice_request_duration_seconds_count", { outcome: "completed" })).toBe(completed.length);
    expect(value(m, "sluice_request_duration_seconds_bucket", { le: "+Inf", outcome: "completed" })).toBe(completed.length);
    expect(value(m, "sluice_time_to_first_byte_seconds_count")).toBe(completed.length);
    const sum = completed.reduce((n, d) => n + d.total_ms / 1000, 0);
    expect(value(m, "sluice_request_duration_seconds_sum", { outcome: "completed" })).toBeCloseTo(sum, 6);
    for (const reason of new Set(failed.map((d) => d.reason as string))) {
      expect(value(m, "sluice_request_errors_total", { reason })).toBe(failed.filter((d) => d.reason === reason).length);
    }
    expect(value(m, "sluice_requests_in_flight")).toBe(0);
    expect(value(m, "sluice_accepting_requests")).toBe(1);
  });

  test("upstream attempts, fallbacks and routing match the log", async () => {
    const m = parse(await scrapeText(a.gw));
    const succeeded = logged(a.gw, "attempt.succeeded", startSeqA);
    const failedAttempts = logged(a.gw, "attempt.failed", startSeqA);
    expect(value(m, "sluice_upstream_attempts_total", { target: "primary/fake-model", outcome: "success" })).toBe(5);
    expect(value(m, "sluice_upstream_attempts_total", { target: "backup/fake-model", outcome: "success" })).toBe(2);
    const primaryFailures = failedAttempts.filter((d) => d.target === "primary/fake-model");
    expect(primaryFailures.length).toBeGreaterThanOrEqual(2);
    expect(value(m, "sluice_upstream_attempts_total", { target: "primary/fake-model", outcome: "upstream_error" })).toBe(primaryFailures.length);
    const fallbacks = failedAttempts.filter((d) => d.fallback);
    expect(fallbacks.length).toBeGreaterThanOrEqual(2);
    expect(value(m, "sluice_fallbacks_total", { reason: "upstream_error" })).toBe(fallbacks.length);
    expect(value(m, "sluice_upstream_time_to_headers_seconds_count", { provider: "primary" })).toBe(succeeded.filter((d) => d.provider === "primary").length);
    const decided = logged(a.gw, "route.decided", startSeqA);
    expect(value(m, "sluice_route_decisions_total", { route: "smart", strategy: "priority" })).toBe(decided.filter((d) => d.route === "smart").length);
    const skips = decided.flatMap((d) => d.skipped as Array<{ reason: string }>);
    for (const reason of new Set(skips.map((s) => s.reason))) {
      expect(value(m, "sluice_routing_skips_total", { reason })).toBe(skips.filter((s) => s.reason === reason).length);
    }
    const scopes = ["target", "provider"].flatMap((scope) => ["cooldown", "ejected"].map((state) => value(m, "sluice_upstreams_unavailable", { scope, state })));
    expect(scopes.every((n) => Number.isInteger(n) && n >= 0)).toBe(true);
  });

  test("tokens and cost match what the requests reported", async () => {
    const m = parse(await scrapeText(a.gw));
    const done = logged(a.gw, "request.completed", startSeqA).filter((d) => d.target === "primary/fake-model");
    expect(done.length).toBe(5);
    const input = done.reduce((n, d) => n + (d.usage?.input_tokens ?? 0), 0);
    const output = done.reduce((n, d) => n + (d.usage?.output_tokens ?? 0), 0);
    expect(input).toBe(5 * 11);
    expect(output).toBe(5 * 7);
    expect(value(m, "sluice_tokens_total", { target: "primary/fake-model", kind: "input" })).toBe(input);
    expect(value(m, "sluice_tokens_total", { target: "primary/fake-model", kind: "output" })).toBe(output);
    const cost = done.reduce((n, d) => n + (d.cost_usd ?? 0), 0);
    expect(cost).toBeCloseTo(5 * (11 * 1 + 7 * 2) / 1e6, 12);
    expect(value(m, "sluice_cost_usd_total", { target: "primary/fake-model" })).toBeCloseTo(cost, 12);
  });

  test("event log: events by type, commit delay for each, last seq and file sizes", async () => {
    const m = parse(await scrapeText(a.gw));
    const after = [...a.gw.log.all()].filter((e) => e.seq > startSeqA);
    for (const type of ["request.received", "request.completed", "attempt.started", "route.decided"]) {
      expect(value(m, "sluice_events_total", { type })).toBe(after.filter((e) => e.type === type).length);
    }
    const total = [...m].filter(([k]) => k.startsWith("sluice_events_total{")).reduce((n, [, v]) => n + v, 0);
    expect(total).toBeGreaterThanOrEqual(after.length);
    expect(value(m, "sluice_event_log_commit_delay_seconds_count")).toBe(total);
    expect(value(m, "sluice_event_log_last_seq")).toBe(a.gw.log.lastSeq);
    // What the log cost this process: every event it committed, in fewer commits (group commit), and time spent.
    expect(value(m, "sluice_event_log_committed_events_total")).toBe(a.gw.log.stats.events);
    expect(a.gw.log.stats.events).toBeGreaterThanOrEqual(after.length);
    expect(value(m, "sluice_event_log_commits_total")).toBeGreaterThan(0);
    expect(value(m, "sluice_event_log_commits_total")).toBeLessThanOrEqual(value(m, "sluice_event_log_committed_events_total"));
    expect(value(m, "sluice_event_log_write_seconds_total")).toBeGreaterThan(0);
    expect(value(m, "sluice_event_log_listener_seconds_total")).toBeGreaterThan(0);
    expect(value(m, "sluice_event_log_size_bytes", { file: "db" })).toBeGreaterThan(0);
    expect(m.has(series("sluice_event_log_size_bytes", { file: "wal" }))).toBe(true);
    expect(m.has("process_resident_memory_bytes")).toBe(true);
  });

  test("no secret in the text: provider keys, the admin key, not even inside a client-chosen target name", async () => {
    const text = await scrapeText(a.gw);
    for (const secret of [ADMIN_KEY, PRIMARY_KEY, BACKUP_KEY]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(secret.slice(4, 20));
    }
    // The wildcard request did reach the log's targets; its label was redacted, not dropped.
    if (logged(a.gw, "attempt.started", startSeqA).some((d) => String(d.target).includes(BACKUP_KEY))) expect(text).toContain('"[redacted]"');
  });

  test("two gateways in one process do not share counters", async () => {
    const ma = parse(await scrapeText(a.gw));
    const mb = parse(await scrapeText(b.gw));
    expect(value(mb, "sluice_requests_total", { dialect: "openai-chat", outcome: "completed" })).toBe(1);
    expect(value(mb, "sluice_upstream_attempts_total", { target: "local/fake-model", outcome: "success" })).toBe(1);
    expect(value(ma, "sluice_upstream_attempts_total", { target: "local/fake-model", outcome: "success" })).toBe(0);
    expect(value(ma, "sluice_requests_total", { dialect: "openai-chat", outcome: "completed" })).toBe(logged(a.gw, "request.completed", startSeqA).length);
    expect(value(mb, "sluice_event_log_last_seq")).toBe(b.gw.log.lastSeq);
  });

  test("label values are capped: client-chosen targets beyond the cap fold into \"other\"", async () => {
    const metrics = createMetrics(a.gw); // not subscribed: fed by hand
    const now = Date.now();
    for (let i = 0; i < LABEL_CAP + 100; i++) {
      metrics.observe({ seq: i + 1, id: `e${i}`, type: "attempt.succeeded", at: now, data: { request: `r${i}`, attempt: 1, target: `wild/m-${i}`, provider: "wild", status: 200, ttfb_ms: 5 } });
    }
    const m = parse(await metrics.text());
    const targets = [...m.keys()].filter((k) => k.startsWith("sluice_upstream_attempts_total{"));
    expect(targets.length).toBe(LABEL_CAP + 1);
    expect(value(m, "sluice_upstream_attempts_total", { target: "other", outcome: "success" })).toBe(100);
  });

});
