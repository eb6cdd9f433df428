import { join } from "node:path";
import { Elysia } from "elysia";
import { createParser } from "eventsource-parser";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { PluginUnloaded } from "../../events/catalog/plugin.ts";
import { AttemptStarted, RequestCancelled, RequestCompleted, RequestFailed, RequestReceived } from "../../events/catalog/request.ts";
import { ServerStarted } from "../../events/catalog/server.ts";
import type { EventRecord } from "../../events/define.ts";
import { EventLog } from "../../events/log.ts";
import { fold } from "../../events/projections/projection.ts";
import { matches, requestsProjection, type RequestFilter } from "../../events/projections/requests.ts";
import { apiLogRoutes, listRequests, SCAN_SEQS } from "../../core/server/api-log.ts";
import { startFakeUpstream, streamText, type FakeUpstream } from "../support/fake-upstream.ts";
import { oneProvider, startGateway, tempDir, type TestGateway } from "../support/gateway.ts";

// The request log and the event log over HTTP (SPEC §4): a real gateway, a real fake upstream,
// a mix of requests (answered, failed after a fallback, failed, refused, cancelled, streamed),
// then the list's filters and pages, raw events by seq, and the live tail as SSE.

const ADMIN = "admin-key-api-log-0123456789abcdef";

let up: FakeUpstream;
let g: TestGateway;
/** Where /api/requests and /api/events answer: the gateway itself once app.ts mounts them, else an app beside it. */
let base: string;
let stopBeside: (() => void) | undefined;
const ids: Record<string, string> = {};

const encoder = new TextEncoder();
const behaviour = (seen: { json: Record<string, unknown> }) => {
  const model = seen.json.model;
  if (model === "flaky") return Response.json({ error: { message: "busy" } }, { status: 503 });
  if (model === "broken") return Response.json({ error: { message: "boom" } }, { status: 500 });
  if (model === "slow") {
    // One piece, then nothing until the client leaves.
    return new Response(new ReadableStream({
      start(controller) {
        controller.enqueue(encoder.encode(streamText(["first "], { done: false, finish: false })));
      },
    }), { headers: { "content-type": "text/event-stream" } });
  }
  const stream = seen.json.stream === true;
  if (stream) return new Response(streamText(["a", "b"], { model: String(model), usage: { prompt_tokens: 3, completion_tokens: 2 } }), { headers: { "content-type": "text/event-stream" } });
  return Response.json({
    id: "x", object: "chat.completion", created: 1, model,
    choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
    usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
  });
};

let callerKey: string | undefined;
async function chat(model: string, extra: Record<string, unknown> = {}): Promise<Response> {
  return fetch(`${g.url}/v1/chat/completions`, {
    method: "POST",
    headers: callerKey ? { authorization: `Bearer ${callerKey}` } : {},
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], ...extra }),
  });
}
async function send(name: string, model: string, extra: Record<string, unknown> = {}): Promise<string> {
  const response = await chat(model, extra);
  await response.text();
  ids[name] = response.headers.get("x-sluice-request-id")!;
  return ids[name]!;
}

const api = (path: string, init: RequestInit & { key?: string | null } = {}) => fetch(`${base}/api${path}`, {
  ...init, headers: { ...(init.key === null ? {} : { authorization: `Bearer ${init.key ?? ADMIN}` }), ...(init.headers as Record<string, string> ?? {}) },
});
interface Row { id: string; seq: number; [field: string]: unknown }
interface List { object: string; data: Row[]; next_cursor: string | null }
const list = async (query: string): Promise<List> => {
  const response = await api(`/requests${query}`);
  expect(response.status).toBe(200);
  return response.json() as Promise<List>;
};
const listIds = async (query: string) => (await list(query)).data.map((r) => r.id);
const listeners = () => g.gw.log["listeners"].size;

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await Bun.sleep(10);
  }
}

