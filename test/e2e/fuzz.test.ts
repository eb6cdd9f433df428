import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import { EventLog } from "../../events/log.ts";
import { cases, ENDPOINTS, type Case, type Endpoint } from "../fuzz/arbitraries.ts";
import { errorShape } from "../fuzz/dialects.ts";
import { post, rawExchange, type Outcome } from "../fuzz/http.ts";
import { KNOWN, skipKnown, STRICT, waived, waivedRequests, waiveKnown } from "../fuzz/known.ts";
import { judge, prototypeKeys } from "../fuzz/oracle.ts";
import { startFuzzUpstreams, type FuzzUpstreams } from "../fuzz/upstreams.ts";
import { startGateway, type TestGateway } from "../support/gateway.ts";

// Property-based fuzzing of every data-plane POST endpoint (RELIABILITY T04), over real HTTP
// against a real gateway whose providers (openai, anthropic, gemini) are fakes that count what
// reaches them. Bodies are valid ones mutated at the tree, text and byte level, or random JSON,
// text and bytes (test/fuzz/arbitraries.ts); each reply must be within the time bound, never a
// 5xx, JSON (or SSE for a valid stream) in the endpoint's dialect, exactly its error shape for a
// 4xx, and a refused body must not have reached an upstream (test/fuzz/oracle.ts). Afterwards the
// gateway still serves, no built-in prototype gained a key, and the event log is whole: gap-free
// seq, every event valid, every request.received with exactly one terminal event.
//
//   FUZZ_RUNS=10000   runs per endpoint (default 300; nightly 10 000)
//   FUZZ_SEED=123     base seed (default fixed, printed); endpoint i uses seed + i
//   FUZZ_KEEP_GOING=1 record every failing case and fail once at the end, instead of stopping
//                     at the first one and shrinking it
//   FUZZ_STRICT=1     no waivers for the known bugs of test/fuzz/known.ts
//   FUZZ_DUMP=dir     write each failing case's body to dir/N.body (with dir/N.txt saying what failed)
//   FUZZ_ONLY=text    only the endpoints whose path contains text
//   FUZZ_VERBOSE=1    a progress line (cases, memory) every 250 cases

const SEED = Number(process.env.FUZZ_SEED ?? 20_260_517);
const RUNS = Math.max(1, Number(process.env.FUZZ_RUNS ?? 300));
const KEEP_GOING = process.env.FUZZ_KEEP_GOING === "1";
const ONLY = process.env.FUZZ_ONLY;
const VERBOSE = process.env.FUZZ_VERBOSE === "1";
/** Per request: a few seconds, and a second more per MiB of body. */
const timeoutFor = (bytes: number) => 5_000 + Math.ceil(bytes / 1_048_576) * 1_000;
/** A test's own time limit: generous, the per-request bound is the real one. */
const TEST_MS = 60_000 + RUNS * 200;

let upstreams: FuzzUpstreams;
let gateway: TestGateway;
let prototypesBefore: string[];
let rssBefore = 0;

const stats = {
  cases: 0, by: new Map<string, number>(), s2xx: 0, s4xx: 0, s5xx: 0, timeouts: 0, upstream: 0,
  ms: [] as number[], requestIds: new Set<string>(), failures: [] as string[],
  slowest: { ms: 0, what: "" },
};

beforeAll(async () => {
  upstreams = startFuzzUpstreams();
  gateway = await startGateway(upstreams.config());
  prototypesBefore = prototypeKeys();
  rssBefore = process.memoryUsage().rss;
  console.log(`fuzz: seed ${SEED} (FUZZ_SEED), ${RUNS} runs per endpoint (FUZZ_RUNS)${KEEP_GOING ? ", keep going" : ""}${STRICT ? ", strict" : ""}`);
});

afterAll(async () => {
  await gateway?.close();
  await upstreams?.stop();
});

function tally(outcome: Outcome, upstreamCalls: number): void {
  stats.cases++;
  if (VERBOSE && stats.cases % 250 === 0) {
    const m = process.memoryUsage();
    const mb = (n: number) => `${Math.round(n / 1048576)} MiB`;
    const held = [upstreams.openai, upstreams.anthropic, upstreams.gemini].reduce((n, u) => n + u.seen.reduce((k, s) => k + s.body.length, 0), 0);
    console.log(`fuzz progress: ${stats.cases} cases, rss ${mb(m.rss)}, heap ${mb(m.heapUsed)}, external ${mb(m.external)}, upstream bodies held ${mb(held)}, log lines ${gateway.logs().length}`);
  }
  stats.upstream += upstreamCalls;
  if ("timeout" in outcome) stats.timeouts++;
  if (!("reply" in outcome)) return;
  const { status, ms, requestId } = outcome.reply;
  stats.ms.push(ms);
  if (requestId) stats.requestIds.add(requestId);
  const group = `${Math.floor(status / 100)}xx`;
  stats.by.set(`${status}`, (stats.by.get(`${status}`) ?? 0) + 1);
  if (group === "2xx") stats.s2xx++;
  else if (group === "4xx") stats.s4xx++;
  else if (group === "5xx") stats.s5xx++;
}

