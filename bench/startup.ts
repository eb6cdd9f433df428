// Sluice start-up benchmark: `bun run bench:startup` (= `bun bench/startup.ts`).
//
// Builds an event log of 1 000 000 realistic events in a temp dir (requests over 30 days: key
// creations, request.received, route.decided, attempt.started/succeeded/failed, fallbacks,
// request.completed with usage and cost, failures, stored responses, token estimates, restarts),
// written through the EventLog API in big group commits, with a stepped clock so that `at`
// spreads over the month. Then measures how long the server's projections take to start
// (LiveProjections, as boot() makes them): (i) folding every event from seq 1, (ii) from a
// snapshot 100 000 events back (the most a periodic snapshot leaves), (iii) from a snapshot at the
// last seq (after a graceful stop); the snapshot's write time and size; and `sluice archive` of
// the older half (its run time, and how long it locks the live log).
//
// A benchmark, not a test: it prints figures (targets marked ✓/✗) and always exits 0. Runs in
// about a minute on a 2-core box. Figures go to bench/results/startup.json too.
//
// Knobs (env): BENCH_EVENTS (default 1000000), BENCH_ARCHIVE=0 to skip the archive run,
// BENCH_KEEP=1 to keep the temp dir (its path is printed).

import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { archiveEvents } from "../events/archive.ts";
import { KeyCreated } from "../events/catalog/key.ts";
import { ConfigApplied } from "../events/catalog/config.ts";
import {
  AttemptFailed, AttemptStarted, AttemptSucceeded, RequestCompleted, RequestFailed, RequestReceived,
} from "../events/catalog/request.ts";
import { ResponseStored } from "../events/catalog/response.ts";
import { RouteDecided } from "../events/catalog/routing.ts";
import { ServerStarted } from "../events/catalog/server.ts";
import { TokensEstimated } from "../events/catalog/tokens.ts";
import { EventLog } from "../events/log.ts";
import { LiveProjections, projections, rebuild, SNAPSHOT_EVERY } from "../events/projections/index.ts";
import { listSnapshots, loadSnapshot, writeSnapshot } from "../events/snapshot.ts";
import type { Gateway } from "../core/gateway.ts";
import { usageReport, type UsageQuery } from "../core/server/api-usage.ts";

const ROOT = resolve(import.meta.dir, "..");
const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const ARCHIVE = process.env.BENCH_ARCHIVE !== "0";
const KEEP = process.env.BENCH_KEEP === "1";
const DAYS = 30;
const TARGETS = {
  /** RELIABILITY.md T12: restart to /ready in ≤ 2 s with 10^6 events; the projections' share of it. */
  bootFromSnapshotMs: 2_000,
};

const fmt = (n: number) => Math.round(n).toLocaleString("en-US").replace(/,/g, " ");
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

const tmp = mkdtempSync(join(tmpdir(), "sluice-bench-startup-"));
function cleanup(): void {
  if (!KEEP) rmSync(tmp, { recursive: true, force: true });
}
process.on("SIGINT", () => {
  cleanup();
  process.exit(130);
});

// ---------------------------------------------------------------------------------------------
// The log

