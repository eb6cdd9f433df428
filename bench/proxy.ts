// Sluice proxy benchmark: `bun run bench` (= `bun bench/proxy.ts`).
//
// Prints throughput and added latency for four ways to reach the same fake upstream, measured in
// the same run: (a) direct, (b) a ~30-line Bun fetch proxy (bench/minimal-proxy.ts), (c) that
// proxy with Sluice's event log and live projections and nothing else (bench/logged-proxy.ts: what
// the log costs), (d) Sluice with its event log on (every request's events committed to
// events.db). Also the gateway's
// event-append rate read back from its events.db, and raw EventLog group-commit throughput.
//
// A benchmark, not a test: it prints figures (targets marked ✓/✗) and always exits 0.
// Each server runs as its own process; the load comes from this process as a closed loop of
// fetch calls for a fixed time. Figures go to bench/results/latest.json too.
//
// Knobs (env): BENCH_SECONDS (measured seconds per scenario, default 4), BENCH_WARMUP (default 1),
// BENCH_INFO=0 to skip the run with info logging, BENCH_PROFILE=DIR to write a CPU profile of
// the (silent-logging) gateway to DIR (markdown + .cpuprofile), BENCH_ONLY=nonstream,stream,latency,
// BENCH_SLUICE_ARGS="--preload FILE" (extra bun flags for the gateway, e.g. to stub a part out),
// BENCH_APPEND=0 to skip the raw EventLog runs, BENCH_STREAM_GAP=immediate for an upstream that
// yields between stream chunks (see bench/upstream-server.ts).

import { Database } from "bun:sqlite";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { RequestReceived } from "../events/catalog/request.ts";
import { EventLog, type Durability } from "../events/log.ts";

const ROOT = resolve(import.meta.dir, "..");
const BUN = process.execPath;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1);
const CHUNKS = 50;
const STREAM_GAP = process.env.BENCH_STREAM_GAP === "immediate" ? "immediate" : "none";
const ONLY = new Set((process.env.BENCH_ONLY ?? "latency,nonstream,stream").split(","));

const TARGETS = {
  nonStreamRatio: 0.8, // Sluice rps ≥ 0.8 × minimal proxy rps, non-streaming, 32 connections
  streamRatio: 0.8, // same, streaming (50 chunks), 8 connections
  addedP50Ms: 0.3, // Sluice p50 − direct p50 ≤ 0.3 ms at concurrency 1
};

// ---------------------------------------------------------------------------------------------
// Processes

const children = new Set<Subprocess>();
let tmp = "";

function killAll(): void {
  for (const child of children) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  children.clear();
}

function cleanup(): void {
  killAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  tmp = "";
}

process.on("SIGINT", () => {
  cleanup();
  process.exit(130);
});
process.on("SIGTERM", () => {
  cleanup();
  process.exit(143);
});