/**
 * Send one case, judge the reply, check that every upstream request asked for the model the
 * gateway says it used (x-sluice-model), and that no prototype gained a key.
 */
async function run(endpoint: Endpoint, c: Case, chunks: number): Promise<string[]> {
  if (skipKnown(endpoint, c)) return [];
  const before = upstreams.count();
  const marks = upstreams.marks();
  const findings = upstreams.findings.length;
  const outcome = await post(`${gateway.url}${c.path}`, c.bytes, c.contentType, { timeoutMs: timeoutFor(c.bytes.length), chunks });
  const calls = upstreams.count() - before;
  if (waiveKnown(endpoint, c, outcome)) return [];
  tally(outcome, calls);
  if ("reply" in outcome && outcome.reply.ms > stats.slowest.ms) {
    stats.slowest = { ms: outcome.reply.ms, what: `${c.label} ${c.path} ${c.bytes.length} bytes → ${outcome.reply.status}` };
  }
  const problems = judge(endpoint, c, outcome, calls);
  if ("reply" in outcome && outcome.reply.status < 300) {
    for (const seen of upstreams.modelsSince(marks)) {
      // Header values lose surrounding whitespace on the way (Fetch normalises them).
      if (seen.model?.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, "") !== outcome.reply.model) {
        problems.push(`the ${seen.upstream} upstream was asked for model ${JSON.stringify(seen.model)}, the gateway says ${JSON.stringify(outcome.reply.model)}: ${seen.body}`);
      }
    }
  }
  for (const f of upstreams.findings.slice(findings)) problems.push(`${f.upstream} upstream: ${f.problem} (${f.path}): ${f.body}`);
  upstreams.forget();
  const added = prototypeKeys().filter((k) => !prototypesBefore.includes(k));
  if (added.length > 0) problems.push(`built-in prototypes gained ${added.join(", ")}`);
  return problems;
}

function fail(c: Case, chunks: number, problems: string[]): void {
  const line = `${c.endpoint} | ${c.label}${chunks > 1 ? ` (chunked ×${chunks})` : ""} | ${problems.join(" ; ")}\n    POST ${c.path} [${c.contentType ?? "no content-type"}] ${c.preview}\n    replay: FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} FUZZ_ONLY='${c.endpoint}'`;
  stats.failures.push(line);
  const dump = process.env.FUZZ_DUMP;
  if (dump) {
    mkdirSync(dump, { recursive: true });
    writeFileSync(join(dump, `${stats.failures.length}.body`), c.bytes);
    writeFileSync(join(dump, `${stats.failures.length}.txt`), `${line}\n`);
  }
  if (!KEEP_GOING) throw new Error(line);
}

ENDPOINTS.forEach((endpoint, i) => {
  if (ONLY && !endpoint.name.includes(ONLY)) return;
  test(`fuzz ${endpoint.name}: never a 5xx, always its dialect, nothing upstream for a refused body`, async () => {
    // One case in five is sent chunked (no Content-Length): the body reader's other path.
    const chunking = fc.oneof({ weight: 4, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 5 }) });
    await fc.assert(
      fc.asyncProperty(cases(endpoint), chunking, async (c, chunks) => {
        const problems = await run(endpoint, c, chunks);
        if (problems.length > 0) fail(c, chunks, problems);
      }),
      { seed: SEED + i, numRuns: RUNS },
    );
  }, TEST_MS);
});