/** A small deterministic PRNG, so every run builds the same log. */
function prng(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MODELS = [
  { provider: "openai", model: "gpt-4.1-mini", price: [0.4, 1.6] },
  { provider: "openai", model: "gpt-4.1", price: [2, 8] },
  { provider: "anthropic", model: "claude-sonnet-4-5", price: [3, 15] },
  { provider: "anthropic", model: "claude-haiku-4-5", price: [1, 5] },
  { provider: "gemini", model: "gemini-2.5-flash", price: [0.3, 2.5] },
  { provider: "local", model: "qwen2.5-7b", price: [0, 0] },
] as const;
const ROUTES = [
  { name: "smart", targets: [2, 1, 0] },
  { name: "fast", targets: [0, 3, 4] },
  { name: "cheap", targets: [5, 4, 0] },
];
const DIALECTS = [
  ["openai-chat", "/v1/chat/completions"], ["anthropic", "/v1/messages"], ["openai-responses", "/v1/responses"], ["gemini", "/v1beta/models"],
] as const;
const target = (i: number) => `${MODELS[i]!.provider}/${MODELS[i]!.model}`;
const INDEX = new Map(MODELS.map((_, i) => [target(i), i]));

/** Write about `count` events; returns how many requests they hold. */
async function generate(log: EventLog, count: number): Promise<{ requests: number }> {
  const random = prng(42);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
  const realNow = Date.now;
  const start = realNow() - DAYS * 86_400_000;
  const step = (DAYS * 86_400_000) / (count / 5.4);
  let clock = start;
  // EventLog stamps `at` with Date.now(): a stepped clock spreads the events over the month.
  Date.now = () => Math.round(clock);
  const keys: string[] = [];
  // Count what is queued (lastSeq moves only at each group commit).
  let appended = 0;
  const append: EventLog["append"] = (definition, data) => {
    appended++;
    return log.append(definition, data);
  };
  const started = () => {
    void append(ConfigApplied, { source: "sluice.yaml", digest: "0".repeat(64), reason: "start", providers: ["openai", "anthropic", "gemini", "local"], routes: ROUTES.map((r) => r.name) });
    void append(ServerStarted, { host: "127.0.0.1", port: 2402, version: "0.1.0", pid: 4242, durability: "normal" });
  };
  try {
    started();
    for (let k = 0; k < 25; k++) {
      const key = `key_${k.toString(16).padStart(12, "0")}`;
      keys.push(key);
      void append(KeyCreated, {
        key, name: `team-${k}`, hash: (k.toString(16).padStart(2, "0")).repeat(32), prefix: `sk-sluice-${k}`, via: "cli",
        ...(k % 3 === 0 ? { budget_usd: 50, budget_period: "month" as const } : {}), ...(k % 4 === 0 ? { rpm: 600 } : {}),
      });
    }
    let requests = 0;
    let previousResponse: string | undefined;
    while (appended + 12 < count) {
      requests++;
      clock += step * (0.5 + random());
      if (requests % 40_000 === 0) started(); // a restart now and then
      const request = `req_${requests.toString(16).padStart(32, "0")}`;
      const [dialect, endpoint] = pick(DIALECTS);
      const useRoute = random() < 0.6;
      const route = useRoute ? pick(ROUTES) : undefined;
      const order = route ? route.targets.map(target) : [target(Math.floor(random() * MODELS.length))];
      const stream = random() < 0.5;
      const caller = pick(keys);
      const inputTokens = 200 + Math.floor(random() * 6000);
      void append(RequestReceived, { request, dialect, endpoint, model: route?.name ?? order[0]!, stream, candidates: order, caller });
      void append(RouteDecided, {
        request, ...(route ? { route: route.name } : {}), strategy: "priority", input_tokens: inputTokens, order, skipped: [],
        ...(random() < 0.3 ? { affinity: `aff_${Math.floor(random() * 5000)}` } : {}),
      });
      let attempt = 1;
      // About 6 % of requests fail over once; 1.5 % fail on every target.
      const failsFirst = random() < 0.06;
      const failsAll = random() < 0.015;
      let served = -1;
      for (const t of order) {
        const i = INDEX.get(t)!;
        const { provider, model } = MODELS[i]!;
        clock += 2;
        void append(AttemptStarted, { request, attempt, target: t, provider, model, passthrough: random() < 0.3 });
        const ttfb = 80 + random() * 900;
        if ((failsFirst && attempt === 1) || failsAll) {
          const rateLimited = random() < 0.5;
          void append(AttemptFailed, {
            request, attempt, target: t, provider, status: rateLimited ? 429 : 503, reason: rateLimited ? "rate_limited" : "upstream_error",
            message: rateLimited ? "Rate limit reached for requests" : "Service Unavailable", ms: ttfb, fallback: attempt < order.length,
            ...(rateLimited ? { retry_after: 2 } : {}),
          });
          attempt++;
          continue;
        }
        void append(AttemptSucceeded, { request, attempt, target: t, provider, status: 200, ttfb_ms: ttfb });
        served = i;
        break;
      }
      clock += 300 + random() * 4000;
      if (served < 0) {
        void append(RequestFailed, { request, status: 503, reason: "upstream_error", message: "every target failed", attempts: attempt - 1, total_ms: 1200 });
        continue;
      }
      const { provider, model, price } = MODELS[served]!;
      const output = 20 + Math.floor(random() * 1200);
      const cached = random() < 0.3 ? Math.floor(inputTokens / 2) : 0;
      void append(RequestCompleted, {
        request, target: target(served), provider, model, status: 200, attempts: attempt, stream,
        ttfb_ms: 100 + random() * 900, total_ms: 400 + random() * 9000, finish_reason: "stop",
        usage: { input_tokens: inputTokens, output_tokens: output, ...(cached ? { cached_input_tokens: cached } : {}) },
        ...(price[0] > 0 ? { cost_usd: (inputTokens * price[0] + output * price[1]) / 1_000_000 } : {}),
      });
      if (random() < 0.2) void append(TokensEstimated, { request, target: target(served), estimated: inputTokens, reported: Math.round(inputTokens * (0.9 + random() * 0.2)) });
      if (dialect === "openai-responses" && random() < 0.05) {
        const id = `resp_${requests.toString(16).padStart(32, "0")}`;
        void append(ResponseStored, {
          request, id, ...(previousResponse && random() < 0.5 ? { previous: previousResponse } : {}),
          input: [{ role: "user", content: [{ type: "input_text", text: `question ${requests} about the quarterly numbers` }] }],
          output: [{ type: "message", role: "assistant", content: [{ type: "output_text", text: `answer ${requests}: the numbers went up by ${Math.floor(random() * 40)} %` }] }],
        });
        previousResponse = id;
      }
    }
    log.flush();
    return { requests };
  } finally {
    Date.now = realNow;
  }
}

// ---------------------------------------------------------------------------------------------
// Run

function boot(log: EventLog) {
  const t0 = performance.now();
  const live = new LiveProjections(log, { snapshotEvery: 0, snapshotOnStop: false });
  const ms = performance.now() - t0;
  live.stop();
  return { ms, live };
}

async function main(): Promise<void> {
  console.log(`Sluice start-up benchmark — bun ${Bun.version}, ${navigator.hardwareConcurrency} cores, ${fmt(EVENTS)} events over ${DAYS} days (temp dir ${tmp})\n`);
  const path = join(tmp, "events.db");
  let log = EventLog.open(path);
  const t0 = performance.now();
  const { requests } = await generate(log, EVENTS);
  const generateMs = performance.now() - t0;
  const events = log.lastSeq;
  log.close();
  const dbBytes = statSync(path).size;
  console.log(`log: ${fmt(events)} events (${fmt(requests)} requests) written in ${(generateMs / 1000).toFixed(1)} s (${fmt(events / (generateMs / 1000))} events/s); events.db ${mb(dbBytes)}`);

  log = EventLog.open(path);
  // (i) from event 1
  const cold = boot(log);
  const heapAfterFold = process.memoryUsage().rss;

  // (ii) from a snapshot SNAPSHOT_EVERY back: fold to there, store it, boot.
  const back = Math.max(0, events - SNAPSHOT_EVERY);
  const partial = rebuild(log.range(0, back)) as unknown as Record<string, unknown>;
  writeSnapshot(log, back, partial, projections);
  const fromBack = boot(log);

  // (iii) from a snapshot at the last seq, as written at a graceful stop (timed, three times).
  const writes = [0, 1, 2].map(() => writeSnapshot(log, events, cold.live.snapshot() as unknown as Record<string, unknown>, projections));
  const write = writes[writes.length - 1]!;
  const loadMs = loadSnapshot(log, projections)!.ms;
  const warm = [0, 1, 2].map(() => boot(log));
  const warmMs = median(warm.map((b) => b.ms));
  const same = Bun.deepEquals(warm[0]!.live.snapshot(), cold.live.snapshot()) && Bun.deepEquals(fromBack.live.snapshot(), cold.live.snapshot());

  console.log("\nstart-up of the projections (LiveProjections, as boot() makes them)\n");
  console.log(table(["restored from", "ms", "events folded"], [
    ["every event from seq 1 (no snapshot)", fmt(cold.ms), fmt(cold.live.restored.folded)],
    [`a snapshot ${fmt(events - back)} events back (periodic)`, fmt(fromBack.ms), fmt(fromBack.live.restored.folded)],
    ["a snapshot at the last seq (graceful stop)", fmt(warmMs), fmt(warm[0]!.live.restored.folded)],
  ]));
  const sizes = Object.entries(cold.live.snapshot()).map(([name, state]) => `${name} ${mb(JSON.stringify(state instanceof Object && "byId" in state ? { ...state, byId: undefined } : state).length)}`);
  console.log(`\nsame state all three ways: ${same ? "✓" : "✗"}; process RSS after the full fold ${mb(heapAfterFold)}`);
  console.log(`snapshot at seq ${fmt(events)}: ${mb(write.bytes)} JSON; write ${write.ms} ms (encode ${write.encodeMs} ms, SQLite ${write.writeMs} ms; median of 3: ${median(writes.map((w) => w.ms))} ms); read + decode ${loadMs} ms`);
  console.log(`  by projection: ${sizes.join(", ")}`);
  console.log(`target (RELIABILITY T12: restart ≤ ${fmt(TARGETS.bootFromSnapshotMs)} ms with 10^6 events), projections from a snapshot: ${fmt(Math.max(warmMs, fromBack.ms))} ms ${Math.max(warmMs, fromBack.ms) <= TARGETS.bootFromSnapshotMs ? "✓" : "✗"} (from event 1: ${fmt(cold.ms)} ms)`);
  // GET /api/usage over this month of traffic: the report the endpoint answers with, timed.
  const gw = { projections: warm[0]!.live, config: { providers: [] } } as unknown as Gateway;
  const lastAt = Math.max(...Object.values(warm[0]!.live.get("usageRollup").buckets).map((b) => b.hour)) + 3_600_000;
  const queries: Array<[string, UsageQuery]> = [
    ["group=provider,model (all time)", { dimensions: ["provider", "model"], filters: {} }],
    ["group=caller&period=day", { dimensions: ["caller"], period: "day", filters: {} }],
    ["group=hour, last 24 h", { dimensions: [], period: "hour", since: lastAt - 86_400_000, filters: {} }],
    ["group=route,model&provider=… (filtered)", { dimensions: ["route", "model"], filters: { provider: new Set(["openai"]) } }],
  ];
  const usageTimes = queries.map(([name, query]) => {
    const times = [0, 1, 2, 3, 4].map(() => {
      const started = performance.now();
      usageReport(gw, query);
      return performance.now() - started;
    });
    return [name, median(times).toFixed(1)];
  });
  console.log(`
/api/usage report over ${fmt(Object.keys(warm[0]!.live.get("usageRollup").buckets).length)} hourly buckets (median of 5)
`);
  console.log(table(["query", "ms"], usageTimes as string[][]));
  const snapshots = listSnapshots(log, projections).map((s) => s.seq);

  let archived: Record<string, unknown> | undefined;
  if (ARCHIVE) {
    // Archive the older half, as `sluice archive --before <mid-month>` does (no server running).
    const middle = log.read(Math.floor(events / 2), 1)[0]!.at;
    const result = archiveEvents(log, { before: middle });
    const after = boot(log);
    const sizeAfter = statSync(path).size;
    console.log(`\narchive --before ${new Date(middle).toISOString()}: moved ${fmt(result.events)} events (seq ${result.firstSeq}…${result.boundary}) in ${fmt(result.ms)} ms; `
      + `live log locked ${fmt(result.deleteMs)} ms for the delete; archive file ${mb(result.bytes)}; snapshot ${mb(result.snapshot.bytes)} in ${result.snapshot.ms} ms; `
      + `events.db stays ${mb(sizeAfter)} with ${mb(result.freeBytes)} free for new events`);
    console.log(`start-up after the archive: ${fmt(after.ms)} ms (${after.live.restored.from} at seq ${fmt(after.live.restored.snapshotSeq)} + ${fmt(after.live.restored.folded)} events); same state: ${Bun.deepEquals(after.live.snapshot(), cold.live.snapshot()) ? "✓" : "✗"}`);
    archived = { events: result.events, ms: result.ms, deleteMs: result.deleteMs, bytes: result.bytes, snapshotMs: result.snapshot.ms, bootAfterMs: Math.round(after.ms) };
  }
  log.close();

  const results = {
    at: new Date().toISOString(), bun: Bun.version, cores: navigator.hardwareConcurrency,
    events, requests, generateMs: Math.round(generateMs), dbBytes,
    bootMs: { fromEvent1: Math.round(cold.ms), fromSnapshotBack: Math.round(fromBack.ms), fromSnapshotAtLast: Math.round(warmMs) },
    snapshot: { bytes: write.bytes, writeMs: write.ms, encodeMs: write.encodeMs, sqliteMs: write.writeMs, loadMs, kept: snapshots },
    same, ...(archived ? { archive: archived } : {}),
  };
  mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
  writeFileSync(join(ROOT, "bench", "results", "startup.json"), `${JSON.stringify(results, null, 2)}\n`);
}

try {
  await main();
} finally {
  cleanup();
}