beforeAll(async () => {
  up = startFakeUpstream(behaviour);
  g = await startGateway(`
admin_key: ${ADMIN}
providers:
  - { id: p, kind: openai, base_url: "${up.url}", api_key: sk-p-0123456789, models: [m, m2, flaky, broken, slow] }
  - { id: q, kind: openai, base_url: "${up.url}", api_key: sk-q-0123456789, models: [m] }
routes:
  - { name: smart, targets: [p/flaky, q/m] }
`);
  const probe = await fetch(`${g.url}/api/events?limit=1`, { headers: { authorization: `Bearer ${ADMIN}` } });
  if (probe.status === 404) {
    const beside = new Elysia().use(apiLogRoutes(g.gw)).listen({ hostname: "127.0.0.1", port: 0 });
    base = `http://127.0.0.1:${beside.server!.port}`;
    stopBeside = () => void beside.stop(true);
  } else base = g.url;

  await send("ok1", "p/m");
  await send("ok2", "p/m");
  await send("streamed", "p/m2", { stream: true, stream_options: { include_usage: true } });
  await Bun.sleep(5);
  ids.beforeFallback = String(Date.now());
  await send("fallback", "smart");
  ids.afterFallback = String(Date.now());
  await Bun.sleep(5);
  await send("broken", "p/broken");
  await send("refused", "no-such-model");
  // A stream the client leaves after its first piece.
  const slow = await chat("p/slow", { stream: true });
  ids.cancelled = slow.headers.get("x-sluice-request-id")!;
  const reader = slow.body!.getReader();
  await reader.read();
  await reader.cancel();
  await until(() => g.gw.log.forRequest(ids.cancelled!).some((e) => e.type === "request.cancelled"));
}, 30_000);

afterAll(async () => {
  stopBeside?.();
  await g?.close();
  await up?.stop();
});