// Framing fetch will not send: bodies cut short by the connection, lengths that disagree,
// broken chunks. Bun's HTTP parser answers some of these itself (a bare 400, not in a dialect:
// it never reaches the gateway's code); whatever reaches the gateway must be answered in the
// dialect. Never a 5xx, and never a hang past the bound: the server either answers or closes.
test("framing: truncated by the connection, conflicting or broken lengths", async () => {
  const endpoints = fc.constantFrom(...ENDPOINTS);
  const framing = fc.record({
    endpoint: endpoints,
    valid: fc.integer({ min: 0, max: 1_000_000 }),
    cut: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
    how: fc.constantFrom("short-length", "short-chunked", "bad-chunk-size", "two-lengths", "length-and-chunked", "odd-length", "too-large", "control-in-header"),
  });
  const problems: string[] = [];
  const seen = new Map<string, Set<string>>();
  await fc.assert(
    fc.asyncProperty(framing, async ({ endpoint, valid, cut, how }) => {
      const { path, body } = fc.sample(endpoint.valid, { seed: valid, numRuns: 1 })[0]!;
      const bytes = new TextEncoder().encode(JSON.stringify(body));
      const part = bytes.subarray(0, Math.floor(cut * bytes.length));
      const start = `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${gateway.port}\r\nContent-Type: application/json\r\n`;
      const hex = (b: Uint8Array) => b.length.toString(16);
      let head: string;
      let rest: Uint8Array = new Uint8Array();
      switch (how) {
        case "short-length": // declares the whole body, sends a prefix, then nothing more
          head = `${start}Content-Length: ${bytes.length}\r\n\r\n`;
          rest = part;
          break;
        case "short-chunked": // a chunk shorter than its size, no last chunk
          head = `${start}Transfer-Encoding: chunked\r\n\r\n${hex(bytes)}\r\n`;
          rest = part;
          break;
        case "bad-chunk-size":
          head = `${start}Transfer-Encoding: chunked\r\n\r\nzz\r\n`;
          rest = Buffer.concat([bytes, Buffer.from("\r\n0\r\n\r\n")]);
          break;
        case "two-lengths":
          head = `${start}Content-Length: ${bytes.length}\r\nContent-Length: ${part.length}\r\n\r\n`;
          rest = bytes;
          break;
        case "length-and-chunked":
          head = `${start}Content-Length: ${part.length}\r\nTransfer-Encoding: chunked\r\n\r\n${hex(bytes)}\r\n`;
          rest = Buffer.concat([bytes, Buffer.from("\r\n0\r\n\r\n")]);
          break;
        case "odd-length":
          head = `${start}Content-Length: ${["-1", "abc", "1e3", " 12", "0x10", "18446744073709551617"][valid % 6]}\r\n\r\n`;
          rest = bytes;
          break;
        case "control-in-header": // Bun's parser answers a bare 400 and closes, before the gateway
          head = `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${gateway.port}\r\nContent-Type: application/json\u0001\r\nContent-Length: ${bytes.length}\r\n\r\n`;
          rest = bytes;
          break;
        case "too-large": // declared above the 32 MiB cap, nothing sent: a 413 at once, in the dialect
          head = `${start}Content-Length: ${32 * 1024 * 1024 + 1}\r\n\r\n`;
          break;
      }
      const reply = await rawExchange(gateway.port, head, rest, { end: how !== "too-large", timeoutMs: 5_000 });
      const what = `${how} POST ${path}: ${reply.status ?? "closed"} ${reply.body.slice(0, 200)}`;
      stats.cases++;
      seen.set(how, (seen.get(how) ?? new Set()).add(reply.timedOut ? "timeout" : String(reply.status ?? "closed")));
      if (reply.timedOut) problems.push(`no answer and no close within 5 s: ${what}`);
      if (reply.status === null) return;
      if (reply.status >= 500) problems.push(`server error: ${what}`);
      if (how === "too-large" && reply.status !== 413) problems.push(`expected 413: ${what}`);
      if (reply.status >= 400 && reply.status < 500) stats.s4xx++;
      // Bun's own parser errors are not JSON; the gateway's answers must be in the dialect.
      if (reply.headers["content-type"]?.startsWith("application/json")) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(reply.body);
        } catch {
          problems.push(`JSON content-type, body not JSON: ${what}`);
          return;
        }
        if (reply.status >= 400) {
          const wrong = errorShape(endpoint.dialect, reply.status, parsed);
          if (wrong) problems.push(`${wrong}: ${what}`);
        }
      }
    }),
    { seed: SEED, numRuns: Math.max(20, Math.ceil(RUNS / 10)) },
  );
  console.log(`fuzz framing: ${[...seen].map(([how, answers]) => `${how} → ${[...answers].sort().join("/")}`).join(", ")}`);
  expect(problems).toEqual([]);
}, TEST_MS);

