import { statSync } from "node:fs";
import { Elysia } from "elysia";
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import type { EventRecord } from "../../events/define.ts";
import type { Health } from "../../events/projections/health.ts";
import { VERSION } from "../cli/version.ts";
import type { Gateway } from "../gateway.ts";

// GET /metrics (SPEC §3): Prometheus text format, through prom-client.
//
// Counters and histograms are fed by one event-log listener (every committed event, in seq order),
// so what /metrics counts is exactly what the log recorded. That listener runs inside every
// commit, so it stays cheap (~0.2–0.3 µs per event): counters and histogram buckets are plain
// numbers in cells found by one or two Map lookups (no string building, no objects), handed to
// prom-client only when Prometheus scrapes. Gauges (in flight, cooldowns, ejections, log size) are
// read at scrape time.
//
// Labels are only ever: target ("provider/model"), provider, route, client dialect, event type,
// failure reason, fixed enums. Each kind is capped (CAP distinct values, then "other"), because a
// wildcard model pattern lets clients name targets; a value containing a configured secret is
// shown as "[redacted]" (RELIABILITY T19). No key ids, key material or header values, ever.
//
// Not admin-protected, like /health: Prometheus scrapes without credentials, and giving a
// scraper the admin key (which can create caller keys) would spread the strongest secret for
// read-only counters. The app-wide guards (allow_ips, loopback-only without caller keys) still apply.

/** Distinct values kept per label kind; the rest are counted under "other". */
export const LABEL_CAP = 200;
const OTHER = "other";
const MAX_LABEL_CHARS = 160;
/** In-flight request ids remembered for their dialect. */
const PENDING_CAP = 100_000;

const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const COMMIT_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const RATIO_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 1];

/** Raw label values → the value shown: itself (bounded, scrubbed) or "other" once CAP are known. */
class LabelValues {
  private readonly known = new Map<string, string>();
  constructor(private readonly secrets: () => readonly string[], private readonly cap = LABEL_CAP) {}

  of(raw: string): string {
    const seen = this.known.get(raw);
    if (seen !== undefined) return seen;
    if (this.known.size >= this.cap) return OTHER;
    let shown = raw.length > MAX_LABEL_CHARS ? raw.slice(0, MAX_LABEL_CHARS) : raw;
    for (const secret of this.secrets()) if (raw.includes(secret)) shown = "[redacted]";
    this.known.set(raw, shown);
    return shown;
  }
}

interface Cell {
  labels: Record<string, string>;
  value: number;
  exported: number;
}

/** A counter with one or two labels, added to on the hot path and handed to prom-client at scrape. */
class Tally {
  private readonly cells = new Map<string, Map<string, Cell>>();
  readonly counter: Counter;

  constructor(registry: Registry, name: string, help: string, private readonly names: readonly [string] | readonly [string, string]) {
    const cells = this.cells;
    this.counter = new Counter({
      name, help, labelNames: names, registers: [registry],
      collect() {
        for (const inner of cells.values()) {
          for (const cell of inner.values()) {
            if (cell.value === cell.exported) continue;
            this.inc(cell.labels, cell.value - cell.exported);
            cell.exported = cell.value;
          }
        }
      },
    });
  }

  /** Add `n` under label values already bounded (see LabelValues). */
  add(a: string, b: string, n = 1): void {
    let inner = this.cells.get(a);
    if (inner === undefined) this.cells.set(a, (inner = new Map()));
    let cell = inner.get(b);
    if (cell === undefined) {
      const labels: Record<string, string> = { [this.names[0]]: a };
      if (this.names[1] !== undefined) labels[this.names[1]] = b;
      inner.set(b, (cell = { labels, value: 0, exported: 0 }));
    }
    cell.value += n;
  }
}

interface Series {
  labels: Record<string, string>;
  /** Observations per bucket (not cumulative), the last one past every bound. */
  counts: number[];
  sum: number;
  count: number;
}

/**
 * A histogram with at most one label, observed on the hot path with no allocation (prom-client's
 * own observe builds a closure, a label hash and a pair per call: about 0.2–0.5 µs each). It is
 * registered in the prom-client registry as a metric whose get() gives the standard histogram
 * samples, so prom-client prints it like its own.
 */
class Timings {
  private readonly series = new Map<string, Series>();
  readonly name: string;
  readonly help: string;
  readonly type = "histogram";
  readonly aggregator = "sum";