/** Spawn a bench server that prints "PORT n"; resolve with its port. */
async function spawnWithPort(args: string[], name: string): Promise<{ proc: Subprocess<"ignore", "pipe", "pipe">; port: number }> {
  const proc = Bun.spawn([BUN, ...args], { cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  children.add(proc);
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const result = await Promise.race([reader.read(), Bun.sleep(deadline - Date.now()).then(() => undefined)]);
    if (!result || result.done) break;
    text += decoder.decode(result.value, { stream: true });
    const match = /PORT (\d+)/.exec(text);
    if (match) {
      reader.releaseLock();
      return { proc, port: Number(match[1]) };
    }
  }
  throw new Error(`${name} did not start: ${text} ${await new Response(proc.stderr).text().catch(() => "")}`);
}

async function freePort(): Promise<number> {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port!;
  await probe.stop(true);
  return port;
}

async function waitHealthy(url: string, what: string, stderrFile?: string, proc?: Subprocess): Promise<void> {
  for (let i = 0; i < 200 && proc?.exitCode == null; i++) {
    try {
      const response = await fetch(`${url}/health`);
      if (response.ok) {
        await response.arrayBuffer();
        return;
      }
    } catch {
      // not up yet
    }
    await Bun.sleep(50);
  }
  const err = stderrFile ? readFileSync(stderrFile, "utf8").slice(0, 2000) : "";
  throw new Error(`${what} never answered ${url}/health ${err}`);
}

interface Gateway {
  proc: Subprocess;
  url: string;
  dataDir: string;
  dbPath: string;
}

async function startSluice(upstreamPort: number, name: string, level: string, options: { profileDir?: string } = {}): Promise<Gateway> {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const dataDir = join(dir, "data");
  const configPath = join(dir, "sluice.yaml");
  writeFileSync(configPath, `server:
  host: 127.0.0.1
  port: ${port}
durability: normal
log:
  level: ${level}
providers:
  - id: up
    kind: openai
    base_url: http://127.0.0.1:${upstreamPort}/v1
    api_key: sk-bench-provider-key
    models: [m]
`);
  const stderrFile = join(dir, "stderr.txt");
  const profile = options.profileDir
    ? ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${options.profileDir}`, `--cpu-prof-name=sluice-${name}`]
    : [];
  const extra = (process.env.BENCH_SLUICE_ARGS ?? "").split(/\s+/).filter(Boolean);
  const proc = Bun.spawn([BUN, ...profile, ...extra, "sluice.ts", "serve", "--config", configPath, "--port", String(port), "--data", dataDir], {
    cwd: ROOT,
    stdin: "ignore",
    stdout: "ignore", // /dev/null: the info-logging run writes its lines there
    stderr: Bun.file(stderrFile),
  });
  children.add(proc);
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url, `sluice (${name})`, stderrFile, proc);
  return { proc, url, dataDir, dbPath: join(dataDir, "events.db") };
}

/**
 * SIGTERM, then SIGKILL if it lingers. A profiled gateway gets 35 s to exit on its own, so the
 * profile is written: `sluice serve` keeps its 30 s drain timer alive after a clean stop.
 */
async function stopProc(proc: Subprocess, graceMs = 2000): Promise<void> {
  proc.kill("SIGTERM");
  const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
  if (!exited) proc.kill("SIGKILL");
  children.delete(proc);
}

// ---------------------------------------------------------------------------------------------
// Load

const HEADERS = { "content-type": "application/json", authorization: "Bearer sk-bench-client" };
const NON_STREAM_BODY = JSON.stringify({ model: "m", messages: [{ role: "user", content: "Say hello." }] });
// The client asks for usage itself, so every path sends the upstream the same request.
const STREAM_BODY = JSON.stringify({ model: "m", stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "Say hello." }] });

interface LoadResult {
  concurrency: number;
  seconds: number;
  ok: number;
  errors: number;
  rps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  mean_ms: number;
  firstError?: string;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

async function oneRequest(url: string, stream: boolean): Promise<string | undefined> {
  const response = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: HEADERS, body: stream ? STREAM_BODY : NON_STREAM_BODY });
  const text = await response.text(); // the whole body, streamed or not
  if (response.status !== 200) return `HTTP ${response.status}: ${text.slice(0, 200)}`;
  if (stream ? !text.endsWith("data: [DONE]\n\n") : !text.includes("\"choices\"")) return `bad body: ${text.slice(-200)}`;
  return undefined;
}

/** A closed loop: `concurrency` workers, each sending its next request when the last one ends. */
async function runLoad(url: string, stream: boolean, concurrency: number, seconds: number, record = true): Promise<LoadResult> {
  const latencies: number[] = [];
  let ok = 0;
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const end = start + seconds * 1000;
  const worker = async () => {
    // Bounded: time-limited, and at most 10M requests per worker whatever the clock does.
    for (let n = 0; n < 10_000_000 && performance.now() < end; n++) {
      const t0 = performance.now();
      let problem: string | undefined;
      try {
        problem = await oneRequest(url, stream);
      } catch (error) {
        problem = (error as Error).message;
      }
      const ms = performance.now() - t0;
      if (problem) {
        errors++;
        firstError ??= problem;
        if (errors > 1000) return; // something is broken: stop hammering it
      } else {
        ok++;
        if (record) latencies.push(ms);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - start) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  const mean = latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : NaN;
  return {
    concurrency, seconds: elapsed, ok, errors, rps: ok / elapsed,
    p50_ms: percentile(sorted, 50), p90_ms: percentile(sorted, 90), p99_ms: percentile(sorted, 99), mean_ms: mean,
    ...(firstError ? { firstError } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// The gateway's events.db, read from outside (WAL: a reader never blocks the writer)

interface DbCounts {
  seq: number;
  completed: number;
  received: number;
}

function dbCounts(dbPath: string): DbCounts {
  const db = new Database(dbPath, { readonly: true });
  try {
    const row = db.query(`SELECT coalesce(max(seq), 0) AS seq,
      (SELECT count(*) FROM events WHERE type = 'request.completed') AS completed,
      (SELECT count(*) FROM events WHERE type = 'request.received') AS received FROM events`).get() as DbCounts;
    return row;
  } finally {
    db.close();
  }
}

interface Measured extends LoadResult {
  events?: number;
  events_per_s?: number;
  events_per_request?: number;
  /** Requests answered during the warm-up (not in the figures). */
  warmup_ok: number;
  /** CPU time per answered request, µs, of each process in the path ("proxy" is minimal or Sluice). */
  cpu_us_per_request: Record<string, number>;
  /** Cores busy on average, per process. */
  cpu_cores: Record<string, number>;
  /** Sluice only: what its event log cost per answered request, from its /metrics. */
  event_log?: { write_us_per_request: number; listener_us_per_request: number; events_per_commit: number };
}

/** The event log's own counters, from a gateway's /metrics. */
async function logStats(url: string): Promise<{ commits: number; events: number; write: number; listeners: number } | undefined> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
    return {
      commits: read("sluice_event_log_commits_total"),
      events: read("sluice_event_log_committed_events_total"),
      write: read("sluice_event_log_write_seconds_total"),
      listeners: read("sluice_event_log_listener_seconds_total"),
    };
  } catch {
    return undefined;
  }
}

/** User + system CPU time of a process so far, ms (from /proc; 10 ms resolution). */
function cpuMs(pid: number): number {
  if (pid === process.pid) {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1000;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10; // clock ticks of 10 ms (CLK_TCK 100)
  } catch {
    return NaN;
  }
}

/** Warm up, then measure; for Sluice, also count the events its log appended meanwhile. */
/** `gateway`: the path is Sluice, whose /metrics tells what its event log cost. */
async function scenario(url: string, stream: boolean, concurrency: number, pids: Record<string, number>, dbPath?: string, gateway = false): Promise<Measured> {
  const warm = await runLoad(url, stream, concurrency, WARMUP, false);
  const before = dbPath ? dbCounts(dbPath) : undefined;
  const statsBefore = gateway ? await logStats(url) : undefined;
  const cpuBefore = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuMs(pid)]));
  const load = await runLoad(url, stream, concurrency, SECONDS);
  const cpu_us_per_request: Record<string, number> = {};
  const cpu_cores: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) {
    const used = cpuMs(pid) - cpuBefore[name]!;
    cpu_us_per_request[name] = load.ok ? (used * 1000) / load.ok : NaN;
    cpu_cores[name] = used / 1000 / load.seconds;
  }
  const result: Measured = { ...load, warmup_ok: warm.ok, cpu_us_per_request, cpu_cores };
  if (dbPath && before) {
    const after = dbCounts(dbPath);
    result.events = after.seq - before.seq;
    result.events_per_s = result.events / result.seconds;
    result.events_per_request = result.ok ? result.events / result.ok : NaN;
  }
  const statsAfter = statsBefore ? await logStats(url) : undefined;
  if (statsBefore && statsAfter && load.ok) {
    result.event_log = {
      write_us_per_request: ((statsAfter.write - statsBefore.write) * 1e6) / load.ok,
      listener_us_per_request: ((statsAfter.listeners - statsBefore.listeners) * 1e6) / load.ok,
      events_per_commit: (statsAfter.events - statsBefore.events) / Math.max(1, statsAfter.commits - statsBefore.commits),
    };
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Raw EventLog group-commit throughput (in this process, with the servers stopped)

interface AppendResult {
  durability: Durability;
  appenders: number;
  appends: number;
  commits: number;
  seconds: number;
  appends_per_s: number;
  commits_per_s: number;
  mean_batch: number;
}

async function appendBench(durability: Durability, appenders: number, seconds: number): Promise<AppendResult> {
  const path = join(tmp, `append-${durability}-${appenders}.db`);
  const log = EventLog.open(path, { durability });
  let appends = 0;
  let commits = 0;
  let lastBatch: Promise<void> | undefined;
  let n = 0;
  const run = async (until: number, count: boolean) => {
    const worker = async () => {
      for (let i = 0; i < 100_000_000 && performance.now() < until; i++) {
        const committed = log.commit(RequestReceived, {
          request: `req_${n++}`, dialect: "openai-chat", endpoint: "/v1/chat/completions", model: "m", stream: false, candidates: ["p/m"],
        });
        // Appends to one batch share its promise: a new promise is a new group commit.
        if (count && committed !== lastBatch) {
          lastBatch = committed;
          commits++;
        }
        await committed;
        if (count) appends++;
      }
    };
    await Promise.all(Array.from({ length: appenders }, worker));
  };
  await run(performance.now() + 200, false);
  const start = performance.now();
  await run(start + seconds * 1000, true);
  const elapsed = (performance.now() - start) / 1000;
  log.close();
  return {
    durability, appenders, appends, commits, seconds: elapsed,
    appends_per_s: appends / elapsed, commits_per_s: commits / elapsed, mean_batch: commits ? appends / commits : NaN,
  };
}

// ---------------------------------------------------------------------------------------------
// Output

const fmt = (n: number | undefined, digits = 0) => (n === undefined || Number.isNaN(n) ? "-" : n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }));
const ms = (n: number | undefined) => fmt(n, 3);
const mark = (pass: boolean) => (pass ? "✓" : "✗");

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

function loadRow(name: string, r: Measured | undefined, base?: Measured): string[] {
  if (!r) return [name, "-", "-", "-", "-", "-", "-", "-", "-", "-"];
  const cpu = r.cpu_us_per_request;
  return [
    name, fmt(r.rps), base ? `${fmt(r.rps / base.rps, 2)}x` : "", ms(r.p50_ms), ms(r.p99_ms), fmt(r.ok), fmt(r.errors),
    cpu.proxy !== undefined ? `${fmt(cpu.proxy)} (${fmt(r.cpu_cores.proxy, 2)})` : "",
    `${fmt(cpu.upstream)} / ${fmt(cpu.bench)}`,
    r.events_per_s !== undefined ? `${fmt(r.events_per_s)} (${fmt(r.events_per_request, 2)}/req)` : "",
  ];
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  tmp = mkdtempSync(join(tmpdir(), "sluice-bench-"));
  const startedAt = new Date();
  const t0 = performance.now();
  console.log(`Sluice proxy benchmark — bun ${Bun.version}, ${navigator.hardwareConcurrency} cores, ${SECONDS}s per scenario after ${WARMUP}s warm-up`);
  console.log(`upstream: fake OpenAI in its own process; streaming responses carry ${CHUNKS} content chunks (gap between chunks: ${STREAM_GAP})\n`);

  const upstream = await spawnWithPort(["bench/upstream-server.ts", "0", String(CHUNKS), STREAM_GAP], "upstream");
  const direct = `http://127.0.0.1:${upstream.port}`;
  const minimal = await spawnWithPort(["bench/minimal-proxy.ts", "0", direct], "minimal proxy");
  const minimalUrl = `http://127.0.0.1:${minimal.port}`;
  // The minimal proxy with Sluice's event log and projections and nothing else: what the log costs.
  const loggedDir = join(tmp, "logged");
  mkdirSync(loggedDir, { recursive: true });
  const logged = await spawnWithPort(["bench/logged-proxy.ts", "0", direct, loggedDir], "minimal proxy + event log");
  const loggedUrl = `http://127.0.0.1:${logged.port}`;
  const profileDir = process.env.BENCH_PROFILE ? resolve(process.env.BENCH_PROFILE) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  let sluice = await startSluice(upstream.port, "silent", "silent", profileDir ? { profileDir } : {});
  await waitHealthy(direct, "upstream");
  await waitHealthy(minimalUrl, "minimal proxy");
  await waitHealthy(loggedUrl, "minimal proxy + event log");

  // Every path must answer correctly before it is timed.
  for (const [name, url] of [["direct", direct], ["minimal", minimalUrl], ["logged", loggedUrl], ["sluice", sluice.url]] as const) {
    for (const stream of [false, true]) {
      const problem = await oneRequest(url, stream);
      if (problem) throw new Error(`${name} ${stream ? "stream" : "non-stream"} smoke request failed: ${problem}`);
    }
  }

  const paths = [["direct", direct], ["minimal", minimalUrl], ["logged", loggedUrl], ["sluice", sluice.url]] as const;
  const results: Record<string, Record<string, Measured>> = { latency: {}, nonstream: {}, stream: {} };
  const plan = [
    ["latency", false, 1],
    ["nonstream", false, 32],
    ["stream", true, 8],
  ] as const;
  for (const [key, stream, concurrency] of plan) {
    if (!ONLY.has(key)) continue;
    for (const [name, url] of paths) {
      process.stdout.write(`  running ${key.padEnd(9)} c=${String(concurrency).padEnd(2)} ${name.padEnd(8)}… `);
      const proxyPid = name === "sluice" ? sluice.proc.pid : name === "minimal" ? minimal.proc.pid : name === "logged" ? logged.proc.pid : undefined;
      const pids = { bench: process.pid, upstream: upstream.proc.pid, ...(proxyPid ? { proxy: proxyPid } : {}) };
      const r = await scenario(url, stream, concurrency, pids, name === "sluice" ? sluice.dbPath : name === "logged" ? join(loggedDir, "events.db") : undefined, name === "sluice");
      results[key]![name] = r;
      console.log(`${fmt(r.rps)} req/s, p50 ${ms(r.p50_ms)} ms${r.errors ? `, ${r.errors} errors (${r.firstError})` : ""}`);
    }
  }

  // Durability check: every request Sluice answered has its terminal event in events.db.
  await Bun.sleep(50);
  const sentToSluice = 2 + [...Object.values(results)].reduce((sum, byPath) => sum + (byPath.sluice ? byPath.sluice.ok + byPath.sluice.warmup_ok : 0), 0);
  const finalCounts = dbCounts(sluice.dbPath);
  if (profileDir) console.log(`  waiting for the profiled gateway to exit (up to 35 s) so its profile is written…`);
  await stopProc(sluice.proc, profileDir ? 35_000 : 2000);

  // A second gateway with info logging (one JSON line per request, to /dev/null).
  const info: Record<string, Measured> = {};
  if (process.env.BENCH_INFO !== "0") {
    sluice = await startSluice(upstream.port, "info", "info");
    for (const [key, stream, concurrency] of plan.slice(1)) {
      if (!ONLY.has(key)) continue;
      process.stdout.write(`  running ${key.padEnd(9)} c=${String(concurrency).padEnd(2)} sluice (log level info)… `);
      info[key] = await scenario(sluice.url, stream, concurrency, { bench: process.pid, upstream: upstream.proc.pid, proxy: sluice.proc.pid }, sluice.dbPath, true);
      console.log(`${fmt(info[key]!.rps)} req/s`);
    }
    await stopProc(sluice.proc);
  }
  await stopProc(minimal.proc);
  await stopProc(logged.proc);
  await stopProc(upstream.proc);

  // Raw EventLog throughput, with the servers gone.
  const appends: AppendResult[] = [];
  for (const durability of process.env.BENCH_APPEND === "0" ? [] : ["normal", "full"] as const) {
    for (const appenders of [1, 32]) {
      process.stdout.write(`  running EventLog.commit durability=${durability} appenders=${appenders}… `);
      const r = await appendBench(durability, appenders, 1.5);
      appends.push(r);
      console.log(`${fmt(r.appends_per_s)} events/s`);
    }
  }

  // ------------------------------------------------------------------ report
  const lat = results.latency!;
  const ns = results.nonstream!;
  const st = results.stream!;
  const addedP50 = lat.sluice && lat.direct ? lat.sluice.p50_ms - lat.direct.p50_ms : NaN;
  const minimalAddedP50 = lat.minimal && lat.direct ? lat.minimal.p50_ms - lat.direct.p50_ms : NaN;
  const nsRatio = ns.sluice && ns.minimal ? ns.sluice.rps / ns.minimal.rps : NaN;
  const stRatio = st.sluice && st.minimal ? st.sluice.rps / st.minimal.rps : NaN;

  const headers = ["path", "req/s", "vs minimal", "p50 ms", "p99 ms", "requests", "errors", "proxy CPU µs/req (cores)", "upstream / client µs/req", "events/s appended"];
  const section = (title: string, byPath: Record<string, Measured>) => {
    console.log(`\n${title}`);
    console.log(table(headers, [
      loadRow("direct", byPath.direct, byPath.minimal),
      loadRow("minimal proxy", byPath.minimal, byPath.minimal),
      loadRow("minimal + log", byPath.logged, byPath.minimal),
      loadRow("sluice", byPath.sluice, byPath.minimal),
      ...(byPath === ns && info.nonstream ? [loadRow("sluice (info log)", info.nonstream, byPath.minimal)] : []),
      ...(byPath === st && info.stream ? [loadRow("sluice (info log)", info.stream, byPath.minimal)] : []),
    ]));
  };
  console.log("\n================================================================================");
  if (ONLY.has("latency")) section("Latency, non-streaming, concurrency 1", lat);
  if (ONLY.has("nonstream")) section("Throughput, non-streaming, 32 concurrent connections", ns);
  if (ONLY.has("stream")) section(`Throughput, streaming (${CHUNKS} chunks), 8 concurrent connections`, st);

  console.log("\nCPU columns: CPU time of that process per answered request; (cores) = its average busy cores.");
  console.log(`The machine has ${navigator.hardwareConcurrency} cores shared by client, upstream and proxy.`);

  console.log("\nAdded latency at concurrency 1 (p50 over direct)");
  const loggedAddedP50 = lat.logged && lat.direct ? lat.logged.p50_ms - lat.direct.p50_ms : NaN;
  console.log(`  minimal proxy  ${ms(minimalAddedP50)} ms`);
  console.log(`  minimal + log  ${ms(loggedAddedP50)} ms   (the event log: ${ms(loggedAddedP50 - minimalAddedP50)} ms)`);
  console.log(`  sluice         ${ms(addedP50)} ms   (sluice − minimal: ${ms(addedP50 - minimalAddedP50)} ms)`);

  console.log("\nSluice event log (its events.db, durability normal)");
  console.log(`  requests answered ${fmt(sentToSluice)}, request.received ${fmt(finalCounts.received)}, request.completed ${fmt(finalCounts.completed)}, events ${fmt(finalCounts.seq)}  ${mark(finalCounts.completed === sentToSluice && finalCounts.received === sentToSluice)} every answered request logged`);
  // Its share of the gateway's work (its /metrics: time in SQLite transactions, time in listeners).
  for (const [label, r] of [["latency c=1", lat.sluice], ["non-streaming c=32", ns.sluice], ["streaming c=8", st.sluice]] as const) {
    const log = r?.event_log;
    const cpu = r?.cpu_us_per_request.proxy;
    if (!log || cpu === undefined) continue;
    const share = (us: number) => `${fmt(us, 1)} µs (${fmt((100 * us) / cpu, 0)}%)`;
    console.log(`  ${label.padEnd(19)} per request: commits ${share(log.write_us_per_request)}, listeners (projections, metrics) ${share(log.listener_us_per_request)} of ${fmt(cpu, 0)} µs gateway CPU; ${fmt(log.events_per_commit, 1)} events/commit`);
  }

  console.log("\nEventLog.commit raw group-commit throughput (RequestReceived events)");
  console.log(table(["durability", "appenders", "events/s", "commits/s", "events/commit"], appends.map((a) => [
    a.durability, String(a.appenders), fmt(a.appends_per_s), fmt(a.commits_per_s), fmt(a.mean_batch, 1),
  ])));

  const checks = [
    { name: `non-streaming c=32: sluice ≥ ${TARGETS.nonStreamRatio}x minimal proxy req/s`, value: `${fmt(nsRatio, 2)}x`, pass: nsRatio >= TARGETS.nonStreamRatio },
    { name: `streaming c=8 (${CHUNKS} chunks): sluice ≥ ${TARGETS.streamRatio}x minimal proxy req/s`, value: `${fmt(stRatio, 2)}x`, pass: stRatio >= TARGETS.streamRatio },
    { name: `added p50 latency over direct at c=1 ≤ ${TARGETS.addedP50Ms} ms`, value: `${ms(addedP50)} ms`, pass: addedP50 <= TARGETS.addedP50Ms },
  ];
  console.log("\nTargets (events durably logged for every request)");
  for (const c of checks) console.log(`  ${mark(c.pass)} ${c.name.padEnd(62)} measured ${c.value}`);
  // The same three figures for the minimal proxy with the event log alone: how far the log gets without the rest.
  const loggedRatio = (byPath: Record<string, Measured>) => (byPath.logged && byPath.minimal ? byPath.logged.rps / byPath.minimal.rps : NaN);
  console.log(`  (minimal + log, the event log alone: ${fmt(loggedRatio(ns), 2)}x, ${fmt(loggedRatio(st), 2)}x, ${ms(loggedAddedP50)} ms)`);
  const seconds = (performance.now() - t0) / 1000;
  console.log(`\n(bench took ${fmt(seconds, 1)} s; a benchmark, not a test: the exit code is 0 whatever the figures)`);

  const outDir = join(ROOT, "bench", "results");
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "latest.json"), `${JSON.stringify({
    started_at: startedAt.toISOString(),
    bun: Bun.version,
    cores: navigator.hardwareConcurrency,
    seconds_per_scenario: SECONDS,
    warmup_seconds: WARMUP,
    stream_chunks: CHUNKS,
    stream_gap: STREAM_GAP,
    latency_c1: lat,
    nonstream_c32: ns,
    stream_c8: st,
    sluice_info_logging: info,
    added_p50_ms: { sluice: addedP50, minimal: minimalAddedP50, minimal_with_log: loggedAddedP50 },
    ratios: { nonstream_c32: nsRatio, stream_c8: stRatio, minimal_with_log: { nonstream_c32: ns.logged && ns.minimal ? ns.logged.rps / ns.minimal.rps : null, stream_c8: st.logged && st.minimal ? st.logged.rps / st.minimal.rps : null } },
    event_log: { answered: sentToSluice, ...finalCounts },
    event_log_append: appends,
    targets: TARGETS,
    checks,
    bench_seconds: seconds,
  }, null, 2)}\n`);
  console.log(`figures written to bench/results/latest.json`);
}

try {
  await main();
} catch (error) {
  console.error(`bench failed: ${(error as Error)?.stack ?? String(error)}`);
} finally {
  cleanup();
}
process.exit(0);