// The largest bodies T04 names, once per endpoint: a 5 MiB string where each valid body's first
// string goes, and a 100 000-deep array beside its fields.
test("5 MiB strings and 100 000-deep arrays on every endpoint", async () => {
  const problems: string[] = [];
  for (const endpoint of ENDPOINTS) {
    const { path, body } = fc.sample(endpoint.valid, { seed: SEED, numRuns: 1 })[0]!;
    const text = JSON.stringify(body);
    const firstString = text.search(/:\s*"/);
    const quote = text.indexOf("\"", firstString) + 1;
    const huge = text.slice(0, quote) + "x".repeat(5 * 1024 * 1024) + text.slice(quote);
    const deep = `${text.slice(0, -1)},"deep":${"[".repeat(100_000)}${"]".repeat(100_000)}}`;
    for (const [label, bodyText, expected] of [["5 MiB string", huge, "any"], ["100 000-deep array", deep, "invalid"]] as const) {
      const c: Case = {
        endpoint: endpoint.name, path, bytes: new TextEncoder().encode(bodyText), contentType: "application/json", expect: expected, label,
        longRun: label === "5 MiB string" ? 5 * 1024 * 1024 : 0,
        preview: `${bodyText.slice(0, 80)}… (${bodyText.length} chars)`, [fc.toStringMethod]: () => label,
      };
      const found = await run(endpoint, c, 1);
      if (found.length > 0) problems.push(`${endpoint.name} ${label}: ${found.join(" ; ")}`);
    }
  }
  expect(problems).toEqual([]);
}, TEST_MS);

// What the fuzzer found and was fixed, pinned as plain examples (so a regression fails here by
// name, whatever the seed).
test("found by the fuzzer: invalid UTF-8 is refused; a duplicate model is rewritten where it counts; gzip is not inflated", async () => {
  const send = (path: string, body: Uint8Array | string) =>
    post(`${gateway.url}${path}`, typeof body === "string" ? new TextEncoder().encode(body) : body, "application/json", { timeoutMs: 5_000 })
      .then((o) => ("reply" in o ? o.reply : expect.fail(JSON.stringify(o))));
  const before = upstreams.count();
  // Invalid UTF-8 inside a string: it was decoded to U+FFFD and sent upstream.
  const bad = Buffer.concat([Buffer.from('{"model":"gpt-x","messages":[{"role":"user","content":"a'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}]}')]);
  for (const path of ["/v1/chat/completions", "/v1/messages/count_tokens", "/v1beta/models/gemini-x:generateContent"]) {
    const reply = await send(path, bad);
    expect(reply.status, reply.text).toBe(400);
    expect(reply.text).toContain("not valid UTF-8");
  }
  expect(upstreams.count()).toBe(before);

  // Two `model` keys: the gateway routes on the last (JSON.parse), and the upstream reads the
  // last, so the routed model must be written there, not into the first.
  for (const [path, body, upstream] of [
    ["/v1/chat/completions", '{"model":"gpt-x","messages":[{"role":"user","content":"hi"}],"model":"fuzz-oa"}', "openai"],
    ["/v1/messages", '{"model":"gpt-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"model":"fuzz-an"}', "anthropic"],
  ] as const) {
    const marks = upstreams.marks();
    const reply = await send(path, body);
    expect(reply.status, reply.text).toBe(200);
    expect(upstreams.modelsSince(marks)).toEqual([expect.objectContaining({ upstream, model: reply.model })]);
    upstreams.forget();
  }

  // Content-Encoding is not honoured: a gzip body (here 10 MiB of zeros in ~10 KiB) is bytes, not JSON.
  const bomb = Bun.gzipSync(new Uint8Array(10 * 1024 * 1024));
  const outcome = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: "POST", body: bomb, headers: { "content-type": "application/json", "content-encoding": "gzip" }, signal: AbortSignal.timeout(5_000),
  });
  expect(outcome.status).toBe(400);
  expect(errorShape("openai", outcome.status, await outcome.json())).toBeUndefined();
});