  constructor(registry: Registry, name: string, help: string, private readonly bounds: readonly number[], private readonly label?: string) {
    this.name = name;
    this.help = help;
    registry.registerMetric(this as unknown as Parameters<Registry["registerMetric"]>[0]);
  }

  /** Observe `value` under the (already bounded) label value `key` ("" without a label). */
  observe(key: string, value: number): void {
    let series = this.series.get(key);
    if (series === undefined) {
      const labels: Record<string, string> = this.label === undefined ? {} : { [this.label]: key };
      this.series.set(key, (series = { labels, counts: new Array<number>(this.bounds.length + 1).fill(0), sum: 0, count: 0 }));
    }
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    series.counts[i]!++;
    series.sum += value;
    series.count++;
  }

  /** The samples in prom-client's shape (what Registry prints). */
  get() {
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    for (const series of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += series.counts[i]!;
        values.push({ labels: { ...series.labels, le: this.bounds[i]! }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { ...series.labels, le: "+Inf" }, value: series.count, metricName: `${this.name}_bucket` });
      values.push({ labels: series.labels, value: series.sum, metricName: `${this.name}_sum` });
      values.push({ labels: series.labels, value: series.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.series.clear();
  }
}

const TOKEN_KINDS = [
  ["input_tokens", "input"], ["output_tokens", "output"], ["cached_input_tokens", "cached_input"],
  ["cache_write_tokens", "cache_write"], ["reasoning_tokens", "reasoning"],
] as const;

type Usage = Partial<Record<(typeof TOKEN_KINDS)[number][0], number>>;
type Data = Record<string, unknown>;

const str = (value: unknown, missing = "none"): string => (typeof value === "string" && value !== "" ? value : missing);
const ms = (value: unknown): number | undefined => (typeof value === "number" && value >= 0 && value < 1e12 ? value / 1000 : undefined);

export interface GatewayMetrics {
  readonly registry: Registry;
  /** Fold one committed event into the counters (the log listener). */
  observe(record: EventRecord): void;
  /** The exposition text: this gateway's metrics, then the process's. */
  text(): Promise<string>;
  readonly contentType: string;
}

/** Build the metrics of one gateway, not yet subscribed to its log. */
export function createMetrics(gw: Gateway): GatewayMetrics {
  const registry = new Registry();
  const secrets = () => gw.secrets;
  const targets = new LabelValues(secrets);
  const providers = new LabelValues(secrets);
  const routes = new LabelValues(secrets);
  const reasons = new LabelValues(secrets, 100);
  const dialects = new LabelValues(secrets, 50);
  const types = new LabelValues(secrets);
  const strategies = new LabelValues(secrets, 50);

  const requests = new Tally(registry, "sluice_requests_total", "Requests finished, by client dialect and outcome (completed, failed, cancelled).", ["dialect", "outcome"]);
  const errors = new Tally(registry, "sluice_request_errors_total", "Requests that failed, by error reason.", ["reason"]);
  const attempts = new Tally(registry, "sluice_upstream_attempts_total", "Upstream attempts, by target and outcome (success, or the failure reason).", ["target", "outcome"]);
  const fallbacks = new Tally(registry, "sluice_fallbacks_total", "Failed attempts after which the gateway moved on to the next target, by failure reason.", ["reason"]);
  const retries = new Tally(registry, "sluice_upstream_retries_total", "Failed attempts retried on the same target after a backoff, by failure reason.", ["reason"]);
  const tokens = new Tally(registry, "sluice_tokens_total", "Tokens the upstreams reported, by target and kind (input, output, cached_input, cache_write, reasoning).", ["target", "kind"]);
  const cost = new Tally(registry, "sluice_cost_usd_total", "Cost of answered requests at the prices known then, USD, by target (requests with unknown prices add nothing).", ["target"]);
  const skips = new Tally(registry, "sluice_routing_skips_total", "Targets skipped by routing decisions, by reason (cooldown, ejected, context, no-executor, retry-budget, ...).", ["reason"]);
  const decisions = new Tally(registry, "sluice_route_decisions_total", "Routing decisions, by route (\"none\" for a model asked for directly) and strategy.", ["route", "strategy"]);
  const ejections = new Tally(registry, "sluice_upstream_ejections_total", "Upstream ejections (outlier detection), by target or provider.", ["target"]);
  const restorations = new Tally(registry, "sluice_upstream_restorations_total", "Upstreams restored after an ejection, by target or provider.", ["target"]);
  const cacheHits = new Tally(registry, "sluice_cache_hits_total", "Requests answered from the response cache, by the target that made the kept answer.", ["target"]);
  const cacheSaved = new Tally(registry, "sluice_cache_saved_tokens_total", "Tokens the response cache's answers did not spend again, by kind (input, output).", ["kind"]);
  const cacheStored = new Counter({ name: "sluice_cache_stored_total", help: "Answers kept in the response cache.", registers: [registry] });
  const events = new Tally(registry, "sluice_events_total", "Events committed to the event log, by type.", ["type"]);
  const egress = new Counter({ name: "sluice_egress_blocked_total", help: "Upstream calls refused because their address is link-local or a cloud metadata service.", registers: [registry] });

  const duration = new Timings(registry, "sluice_request_duration_seconds", "Time from request arrival to its end, by outcome.", SECONDS_BUCKETS, "outcome");
  const ttfb = new Timings(registry, "sluice_time_to_first_byte_seconds", "Time from request arrival to the first byte sent to the client (completed requests).", SECONDS_BUCKETS);
  const upstreamTtfb = new Timings(registry, "sluice_upstream_time_to_headers_seconds", "Time from an upstream attempt's start to the upstream's response headers (successful attempts), by provider.", SECONDS_BUCKETS, "provider");
  const commitDelay = new Timings(registry, "sluice_event_log_commit_delay_seconds", "Time from an event's append to its commit reaching listeners (group commit wait + write; events another process wrote include the poll interval).", COMMIT_BUCKETS);
  const estimateError = new Timings(registry, "sluice_token_estimate_error_ratio", "|estimated - reported| / reported input tokens, for sampled requests (count_tokens accuracy).", RATIO_BUCKETS);

  /** Client dialect of each request in flight, from request.received to its final event. */
  const pending = new Map<string, string>();

  function finished(data: Data, outcome: "completed" | "failed" | "cancelled"): void {
    const id = data.request as string;
    const dialect = pending.get(id);
    if (dialect !== undefined) pending.delete(id);
    requests.add(dialect ?? "unknown", outcome);
    const total = ms(data.total_ms);
    if (total !== undefined) duration.observe(outcome, total);
    const target = data.target;
    if (typeof target !== "string") return;
    const shown = targets.of(target);
    const usage = data.usage as Usage | undefined;
    if (usage !== undefined) {
      for (let i = 0; i < TOKEN_KINDS.length; i++) {
        const [field, kind] = TOKEN_KINDS[i]!;
        const n = usage[field];
        if (typeof n === "number" && n > 0) tokens.add(shown, kind, n);
      }
    }
    const usd = data.cost_usd;
    if (typeof usd === "number" && usd > 0 && Number.isFinite(usd)) cost.add(shown, "", usd);
  }

  function observe(record: EventRecord): void {
    const delay = Date.now() - record.at;
    if (delay >= 0) commitDelay.observe("", delay / 1000);
    events.add(types.of(record.type), "");
    const data = record.data as Data;
    switch (record.type) {
      case "request.received":
        // A request whose final event never came would stay forever: past the cap, start over
        // (the requests then in flight are counted under dialect "unknown").
        if (pending.size >= PENDING_CAP) pending.clear();
        pending.set(data.request as string, dialects.of(str(data.dialect)));
        return;
      case "route.decided": {
        decisions.add(typeof data.route === "string" ? routes.of(data.route) : "none", strategies.of(str(data.strategy)));
        const skipped = data.skipped as Array<{ reason?: unknown }> | undefined;
        if (skipped !== undefined) for (const skip of skipped) skips.add(reasons.of(str(skip.reason)), "");
        return;
      }
      case "attempt.succeeded": {
        attempts.add(targets.of(str(data.target)), "success");
        const seconds = ms(data.ttfb_ms);
        if (seconds !== undefined) upstreamTtfb.observe(providers.of(str(data.provider)), seconds);
        return;
      }
      case "attempt.failed": {
        const reason = reasons.of(str(data.reason));
        attempts.add(targets.of(str(data.target)), reason);
        if (data.fallback === true) fallbacks.add(reason, "");
        if (data.retry_ms !== undefined) retries.add(reason, "");
        return;
      }
      case "request.completed": {
        finished(data, "completed");
        const first = ms(data.ttfb_ms);
        if (first !== undefined) ttfb.observe("", first);
        return;
      }
      case "request.failed":
        errors.add(reasons.of(str(data.reason)), "");
        finished(data, "failed");
        return;
      case "request.cancelled":
        finished(data, "cancelled");
        return;
      case "upstream.ejected":
        ejections.add(targets.of(str(data.target)), "");
        return;
      case "upstream.restored":
        restorations.add(targets.of(str(data.target)), "");
        return;
      case "egress.blocked":
        egress.inc();
        return;
      case "cache.hit": {
        cacheHits.add(targets.of(str(data.target)), "");
        if (typeof data.saved_input_tokens === "number" && data.saved_input_tokens > 0) cacheSaved.add("input", "", data.saved_input_tokens);
        if (typeof data.saved_output_tokens === "number" && data.saved_output_tokens > 0) cacheSaved.add("output", "", data.saved_output_tokens);
        return;
      }
      case "cache.stored":
        cacheStored.inc();
        return;
      case "tokens.estimated": {
        const reported = data.reported as number;
        const estimated = data.estimated as number;
        if (reported > 0) estimateError.observe("", Math.abs(estimated - reported) / reported);
        return;
      }
    }
  }

  // Read at scrape time.
  new Gauge({
    name: "sluice_build_info", help: "Sluice's version and the Bun runtime running it (always 1).", labelNames: ["version", "bun"], registers: [registry],
    collect() {
      this.set({ version: VERSION, bun: typeof Bun === "undefined" ? "none" : Bun.version }, 1);
    },
  });
  new Gauge({
    name: "sluice_accepting_requests", help: "1 while the gateway accepts requests, 0 while draining or when the log cannot be written.", registers: [registry],
    collect() {
      this.set(gw.accepting ? 1 : 0);
    },
  });
  new Gauge({
    name: "sluice_requests_in_flight", help: "Generation requests between arrival and their response headers.", registers: [registry],
    collect() {
      this.set(gw.inFlight);
    },
  });
  new Gauge({
    name: "sluice_upstream_retries_in_flight", help: "Attempts beyond a request's first fallback now running (the retry budget).", registers: [registry],
    collect() {
      this.set(gw.retriesInFlight);
    },
  });
  new Gauge({
    name: "sluice_upstreams_unavailable", help: "Targets and providers now cooling down (429 backoff, Retry-After) or ejected, by scope and state.", labelNames: ["scope", "state"], registers: [registry],
    collect() {
      const health = gw.projections.get("health");
      const now = Date.now();
      for (const [scope, table] of [["target", health.targets], ["provider", health.providers]] as const) {
        let cooling = 0;
        let ejected = 0;
        for (const h of Object.values(table)) {
          if (coolingFor(h, now) > 0) cooling++;
          if (ejectedFor(h, now) > 0) ejected++;
        }
        this.set({ scope, state: "cooldown" }, cooling);
        this.set({ scope, state: "ejected" }, ejected);
      }
    },
  });
  new Gauge({
    name: "sluice_upstream_unavailable_seconds", help: "Seconds left before a cooling or ejected target or provider may be tried again (only those unavailable now).", labelNames: ["scope", "name", "state"], registers: [registry],
    collect() {
      this.reset();
      const health = gw.projections.get("health");
      const now = Date.now();
      for (const [scope, table, names] of [["target", health.targets, targets], ["provider", health.providers, providers]] as const) {
        for (const [name, h] of Object.entries(table)) {
          const cooling = coolingFor(h, now);
          const ejected = ejectedFor(h, now);
          if (cooling > 0) this.set({ scope, name: names.of(name), state: "cooldown" }, cooling / 1000);
          if (ejected > 0) this.set({ scope, name: names.of(name), state: "ejected" }, ejected / 1000);
        }
      }
    },
  });
  new Gauge({
    name: "sluice_caller_keys", help: "Caller keys, by state (active, revoked, expired).", labelNames: ["state"], registers: [registry],
    collect() {
      const counts = { active: 0, revoked: 0, expired: 0 };
      const now = Date.now();
      for (const key of Object.values(gw.projections.get("keys").keys)) {
        if (key.revoked_at !== undefined) counts.revoked++;
        else if (key.expires_at !== undefined && key.expires_at <= now) counts.expired++;
        else counts.active++;
      }
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
    },
  });
  new Gauge({
    name: "sluice_event_log_last_seq", help: "Seq of the last committed event.", registers: [registry],
    collect() {
      this.set(gw.log.lastSeq);
    },
  });
  // What the event log costs this process (commits, and the listeners that fold them): its share of the gateway's work.
  const logStat = (name: string, help: string, value: () => number) => new Counter({
    name, help, registers: [registry],
    collect() {
      this.reset();
      this.inc(value());
    },
  });
  logStat("sluice_event_log_commits_total", "Transactions this process committed to the event log (group commits).", () => gw.log.stats.commits);
  logStat("sluice_event_log_committed_events_total", "Events in the transactions this process committed.", () => gw.log.stats.events);
  logStat("sluice_event_log_write_seconds_total", "Time this process spent writing event log transactions (SQLite).", () => gw.log.stats.writeMs / 1000);
  logStat("sluice_event_log_listener_seconds_total", "Time this process spent telling listeners (projections, metrics) of committed events.", () => gw.log.stats.listenerMs / 1000);
  new Gauge({
    name: "sluice_event_log_size_bytes", help: "Size of the event log's files: the database and its write-ahead log.", labelNames: ["file"], registers: [registry],
    collect() {
      this.set({ file: "db" }, sizeOf(gw.log.path));
      this.set({ file: "wal" }, sizeOf(`${gw.log.path}-wal`));
    },
  });

  return {
    registry,
    observe,
    contentType: registry.contentType,
    async text() {
      gw.log.deliver(); // every committed event counted
      const own = await registry.metrics();
      const shared = await processMetrics();
      const text = shared ? `${own}\n${shared.endsWith("\n") ? shared : `${shared}\n`}` : own;
      // prom-client prints NaN as "Nan" (event-loop lag before its first sample); the format says NaN.
      return text.includes(" Nan\n") ? text.replaceAll(" Nan\n", " NaN\n") : text;
    },
  };
}

function coolingFor(h: Health, now: number): number {
  return h.coolUntil !== undefined && h.coolUntil > now ? h.coolUntil - now : 0;
}

function ejectedFor(h: Health, now: number): number {
  return h.ejectedUntil !== undefined && h.ejectedUntil > now ? h.ejectedUntil - now : 0;
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

// Process metrics (CPU, memory, file descriptors, event-loop lag) are the process's, not a
// gateway's: one registry per process, under the standard names (process_*, nodejs_*). Those that
// mean nothing under Bun (checked on Bun 1.4) are dropped: V8 heap spaces (all zero), the Node
// version Bun imitates, active handle/request counts (always zero), GC durations (never observed)
// and the heap total (JSC reports less than the heap used).
const BUN_MEANINGLESS = [
  "nodejs_heap_space_size_total_bytes", "nodejs_heap_space_size_used_bytes", "nodejs_heap_space_size_available_bytes",
  "nodejs_version_info", "nodejs_active_handles", "nodejs_active_handles_total", "nodejs_active_requests",
  "nodejs_active_requests_total", "nodejs_active_resources", "nodejs_active_resources_total",
  "nodejs_gc_duration_seconds", "nodejs_heap_size_total_bytes",
];
let processRegistry: Registry | null | undefined;

function processRegistryOnce(): Registry | null {
  if (processRegistry !== undefined) return processRegistry;
  try {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    for (const name of BUN_MEANINGLESS) registry.removeSingleMetric(name);
    processRegistry = registry;
  } catch {
    processRegistry = null;
  }
  return processRegistry;
}

async function processMetrics(): Promise<string> {
  const registry = processRegistryOnce();
  if (!registry) return "";
  try {
    return await registry.metrics();
  } catch {
    // One collector failed under this runtime: drop it for good and keep the others.
    const parts: string[] = [];
    for (const metric of registry.getMetricsAsArray()) {
      const name = (metric as unknown as { name: string }).name;
      try {
        parts.push(await registry.getSingleMetricAsString(name));
      } catch {
        registry.removeSingleMetric(name);
      }
    }
    return parts.join("\n\n");
  }
}

const perGateway = new WeakMap<Gateway, GatewayMetrics>();

/** The metrics of `gw`, created and subscribed to its log the first time (once per gateway). */
export function gatewayMetrics(gw: Gateway): GatewayMetrics {
  let metrics = perGateway.get(gw);
  if (!metrics) {
    metrics = createMetrics(gw);
    gw.log.subscribe(metrics.observe);
    perGateway.set(gw, metrics);
  }
  return metrics;
}

/** GET /metrics: Prometheus text format (version 0.0.4), no credentials needed (see above). */
export function metricsRoutes(gw: Gateway) {
  const metrics = gatewayMetrics(gw);
  return new Elysia({ name: "metrics" })
    .get("/metrics", async () => new Response(await metrics.text(), { headers: { "content-type": metrics.contentType, "cache-control": "no-store" } }));
}