describe("GET /api/requests", () => {
  test("rows: route, attempts, fallbacks, the target that answered, status, outcome, timings, usage", async () => {
    const { data, next_cursor } = await list("");
    expect(next_cursor).toBeNull();
    const mix = ["ok1", "ok2", "streamed", "fallback", "broken", "refused", "cancelled"].map((n) => ids[n]);
    expect(data.map((r) => r.id)).toEqual(mix.reverse());
    const row = (name: string) => data.find((r) => r.id === ids[name])!;
    expect(row("fallback")).toMatchObject({
      dialect: "openai-chat", endpoint: "/v1/chat/completions", model: "smart", stream: false, caller: null,
      route: "smart", strategy: "priority", target: "q/m", provider: "q", attempts: 2, fallbacks: 1, retries: 0,
      status: 200, outcome: "completed", reason: null, usage: { input_tokens: 3, output_tokens: 2 },
    });
    expect(row("fallback").ttfb_ms).toBeGreaterThan(0);
    expect(row("fallback").total_ms).toBeGreaterThanOrEqual(row("fallback").ttfb_ms as number);
    expect(row("fallback").at).toBeGreaterThan(1_700_000_000_000);
    expect(row("streamed")).toMatchObject({ stream: true, outcome: "completed", status: 200, target: "p/m2", usage: { input_tokens: 3, output_tokens: 2 } });
    expect(row("broken")).toMatchObject({ outcome: "failed", status: 502, reason: "upstream_error", target: "p/broken", attempts: 1, fallbacks: 0 });
    expect(row("refused")).toMatchObject({ outcome: "failed", status: 404, reason: "model_not_found", target: null, attempts: 0, route: null });
    expect(row("cancelled")).toMatchObject({ outcome: "cancelled", status: 499, stream: true, target: "p/slow" });
    // Every field is there, null when unknown.
    expect(Object.keys(row("refused")).sort()).toEqual([
      "alias", "at", "attempts", "cached", "caller", "cost_usd", "dialect", "endpoint", "fallbacks", "id", "model", "outcome", "provider", "reason",
      "retries", "route", "seq", "status", "stream", "strategy", "target", "tier", "total_ms", "ttfb_ms", "usage",
    ].sort());
  });

  test("filters: model, target, provider, route, status (exact, class, error), outcome, stream, since/until, combined", async () => {
    const of = (...names: string[]) => names.map((n) => ids[n]);
    expect(await listIds("?model=smart")).toEqual(of("fallback"));
    expect(await listIds("?model=p/m")).toEqual(of("ok2", "ok1"));
    expect(await listIds("?target=q/m")).toEqual(of("fallback"));
    expect(await listIds("?provider=q")).toEqual(of("fallback"));
    expect(await listIds("?route=smart")).toEqual(of("fallback"));
    expect(await listIds("?status=502")).toEqual(of("broken"));
    expect(await listIds("?status=5xx")).toEqual(of("broken"));
    expect(await listIds("?status=4xx")).toEqual(of("cancelled", "refused"));
    expect(await listIds("?status=error")).toEqual(of("cancelled", "refused", "broken"));
    expect(await listIds("?outcome=cancelled")).toEqual(of("cancelled"));
    expect(await listIds("?outcome=failed")).toEqual(of("refused", "broken"));
    expect(await listIds("?outcome=interrupted")).toEqual([]);
    expect(await listIds("?stream=true")).toEqual(of("cancelled", "streamed"));
    expect(await listIds("?stream=false&outcome=completed&model=p/m")).toEqual(of("ok2", "ok1"));
    const since = new Date(Number(ids.beforeFallback)).toISOString();
    expect(await listIds(`?since=${since}&until=${ids.afterFallback}`)).toEqual(of("fallback"));
    expect(await listIds("?model=nobody")).toEqual([]);
  });

  test("pages: no duplicates and no misses while new requests arrive between pages", async () => {
    const before = await listIds("?limit=200");
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: List = await list(`?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((r) => r.id));
      cursor = page.next_cursor;
      pages++;
      await send(`arrived${pages}`, "p/m"); // newer than every page: never in this walk
    } while (cursor);
    expect(seen).toEqual(before);
    expect(new Set(seen).size).toBe(seen.length);
    // The newcomers are at the head of a fresh list.
    expect((await listIds(`?limit=${pages}`))).toEqual(Array.from({ length: pages }, (_, i) => ids[`arrived${pages - i}`]));
  });

  test("live rows equal a rebuild from event 1", async () => {
    const rebuilt = fold(requestsProjection(), g.gw.log.all()).rows.reverse();
    // Every API field is present (null when unknown, `cached` false unless marked); the projection leaves them out.
    const live = (await list("?limit=200")).data.map((row) => Object.fromEntries(Object.entries(row).filter(([k, v]) => v !== null && !(k === "cached" && v === false))));
    expect(live).toEqual(JSON.parse(JSON.stringify(rebuilt)));
  });

  test("bad query parameters: 400 naming the parameter, in OpenAI's error shape", async () => {
    const cases: Array<[string, string]> = [
      ["?limit=0", "limit"], ["?limit=201", "limit"], ["?limit=ten", "limit"], ["?status=2x", "status"], ["?status=600", "status"],
      ["?outcome=done", "outcome"], ["?since=yesterday", "since"], ["?until=2024-13-45T00:00:00Z", "until"], ["?stream=maybe", "stream"],
      ["?cursor=bm9wZQ", "cursor"], ["?cursor=%%%", "cursor"], ["?modle=smart", "modle"], ["?model=a&model=b", "model"], ["?model=", "model"],
    ];
    for (const [query, param] of cases) {
      const response = await api(`/requests${query}`);
      expect(response.status, query).toBe(400);
      const body = await response.json() as { error: { type: string; param: string; message: string } };
      expect(body.error, query).toMatchObject({ type: "invalid_request_error", param });
      expect(body.error.message, query).toContain(param);
    }
  });
});

describe("GET /api/events", () => {
  test("by seq range, with next_after; filtered by type, a family's * included", async () => {
    const last = g.gw.log.lastSeq;
    const first = await (await api("/events?limit=5")).json() as { data: EventRecord[]; next_after: number; last_seq: number };
    expect(first.data.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(first.next_after).toBe(5);
    expect(first.last_seq).toBeGreaterThanOrEqual(last);
    const second = await (await api(`/events?after=${first.next_after}&limit=3`)).json() as { data: EventRecord[] };
    expect(second.data.map((e) => e.seq)).toEqual([6, 7, 8]);
    expect(second.data[0]).toEqual([...g.gw.log.read(5, 1)][0]);

    const ends = await (await api("/events?type=request.completed,request.failed&limit=1000")).json() as { data: EventRecord[]; next_after: number; last_seq: number };
    expect(new Set(ends.data.map((e) => e.type))).toEqual(new Set(["request.completed", "request.failed"]));
    expect(ends.data.map((e) => e.seq)).toEqual([...ends.data.map((e) => e.seq)].sort((a, b) => a - b));
    expect(ends.data.some((e) => (e.data as { request: string }).request === ids.fallback)).toBe(true);
    // Caught up: next_after is where the read stopped, even past events of other types.
    expect(ends.next_after).toBe(ends.last_seq);

    const family = await (await api("/events?type=attempt.*&limit=1000")).json() as { data: EventRecord[] };
    expect(new Set(family.data.map((e) => e.type))).toEqual(new Set(["attempt.started", "attempt.succeeded", "attempt.failed"]));

    const beyond = await (await api(`/events?after=${last + 1000}`)).json() as { data: EventRecord[]; next_after: number };
    expect(beyond).toMatchObject({ data: [], next_after: last + 1000 });
  });

  test("bad query parameters: 400 naming the parameter", async () => {
    for (const [query, param] of [["?after=-1", "after"], ["?after=x", "after"], ["?limit=1001", "limit"], ["?type=nope.event", "type"], ["?type=nope.*", "type"], ["?typ=x", "typ"]]) {
      const response = await api(`/events${query}`);
      expect(response.status, query).toBe(400);
      expect((await response.json() as { error: { param: string } }).error.param, query).toBe(param);
    }
    const stream = await api("/events/stream", { headers: { "last-event-id": "abc" } });
    expect(stream.status).toBe(400);
    expect((await stream.json() as { error: { param: string } }).error.param).toBe("Last-Event-ID");
  });
});

interface Message { id?: string; event?: string; data: string }

/** Read an SSE response as it arrives: messages and comments, in order. */
async function openTail(url: string, headers: Record<string, string> = {}) {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { authorization: `Bearer ${ADMIN}`, ...headers }, signal: abort.signal });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/event-stream");
  const messages: Message[] = [];
  const comments: string[] = [];
  let ended = false;
  const parser = createParser({
    onEvent: (m) => messages.push({ data: m.data, ...(m.id !== undefined ? { id: m.id } : {}), ...(m.event !== undefined ? { event: m.event } : {}) }),
    onComment: (c) => comments.push(c.trim()),
  });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const pump = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(decoder.decode(value, { stream: true }));
      }
    } catch {
      // aborted
    }
    ended = true;
  })();
  let read = 0;
  return {
    messages, comments,
    get ended() {
      return ended;
    },
    /** The next message matching `check`, skipping (and returning) none before it. */
    async next(check: (m: Message) => boolean = () => true, ms = 3000): Promise<Message> {
      const end = Date.now() + ms;
      for (;;) {
        while (read < messages.length) {
          const m = messages[read++]!;
          if (check(m)) return m;
        }
        if (ended || Date.now() > end) throw new Error(`no matching message (ended: ${ended})`);
        await Bun.sleep(5);
      }
    },
    async close() {
      abort.abort();
      await pump;
    },
    pump,
  };
}

const recordOf = (m: Message) => JSON.parse(m.data) as EventRecord<string, Record<string, unknown>>;

describe("GET /api/events/stream", () => {
  test("the backlog after `after`, then each event as it commits, gap-free; the subscription ends with the client", async () => {
    const before = listeners();
    const after = g.gw.log.lastSeq - 3;
    const tail = await openTail(`${base}/api/events/stream?after=${after}`);
    const backlog = [await tail.next(), await tail.next(), await tail.next()];
    expect(backlog.map((m) => Number(m.id))).toEqual([after + 1, after + 2, after + 3]);
    for (const m of backlog) {
      expect(recordOf(m)).toEqual(g.gw.log.read(Number(m.id) - 1, 1)[0]);
      expect(recordOf(m).type).toBe(m.event);
    }
    expect(listeners()).toBe(before + 1);

    // A request made after subscribing: its events arrive live, after the backlog, none missed.
    const id = await send("live", "p/m");
    const done = await tail.next((m) => m.event === "request.completed" && recordOf(m).data.request === id);
    const seqs = tail.messages.map((m) => Number(m.id));
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => after + 1 + i));
    expect(seqs.at(-1)).toBe(Number(done.id));
    expect(tail.messages.filter((m) => recordOf(m).data.request === id && m.event !== "tokens.estimated").map((m) => m.event)).toEqual([
      "request.received", "route.decided", "attempt.started", "attempt.succeeded", "request.completed",
    ]);

    await tail.close();
    await until(() => listeners() === before);
  });

  test("filtered by type; Last-Event-ID resumes after the last event seen", async () => {
    const typed = await openTail(`${base}/api/events/stream?type=request.completed,request.failed`);
    const id = await send("typed", "p/m");
    const m = await typed.next();
    expect(m.event).toBe("request.completed");
    expect(recordOf(m).data.request).toBe(id);
    await typed.close();

    const seq = g.gw.log.forRequest(id)[1]!.seq;
    const resumed = await openTail(`${base}/api/events/stream?after=0`, { "last-event-id": String(seq) });
    expect(Number((await resumed.next()).id)).toBe(seq + 1);
    await resumed.close();
  });

  test("a backlog longer than the bound starts with a gap note; heartbeats while idle", async () => {
    for (let i = 0; i < 1100; i++) void g.gw.log.append(PluginUnloaded, { plugin: "filler", source: "test" });
    await g.gw.log.commit(PluginUnloaded, { plugin: "filler", source: "test" });
    const last = g.gw.log.lastSeq;
    const routes = new Elysia().use(apiLogRoutes(g.gw, { heartbeatMs: 50 })).listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const tail = await openTail(`http://127.0.0.1:${routes.server!.port}/api/events/stream?after=0`);
      const gap = await tail.next();
      expect(gap.event).toBe("gap");
      const left = JSON.parse(gap.data) as { from: number; to: number };
      expect(left.from).toBe(1);
      expect(left.to).toBeGreaterThanOrEqual(last - 1000);
      expect(Number((await tail.next()).id)).toBe(left.to + 1);
      await until(() => tail.comments.includes("heartbeat"));
      await tail.close();
    } finally {
      routes.stop(true);
    }
  });

  test("admin only: 401 without the admin key or with another", async () => {
    for (const path of ["/requests", "/events", "/events/stream"]) {
      for (const key of [null, "wrong-key"]) {
        const response = await api(path, { key });
        expect(response.status, path).toBe(401);
        expect(await response.json()).toMatchObject({ error: { type: "authentication_error" } });
      }
    }
  });

  test("caller: a caller key's requests are found by its id", async () => {
    const created = await (await fetch(`${g.url}/api/keys`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}` }, body: JSON.stringify({ name: "bot" }) })).json() as { id: string; key: string };
    callerKey = created.key;
    const a = await send("keyed1", "p/m");
    const b = await send("keyed2", "q/m");
    expect(await listIds(`?caller=${created.id}`)).toEqual([b, a]);
    expect(await listIds(`?caller=${created.id}&provider=q`)).toEqual([b]);
  });
});

describe("without admin_key", () => {
  test("403: the admin API is off; and a gateway stop ends open tails at once", async () => {
    const upstream = startFakeUpstream();
    const gw = await startGateway(oneProvider(upstream.url));
    try {
      const routes = new Elysia().use(apiLogRoutes(gw.gw)).listen({ hostname: "127.0.0.1", port: 0 });
      try {
        for (const path of ["/requests", "/events", "/events/stream"]) {
          const response = await fetch(`http://127.0.0.1:${routes.server!.port}/api${path}`, { headers: { authorization: "Bearer x" } });
          expect(response.status).toBe(403);
          expect(await response.json()).toMatchObject({ error: { type: "permission_error" } });
        }
      } finally {
        routes.stop(true);
      }
    } finally {
      await gw.close();
      await upstream.stop();
    }
  });

  test("a tail is closed when the gateway stops (a graceful stop does not wait on it)", async () => {
    const upstream = startFakeUpstream();
    const other = await startGateway(`admin_key: ${ADMIN}\n${oneProvider(upstream.url)}`);
    const routes = new Elysia().use(apiLogRoutes(other.gw)).listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const before = other.gw.log["listeners"].size;
      const tail = await openTail(`http://127.0.0.1:${routes.server!.port}/api/events/stream?after=0`);
      await tail.next();
      expect(other.gw.log["listeners"].size).toBe(before + 1);
      const started = Date.now();
      await other.close();
      await tail.pump;
      expect(tail.ended).toBe(true);
      expect(Date.now() - started).toBeLessThan(5000);
      // The tail's subscription is gone (and the projections' own, with the gateway).
      expect(other.gw.log["listeners"].size).toBe(before - 1);
    } finally {
      routes.stop(true);
      await upstream.stop();
    }
  });
});