test("afterwards: still serving, no prototype pollution, the event log whole", async () => {
  const health = await fetch(`${gateway.url}/health`, { signal: AbortSignal.timeout(5_000) });
  expect(health.status).toBe(200);
  expect(prototypeKeys().filter((k) => !prototypesBefore.includes(k))).toEqual([]);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();

  // Requests cut off by the connection may still be finishing: wait for them, then read the log.
  for (let i = 0; i < 250 && gateway.gw.inFlight > 0; i++) await Bun.sleep(20);
  expect(gateway.gw.inFlight).toBe(0);
  gateway.gw.log.flush();
  const received = new Map<string, number>();
  const terminal = new Map<string, number>();
  let seq = 0;
  let gaps = 0;
  let invalidEvents = 0;
  let events = 0;
  for (const e of gateway.gw.log.all()) {
    events++;
    if (e.seq !== seq + 1) gaps++;
    seq = e.seq;
    if (!EventLog.validate(e)) invalidEvents++;
    const id = (e.data as { request?: string }).request;
    if (id === undefined) continue;
    if (e.type === "request.received") received.set(id, (received.get(id) ?? 0) + 1);
    if (e.type === "request.completed" || e.type === "request.failed" || e.type === "request.cancelled") terminal.set(id, (terminal.get(id) ?? 0) + 1);
  }
  // A waived reply's request carries its known bug into the log too (test/fuzz/known.ts).
  const open = (id: string) => !waivedRequests.has(id);
  const unfinished = [...received.keys()].filter((id) => terminal.get(id) !== 1 && open(id));
  const twice = [...received].filter(([id, n]) => n !== 1 && open(id)).map(([id]) => id);
  const orphans = [...terminal.keys()].filter((id) => !received.has(id) && open(id));
  const unlogged = [...stats.requestIds].filter((id) => !received.has(id));
  const timeline = (id: string) => gateway.gw.log.forRequest(id)
    .map((e) => `${e.type}${e.type === "request.failed" ? `(${(e.data as { status: number; message: string }).status} ${(e.data as { message: string }).message.slice(0, 60)})` : ""}`).join(" → ");
  for (const [what, ids] of [["unfinished", unfinished], ["received twice", twice], ["orphan terminal", orphans], ["answered, not logged", unlogged]] as const) {
    if (ids.length > 0) console.log(`event log: ${ids.length} ${what}, e.g.\n  ${ids.slice(0, 4).map((id) => `${id}: ${timeline(id)}`).join("\n  ")}`);
  }

  const sorted = [...stats.ms].sort((a, b) => a - b);
  const p99 = sorted[Math.floor(sorted.length * 0.99)] ?? 0;
  console.log(
    `fuzz summary: seed ${SEED}, ${stats.cases} cases (${RUNS} runs × ${ENDPOINTS.length} endpoints + framing + large), ` +
    `2xx ${stats.s2xx}, 4xx ${stats.s4xx}, 5xx ${stats.s5xx} (must be 0), timeouts ${stats.timeouts}, ` +
    `upstream requests ${stats.upstream}, statuses ${JSON.stringify(Object.fromEntries([...stats.by].sort()))}, ` +
    `p99 ${p99.toFixed(1)} ms, slowest ${stats.slowest.ms.toFixed(1)} ms (${stats.slowest.what}), ` +
    `rss ${Math.round(rssBefore / 1048576)} → ${Math.round(process.memoryUsage().rss / 1048576)} MiB (test and gateway), log ${events} events / ${received.size} requests, ` +
    `failures ${stats.failures.length}, upstream findings ${upstreams.findings.length}, ` +
    `known bugs waived ${JSON.stringify(Object.fromEntries(waived))}${STRICT ? " (strict)" : " (FUZZ_STRICT=1 to fail on them)"}`,
  );
  for (const known of KNOWN) if (waived.has(known.id)) console.log(`known bug ${known.id}: ${known.description}`);
  // What the gateway itself logged as errors (a 500 is logged with its cause).
  const errors = new Set(gateway.logs().filter((l) => (l.level as number) >= 50).map((l) => `${String(l.msg)}: ${String(l.err ?? "")}`));
  if (errors.size > 0) console.log(`gateway errors logged:\n  ${[...errors].slice(0, 20).join("\n  ")}`);
  if (stats.failures.length > 0) console.log(`fuzz failures:\n  ${[...new Set(stats.failures)].slice(0, 60).join("\n  ")}`);
  if (upstreams.findings.length > 0) console.log(`upstream findings:\n  ${upstreams.findings.slice(0, 30).map((f) => JSON.stringify(f)).join("\n  ")}`);

  expect({ gaps, invalidEvents, unfinished: unfinished.length, twice: twice.length, orphans: orphans.length, unlogged: unlogged.length })
    .toEqual({ gaps: 0, invalidEvents: 0, unfinished: 0, twice: 0, orphans: 0, unlogged: 0 });
  expect(upstreams.findings).toEqual([]);
  expect(stats.s5xx).toBe(0);
  expect(stats.failures).toEqual([]);
});