describe("pages below the projection's edge, read from the log", () => {
  const T = 1_700_000_000_000;
  async function writeLog(path: string, requests: number, serverEvery = 0): Promise<EventLog> {
    const log = EventLog.open(path);
    const models = ["a", "b", "c"];
    // Some end at once, most two requests later (interleaved), some never (in flight, or cut off by a restart).
    const fate = (i: number) => (i % 5 === 0 ? "failed" : i % 13 === 0 ? "cancelled" : i % 17 === 0 ? "open" : "completed");
    for (let i = 0; i < requests; i++) {
      const request = `r${i}`;
      void log.append(RequestReceived, { request, dialect: "openai-chat", endpoint: "/v1/chat/completions", model: models[i % 3]!, stream: i % 4 === 0, candidates: ["p/m"] });
      void log.append(AttemptStarted, { request, attempt: 1, target: "p/m", provider: "p", model: "m", passthrough: true });
      if (fate(i) === "failed") void log.append(RequestFailed, { request, status: 502, reason: "upstream_error", message: "x", attempts: 1, total_ms: 2 });
      if (fate(i) === "cancelled") void log.append(RequestCancelled, { request, status: 499, attempts: 1, total_ms: 2, streamed_chars: 0 });
      if (i >= 2 && fate(i - 2) === "completed") {
        void log.append(RequestCompleted, { request: `r${i - 2}`, target: "p/m", provider: "p", model: "m", status: 200, attempts: 1, stream: false, ttfb_ms: 1, total_ms: 2 });
      }
      if (serverEvery > 0 && i % serverEvery === serverEvery - 1) void log.append(ServerStarted, { host: "h", port: 1, version: "0", pid: 1, durability: "normal" });
    }
    await log.commit(PluginUnloaded, { plugin: "end", source: "test" });
    return log;
  }

  test("the same rows, in the same order, whether from memory or from the log", async () => {
    const log = await writeLog(join(tempDir(), "events.db"), 400, 150);
    try {
      const everything = fold(requestsProjection(Number.MAX_SAFE_INTEGER), log.all());
      const small = fold(requestsProjection(40), log.all());
      expect(small.evicted).toBeGreaterThan(300);
      const filters: RequestFilter[] = [{}, { model: "b" }, { outcome: "failed" }, { outcome: "interrupted" }, { outcome: "in_flight", stream: true }, { status: "error" }];
      for (const filter of filters) {
        const expected = everything.rows.filter((r) => matches(filter, r)).reverse();
        const walked = [];
        let before: number | undefined;
        for (let pages = 0; pages < 500; pages++) {
          const page = listRequests(log, small, filter, before, 7);
          walked.push(...page.rows);
          if (page.before === undefined) break;
          before = page.before;
        }
        expect(walked, JSON.stringify(filter)).toEqual(expected);
      }
      expect(everything.rows.some((r) => r.outcome === "interrupted")).toBe(true);
      expect(everything.rows.some((r) => r.outcome === "in_flight")).toBe(true);
    } finally {
      log.close();
    }
  });

  // Set SLUICE_BENCH=1 for the measurement on a log of a million events (not a timed assertion).
  test.skipIf(!process.env.SLUICE_BENCH)("benchmark: a million events", async () => {
    const t0 = performance.now();
    const log = await writeLog(join(tempDir(), "events.db"), 330_000, 40_000);
    const written = performance.now() - t0;
    try {
      const t1 = performance.now();
      const state = fold(requestsProjection(), log.all());
      const rebuilt = performance.now() - t1;
      const time = (filter: RequestFilter, before?: number) => {
        const start = performance.now();
        const page = listRequests(log, state, filter, before, 50);
        return `${(performance.now() - start).toFixed(2)} ms (${page.rows.length} rows)`;
      };
      const oldest = state.rows[0]!.seq;
      console.log([
        `log of ${log.lastSeq} events written in ${(written / 1000).toFixed(1)} s; requests projection rebuilt in ${rebuilt.toFixed(0)} ms (${state.rows.length} rows, ${state.evicted} older in the log)`,
        `newest page, no filter: ${time({})}`,
        `newest page, model=b&outcome=failed: ${time({ model: "b", outcome: "failed" })}`,
        `page filter matching nothing (whole projection + one log stretch of ${SCAN_SEQS} seqs): ${time({ model: "none" })}`,
        `first page below the projection, from the log: ${time({}, oldest)}`,
        `same, model=b&outcome=failed: ${time({ model: "b", outcome: "failed" }, oldest)}`,
        `deep in the log (seq ${Math.round(oldest / 2)}), model=b&outcome=failed: ${time({ model: "b", outcome: "failed" }, Math.round(oldest / 2))}`,
      ].join("\n"));
    } finally {
      log.close();
    }
  }, 300_000);
});
