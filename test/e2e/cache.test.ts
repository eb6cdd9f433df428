import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterEach, describe, expect, test } from "vitest";
import { createKey } from "../../core/keys/keys.ts";
import { cacheKey, canonicalJson, ResponseCache, type CacheEntry } from "../../core/pipeline/cache-store.ts";
import { emptyRequest } from "../../core/ir.ts";
import { RequestCompleted } from "../../events/catalog/request.ts";
import { RouteDecided } from "../../events/catalog/routing.ts";
import { routing } from "../../events/projections/routing.ts";
import { event, given } from "../support/given.ts";
import { explain, formatTrail } from "../../core/routing/explain.ts";
import { completion, startFakeUpstream, streamText, type Behaviour, type FakeUpstream } from "../support/fake-upstream.ts";
import { vendorBehaviour } from "../support/fake-vendors.ts";
import { startGateway, type TestGateway } from "../support/gateway.ts";

// The exact response cache (a route's `cache`), on a real gateway with a real fake upstream and
// the official SDKs: what is served again, to whom, in which shape, and what the log says.
// Every test has its own gateway, so the cache starts empty.

const open: Array<{ stop(): Promise<void> } | TestGateway> = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await ("close" in thing ? thing.close() : thing.stop());
});

/** $1000 per million input tokens, $2000 per million output: 11 in / 7 out cost $0.025. */
const PRICE = "{ input: 1000, output: 2000 }";
const ADMIN = "admin-key-cache-test-0123456789abcdef";

async function setup(behaviour: Behaviour = vendorBehaviour, extra = ""): Promise<{ g: TestGateway; up: FakeUpstream }> {
  const up = startFakeUpstream(behaviour);
  open.push(up);
  const root = up.url.replace(/\/v1$/, "");
  const g = await startGateway(`
admin_key: ${ADMIN}
providers:
  - { id: oa, kind: openai, base_url: "${root}/v1", api_key: sk-oa-key-0000, models: [gpt-x], model_info: { gpt-x: { price: ${PRICE} } } }
  - { id: an, kind: anthropic, base_url: "${root}", api_key: sk-an-key-0000, models: [claude-x] }
routes:
  - { name: cached, targets: [oa/gpt-x], cache: { ttl_s: 300 } }
  - { name: plain, targets: [oa/gpt-x] }
  - { name: short, targets: [oa/gpt-x], cache: { ttl_s: 1 } }
  - { name: small, targets: [oa/gpt-x], cache: { ttl_s: 300, max_entries: 2 } }
  - { name: claude, targets: [an/claude-x], cache: {} }
${extra}`);
  open.push(g);
  return { g, up };
}

const openai = (g: TestGateway, apiKey = "unused") => new OpenAI({ baseURL: `${g.url}/v1`, apiKey, maxRetries: 0 });
const anthropic = (g: TestGateway) => new Anthropic({ baseURL: g.url, apiKey: "unused", maxRetries: 0 });

/** A chat completion by plain fetch: status, headers, body. */
async function chat(g: TestGateway, body: Record<string, unknown> | string, headers: Record<string, string> = {}) {
  const response = await fetch(`${g.url}/v1/chat/completions`, {
    method: "POST", headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify({ model: "cached", messages: [{ role: "user", content: "hello" }], ...body }),
  });
  return { status: response.status, headers: response.headers, id: response.headers.get("x-sluice-request-id")!, cache: response.headers.get("x-sluice-cache"), text: await response.text() };
}

const types = (g: TestGateway, id: string) => g.gw.log.forRequest(id).map((e) => e.type);
const dataOf = (g: TestGateway, id: string, type: string) => g.gw.log.forRequest(id).find((e) => e.type === type)?.data as Record<string, unknown> | undefined;
const allOf = (g: TestGateway, type: string) => [...g.gw.log.all()].filter((e) => e.type === type).map((e) => e.data as Record<string, unknown>);
/** The id of the newest request on record. */
const lastRequest = (g: TestGateway) => allOf(g, "request.received").at(-1)!.request as string;

describe("hits", () => {
  test("a second identical request is answered from the cache: the upstream is called once, and the log says what it saved", async () => {
    const { g, up } = await setup();
    const client = openai(g);
    const ask = () => client.chat.completions.create({ model: "cached", messages: [{ role: "user", content: "hello" }] }).withResponse();
    const first = await ask();
    const second = await ask();
    expect(up.seen).toHaveLength(1);
    expect(first.response.headers.get("x-sluice-cache")).toBe("miss");
    expect(second.response.headers.get("x-sluice-cache")).toBe("hit");
    expect(second.response.headers.get("x-sluice-attempts")).toBe("0");
    expect(second.response.headers.get("x-sluice-provider")).toBe("oa");
    expect(second.data.choices[0]!.message.content).toBe("echo: hello");
    expect(second.data.choices[0]!.message.content).toBe(first.data.choices[0]!.message.content);
    expect(second.data.usage).toEqual(first.data.usage); // the answer as it was made

    const made = first.response.headers.get("x-sluice-request-id")!;
    const served = second.response.headers.get("x-sluice-request-id")!;
    expect(types(g, made)).toEqual(["request.received", "route.decided", "attempt.started", "attempt.succeeded", "cache.stored", "request.completed"]);
    expect(types(g, served)).toEqual(["request.received", "route.decided", "cache.hit", "request.completed"]);
    const stored = dataOf(g, made, "cache.stored")!;
    expect(stored.key).toMatch(/^[0-9a-f]{64}$/);
    expect(stored.expires_at as number).toBeGreaterThan(Date.now() + 290_000);
    expect(stored.bytes as number).toBeGreaterThan(100);
    const hit = dataOf(g, served, "cache.hit")!;
    expect(hit).toMatchObject({
      key: stored.key, source_request: made, target: "oa/gpt-x", provider: "oa", model: "gpt-x",
      saved_input_tokens: 11, saved_output_tokens: 7,
    });
    expect(hit.saved_usd as number).toBeCloseTo(0.025, 9);
    expect(hit.age_ms as number).toBeGreaterThanOrEqual(0);
    const completed = dataOf(g, served, "request.completed")!;
    expect(completed).toMatchObject({ target: "oa/gpt-x", provider: "oa", model: "gpt-x", status: 200, attempts: 0, cached: true, stream: false, finish_reason: "stop" });
    expect(completed).not.toHaveProperty("usage");
    expect(completed).not.toHaveProperty("cost_usd");
    expect(dataOf(g, made, "request.completed")).not.toHaveProperty("cached");

    // The request log and the replay explanation say so too.
    const rows = await (await fetch(`${g.url}/api/requests`, { headers: { authorization: `Bearer ${ADMIN}` } })).json() as { data: Array<Record<string, unknown>> };
    expect(rows.data.find((r) => r.id === served)).toMatchObject({ outcome: "completed", attempts: 0, cached: true, target: "oa/gpt-x" });
    expect(rows.data.find((r) => r.id === made)).toMatchObject({ attempts: 1, cached: false });
    const trail = formatTrail(explain(g.gw.log.forRequest(served)));
    expect(trail).toMatch(new RegExp(`served from the response cache \\(answer of ${made}, \\d+ ms old, by oa/gpt-x\\) in .*: no attempt, nothing spent upstream`));
    expect(formatTrail(explain(g.gw.log.forRequest(made)))).toContain("kept in the response cache until");
    // A hit is no upstream success: health saw one attempt.
    expect(g.gw.projections.get("health").targets["oa/gpt-x"]!.successes).toBe(1);
    const metrics = await (await fetch(`${g.url}/metrics`)).text();
    expect(metrics).toContain('sluice_cache_hits_total{target="oa/gpt-x"} 1');
    expect(metrics).toContain('sluice_cache_saved_tokens_total{kind="output"} 7');
    expect(metrics).toContain("sluice_cache_stored_total 1");
    expect(metrics).toMatch(/sluice_requests_total\{dialect="openai-chat",outcome="completed"\} 2/);
    // Usage folds the hit as savings (events/projections/usage-rollup.ts).
    const usage = await (await fetch(`${g.url}/api/usage`, { headers: { authorization: `Bearer ${ADMIN}` } })).json() as { totals: Record<string, any> };
    expect(usage.totals).toMatchObject({ cache_hits: 1, cache_saved_input_tokens: 11, cache_saved_output_tokens: 7 });
    // The hit's latency is the cache's, not the target's: only the miss is in the percentiles.
    expect(usage.totals.ttfb_ms.count).toBe(1);
    expect(usage.totals.total_ms.count).toBe(1);
    expect(usage.totals.cache_saved_usd).toBeCloseTo(0.025, 9);
  });

  test("an answer made for a non-stream client streams to a stream client of its dialect, and a streamed one answers a non-stream client", async () => {
    const { g, up } = await setup();
    const client = openai(g);
    const claude = anthropic(g);
    // Made whole via Anthropic Messages (an OpenAI upstream: translated), served as an Anthropic stream.
    const whole = await claude.messages.create({ model: "cached", max_tokens: 50, messages: [{ role: "user", content: "tell me" }] });
    expect(whole.content).toEqual([expect.objectContaining({ type: "text", text: "echo: tell me" })]);
    const events: string[] = [];
    const stream = claude.messages.stream({ model: "cached", max_tokens: 50, messages: [{ role: "user", content: "tell me" }] });
    stream.on("streamEvent", (event) => events.push(event.type));
    const message = await stream.finalMessage();
    expect(up.seen).toHaveLength(1);
    expect(message.content).toEqual([expect.objectContaining({ type: "text", text: "echo: tell me" })]);
    expect(message.stop_reason).toBe("end_turn");
    expect(message.model).toBe("cached");
    expect(message.usage).toMatchObject({ input_tokens: 11, output_tokens: 7 });
    expect(events[0]).toBe("message_start");
    expect(events.at(-1)).toBe("message_stop");
    expect(events).toContain("content_block_delta");
    const servedStream = lastRequest(g);
    expect(types(g, servedStream)).toEqual(["request.received", "route.decided", "cache.hit", "request.completed"]);
    expect(dataOf(g, servedStream, "request.completed")).toMatchObject({ stream: true, attempts: 0, cached: true, target: "oa/gpt-x" });
    // The same question in another dialect is another entry: a dialect can say what another cannot.
    await client.chat.completions.create({ model: "cached", max_tokens: 50, messages: [{ role: "user", content: "tell me" }] });
    expect(up.seen).toHaveLength(2);

    // Made as an OpenAI stream (the same dialect upstream: bytes passed through), served whole.
    const chunks: string[] = [];
    for await (const chunk of await client.chat.completions.create({ model: "cached", max_tokens: 50, stream: true, messages: [{ role: "user", content: "stream it" }] })) {
      chunks.push(chunk.choices[0]?.delta?.content ?? "");
    }
    expect(chunks.join("")).toBe("echo: stream it");
    const madeStream = lastRequest(g);
    expect(dataOf(g, madeStream, "attempt.started")).toMatchObject({ passthrough: true });
    expect(types(g, madeStream)).toContain("cache.stored");
    const answer = await client.chat.completions.create({ model: "cached", max_tokens: 50, messages: [{ role: "user", content: "stream it" }] });
    expect(up.seen).toHaveLength(3);
    expect(answer.choices[0]!.message.content).toBe("echo: stream it");
    expect(answer.choices[0]!.finish_reason).toBe("stop");
    expect(dataOf(g, lastRequest(g), "cache.hit")).toMatchObject({ source_request: madeStream, saved_input_tokens: 11, saved_output_tokens: 7 });
    // And the stream again, from the kept stream, with usage when asked for.
    const again: string[] = [];
    for await (const chunk of await client.chat.completions.create({ model: "cached", max_tokens: 50, stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "stream it" }] })) {
      again.push(chunk.choices[0]?.delta?.content ?? "");
      if (chunk.usage) expect(chunk.usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 7 });
    }
    expect(again.join("")).toBe("echo: stream it");
    expect(up.seen).toHaveLength(3);
  });

  test("two Anthropic requests that differ only in a block the IR does not carry (a document) are two entries", async () => {
    const { g, up } = await setup();
    const ask = (data: string) => fetch(`${g.url}/v1/messages`, {
      method: "POST",
      body: JSON.stringify({ model: "claude", max_tokens: 20, messages: [{ role: "user", content: [
        { type: "document", source: { type: "text", media_type: "text/plain", data } },
        { type: "text", text: "summarize this document" },
      ] }] }),
    });
    const first = await ask("ACME revenue grew 12 %");
    const second = await ask("a poem about cats");
    expect([first.headers.get("x-sluice-cache"), second.headers.get("x-sluice-cache")]).toEqual(["miss", "miss"]);
    expect(up.seen).toHaveLength(2);
    // Each went upstream as the client's own bytes, document and all.
    expect(up.seen.map((s) => JSON.stringify(s.json))).toEqual([expect.stringContaining("ACME revenue"), expect.stringContaining("a poem about cats")]);
    const third = await ask("a poem about cats");
    expect(third.headers.get("x-sluice-cache")).toBe("hit");
    expect(up.seen).toHaveLength(2);
  });

  test("a reload that changes where a route goes leaves its kept answers behind", async () => {
    const { g, up } = await setup();
    expect((await chat(g, {})).cache).toBe("miss");
    expect((await chat(g, {})).cache).toBe("hit");
    // The same config but for the route's target model: another shelf.
    const { readFileSync, writeFileSync } = await import("node:fs");
    const { reloadConfig } = await import("../../core/config/watch.ts");
    const yaml = readFileSync(g.configPath, "utf8");
    writeFileSync(g.configPath, yaml.replace("models: [gpt-x]", "models: [gpt-x, gpt-y]").replace("{ name: cached, targets: [oa/gpt-x]", "{ name: cached, targets: [oa/gpt-y]"));
    expect(reloadConfig(g.gw, g.configPath, (c) => c)).toBe("applied");
    const after = await chat(g, {});
    expect(after.cache).toBe("miss");
    expect(after.headers.get("x-sluice-model")).toBe("gpt-y");
    expect(up.seen).toHaveLength(2);
    // A route that stops caching gives its memory back at once.
    writeFileSync(g.configPath, readFileSync(g.configPath, "utf8").replace("{ name: cached, targets: [oa/gpt-y], cache: { ttl_s: 300 } }", "{ name: cached, targets: [oa/gpt-y] }"));
    expect(reloadConfig(g.gw, g.configPath, (c) => c)).toBe("applied");
    expect(g.gw.cache.names().some((name) => name.startsWith("cached#"))).toBe(false);
  });

  test("passthrough answers are kept: a same-dialect JSON body is served again byte for byte, to that dialect", async () => {
    const { g, up } = await setup();
    const body = { model: "claude", max_tokens: 20, messages: [{ role: "user", content: "hi there" }] };
    const post = () => fetch(`${g.url}/v1/messages`, { method: "POST", body: JSON.stringify(body) });
    const first = await post();
    const firstText = await first.text();
    const made = first.headers.get("x-sluice-request-id")!;
    expect(dataOf(g, made, "attempt.started")).toMatchObject({ passthrough: true, target: "an/claude-x" });
    const second = await post();
    expect(second.headers.get("x-sluice-cache")).toBe("hit");
    expect(await second.text()).toBe(firstText);
    expect(up.seen).toHaveLength(1);
    // An Anthropic stream passed through is kept too.
    const streamed = await anthropic(g).messages.stream({ ...body, messages: [{ role: "user", content: "flowing" }] } as Anthropic.MessageCreateParams).finalMessage();
    expect(streamed.content).toEqual([expect.objectContaining({ type: "text", text: "echo: flowing" })]);
    expect(dataOf(g, lastRequest(g), "attempt.started")).toMatchObject({ passthrough: true });
    const hit = await anthropic(g).messages.create({ ...body, messages: [{ role: "user", content: "flowing" }] } as Anthropic.MessageCreateParamsNonStreaming);
    expect(hit.content).toEqual([expect.objectContaining({ type: "text", text: "echo: flowing" })]);
    expect(hit.usage).toMatchObject({ input_tokens: 13, cache_read_input_tokens: 4, output_tokens: 9 });
    expect(up.seen).toHaveLength(2);
  });
});

describe("dialects", () => {
  test("a Responses API hit is named for its own request and can be continued", async () => {
    const { g, up } = await setup();
    const client = openai(g);
    const first = await client.responses.create({ model: "cached", input: "remember me" });
    const second = await client.responses.create({ model: "cached", input: "remember me" });
    expect(up.seen).toHaveLength(1);
    expect(second.output_text).toBe("echo: remember me");
    expect(second.id).not.toBe(first.id);
    expect(second.id).toBe(`resp_${lastRequest(g).replace(/^req_/, "")}`);
    // The hit was stored as its own turn: a continuation from it carries the conversation.
    await client.responses.create({ model: "plain", input: "and then?", previous_response_id: second.id });
    expect(up.seen).toHaveLength(2);
    const sent = up.seen[1]!.json.messages as Array<{ role: string; content: unknown }>;
    expect(sent.map((m) => m.role)).toEqual(["user", "assistant", "user"]);
    expect(JSON.stringify(sent[1]!.content)).toContain("echo: remember me");
  });
});

describe("what is keyed", () => {
  test("key order and whitespace do not matter; another temperature or another message is another entry; temperature alone does not stop caching", async () => {
    const { g, up } = await setup();
    const a = await chat(g, '{"model":"cached","messages":[{"role":"user","content":"hello"}],"temperature":0.7}');
    const b = await chat(g, '{\n  "temperature": 0.7,\n  "messages": [ { "content": "hello", "role": "user" } ],\n  "model": "cached"\n}');
    expect([a.cache, b.cache]).toEqual(["miss", "hit"]);
    expect(b.text).toBe(a.text);
    expect(up.seen).toHaveLength(1);
    // The same text written as a content part is written differently: another entry (the key
    // holds the body as the client wrote it, keys sorted).
    const parts = await chat(g, { temperature: 0.7, messages: [{ role: "user", content: [{ type: "text", text: "hello" }] }] });
    expect(parts.cache).toBe("miss");
    const warmer = await chat(g, { temperature: 0.9 });
    const other = await chat(g, { temperature: 0.7, messages: [{ role: "user", content: "hello!" }] });
    const model = await chat(g, { model: "small", temperature: 0.7 });
    expect([warmer.cache, other.cache, model.cache]).toEqual(["miss", "miss", "miss"]);
    expect(up.seen).toHaveLength(5);
    const keys = allOf(g, "cache.stored").map((s) => s.key);
    expect(new Set(keys).size).toBe(5);
  });

  test("two caller keys never share an entry, and no credential reaches the log", async () => {
    const { g, up } = await setup();
    const alice = await createKey(g.gw.log, { name: "alice" }, "cli");
    const bob = await createKey(g.gw.log, { name: "bob" }, "cli");
    const as = (key: string) => chat(g, {}, { authorization: `Bearer ${key}` });
    // The server picks the keys up within its poll interval.
    for (let i = 0; i < 50 && (await chat(g, { model: "plain" })).status !== 401; i++) await Bun.sleep(50);
    const seenBefore = up.seen.length;
    const results = [await as(alice.secret), await as(bob.secret), await as(alice.secret), await as(bob.secret)];
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(results.map((r) => r.cache)).toEqual(["miss", "miss", "hit", "hit"]);
    expect(up.seen.length - seenBefore).toBe(2);
    expect(dataOf(g, results[2]!.id, "cache.hit")!.source_request).toBe(results[0]!.id);
    expect(dataOf(g, results[3]!.id, "cache.hit")!.source_request).toBe(results[1]!.id);
    const [keyA, keyB] = [dataOf(g, results[0]!.id, "cache.stored")!.key, dataOf(g, results[1]!.id, "cache.stored")!.key];
    expect(keyA).not.toBe(keyB);
    const log = JSON.stringify([...g.gw.log.all()]);
    for (const secret of [alice.secret, bob.secret]) expect(log).not.toContain(secret.slice(10));
  });
});

describe("what is not served or kept", () => {
  test("a route without `cache` never caches", async () => {
    const { g, up } = await setup();
    const first = await chat(g, { model: "plain" });
    const second = await chat(g, { model: "plain" });
    expect([first.cache, second.cache]).toEqual([null, null]);
    expect(up.seen).toHaveLength(2);
    expect(allOf(g, "cache.stored")).toHaveLength(0);
    expect(allOf(g, "cache.hit")).toHaveLength(0);
    // A model named directly (no route) has no cache either.
    await chat(g, { model: "oa/gpt-x" });
    await chat(g, { model: "oa/gpt-x" });
    expect(up.seen).toHaveLength(4);
  });

  test("`x-sluice-cache: off` neither reads nor keeps", async () => {
    const { g, up } = await setup();
    const off = { "x-sluice-cache": "off" };
    const a = await chat(g, {}, off);
    expect(a.cache).toBeNull();
    expect(types(g, a.id)).not.toContain("cache.stored");
    const b = await chat(g, {});
    expect(b.cache).toBe("miss");
    const c = await chat(g, {}, off);
    expect(c.cache).toBeNull();
    expect(types(g, c.id)).not.toContain("cache.hit");
    const d = await chat(g, {});
    expect(d.cache).toBe("hit");
    expect(up.seen).toHaveLength(3);
    expect(dataOf(g, d.id, "cache.hit")!.source_request).toBe(b.id);
  });

  test("a failed upstream answer, a filtered answer and a stream cut short are not kept", async () => {
    let mode: "broken" | "filtered" | "cut" | "ok" = "broken";
    const { g, up } = await setup((seen, request) => {
      if (mode === "broken") return Response.json({ error: { message: "internal" } }, { status: 500 });
      if (mode === "filtered") {
        const body = completion("[filtered]");
        body.choices[0]!.finish_reason = "content_filter";
        return Response.json(body);
      }
      if (mode === "cut") return new Response(streamText(["par", "tial"], { finish: false, done: false }), { headers: { "content-type": "text/event-stream" } });
      return vendorBehaviour(seen, request);
    });
    const failed = await chat(g, {});
    expect(failed.status).toBe(502);
    expect(types(g, failed.id)).not.toContain("cache.stored");
    mode = "filtered";
    expect((await chat(g, {})).status).toBe(200);
    expect((await chat(g, {})).cache).toBe("miss");
    mode = "cut";
    const cut = await chat(g, { stream: true });
    expect(cut.text).toContain("error");
    expect(types(g, cut.id)).toContain("request.failed");
    mode = "ok";
    const calls = up.seen.length;
    const ok = await chat(g, {});
    expect(ok.cache).toBe("miss");
    const hit = await chat(g, { stream: true });
    expect(hit.cache).toBe("hit");
    expect(hit.text).toContain('"content":"echo: hello"');
    expect(hit.text.trimEnd().endsWith("data: [DONE]")).toBe(true);
    expect(up.seen.length).toBe(calls + 1);
    expect(allOf(g, "cache.stored")).toHaveLength(1);
    expect(dataOf(g, hit.id, "cache.hit")!.source_request).toBe(ok.id);
  });
});

describe("bounds", () => {
  test("an entry is served within its TTL and not after", async () => {
    const { g, up } = await setup();
    const a = await chat(g, { model: "short" });
    const b = await chat(g, { model: "short" });
    expect([a.cache, b.cache]).toEqual(["miss", "hit"]);
    await Bun.sleep(1100);
    const c = await chat(g, { model: "short" });
    expect(c.cache).toBe("miss");
    expect(up.seen).toHaveLength(2);
    expect(types(g, c.id)).toContain("cache.stored");
    expect(types(g, c.id)).not.toContain("cache.hit");
  });

  test("a route's shelf holds at most max_entries answers, the least recently used out first", async () => {
    const { g, up } = await setup();
    const ask = (text: string) => chat(g, { model: "small", messages: [{ role: "user", content: text }] });
    for (const text of ["a", "b", "c"]) expect((await ask(text)).cache).toBe("miss");
    const shelf = g.gw.cache.names().find((name) => name.startsWith("small#"))!;
    expect(g.gw.cache.size(shelf).entries).toBe(2);
    expect((await ask("a")).cache).toBe("miss"); // a went out when c came in
    expect((await ask("c")).cache).toBe("hit");
    expect((await ask("b")).cache).toBe("miss"); // b went out when a came back
    expect((await ask("c")).cache).toBe("hit");
    expect(up.seen).toHaveLength(5);
    expect(g.gw.cache.size(shelf).entries).toBe(2);
  });
});

describe("the store and the key", () => {
  const entry = (bytes: number, expiresAt = Number.MAX_SAFE_INTEGER): CacheEntry => ({
    response: { id: "x", model: "m", created: 0, content: [], finishReason: "stop" },
    target: "p/m", provider: "p", model: "m", request: "req_x", createdAt: 0, expiresAt, bytes,
  });

  test("a shelf is bounded by bytes too, an answer larger than the bound is not kept, and an expired one is dropped when asked for", () => {
    let now = 1000;
    const cache = new ResponseCache(() => now);
    const limits = { max_entries: 100, max_bytes: 3000 };
    expect(cache.put("r", "a", entry(1000), limits)).toBe(true);
    expect(cache.put("r", "b", entry(1000), limits)).toBe(true);
    expect(cache.get("r", "a")).toBeDefined(); // a is now the most recently used
    expect(cache.put("r", "c", entry(1500), limits)).toBe(true);
    expect(cache.get("r", "b")).toBeUndefined();
    expect(cache.size("r")).toEqual({ entries: 2, bytes: 2500 });
    expect(cache.put("r", "huge", entry(3001), limits)).toBe(false);
    expect(cache.size("r").entries).toBe(2);
    expect(cache.put("r", "soon", entry(100, 2000), limits)).toBe(true);
    expect(cache.get("r", "soon")).toBeDefined();
    now = 2000;
    expect(cache.get("r", "soon")).toBeUndefined();
    expect(cache.size("r")).toEqual({ entries: 2, bytes: 2500 });
    // Shelves are per route.
    expect(cache.get("other", "a")).toBeUndefined();
    cache.keepOnly(new Set(["other"]));
    expect(cache.size("r").entries).toBe(0);
  });

  test("the key: sorted keys, without stream or stream usage, with the caller and the model asked for", () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { y: 1, x: 0 }], c: null } })).toBe('{"a":{"c":null,"d":[2,{"x":0,"y":1}]},"b":1}');
    const request = { ...emptyRequest("m"), messages: [{ role: "user" as const, content: [{ type: "text" as const, text: "hi" }] }] };
    const client = { dialect: "openai-chat" as const, raw: '{"model":"m","messages":[{"role":"user","content":"hi"}]}' };
    const key = cacheKey("", "m", request, client);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(cacheKey("", "m", { ...request, stream: true, streamUsage: true }, { ...client, raw: '{"stream":true,"stream_options":{"include_usage":true},"messages":[{"content":"hi","role":"user"}],"model":"m"}' })).toBe(key);
    expect(cacheKey("key:key_1", "m", request, client)).not.toBe(key);
    expect(cacheKey("", "route-b", request, client)).not.toBe(key);
    expect(cacheKey("", "m", { ...request, temperature: 0.5 }, client)).not.toBe(key);
    expect(cacheKey("", "m", request, { ...client, dialect: "anthropic" })).not.toBe(key);
    expect(cacheKey("", "m", request, { ...client, raw: '{"model":"m","messages":[{"role":"user","content":"hi"}],"x":1}' })).not.toBe(key);
    // "__proto__" is a key like any other: two bodies that differ only there differ.
    const proto = (value: number) => ({ ...client, raw: `{"model":"m","tools":[{"parameters":{"properties":{"__proto__":{"minimum":${value}}}}}]}` });
    expect(cacheKey("", "m", request, proto(1))).not.toBe(cacheKey("", "m", request, proto(2)));
    expect(canonicalJson(JSON.parse('{"__proto__":{"a":1}}'))).toBe('{"__proto__":{"a":1}}');
  });

  test("routing: an answer from the cache does not make its target the holder of a conversation's prompt cache", () => {
    const decided = (request: string) => event(RouteDecided, {
      request, route: "r", strategy: "priority", affinity: "conv1", input_tokens: 5, order: ["p/m", "q/m"], skipped: [],
    }, 1);
    const completed = (request: string, target: string, cached?: true) => event(RequestCompleted, {
      request, target, provider: target.split("/")[0]!, model: "m", status: 200, attempts: cached ? 0 : 1, stream: false,
      ttfb_ms: 1, total_ms: 1, ...(cached ? { cached } : {}),
    }, 2);
    given([decided("r1"), completed("r1", "q/m"), decided("r2"), completed("r2", "p/m", true)]).when(routing).then((state) => {
      expect(state.sticky).toEqual({ conv1: "q/m" });
      expect(state.pending).toEqual({});
    });
  });
});

describe("when every target is cooling down", () => {
  test("a kept answer is still served; a request the cache cannot answer is refused at once, as before", async () => {
    const { g, up } = await setup();
    const first = await chat(g, {});
    expect(first.cache).toBe("miss");
    // Another request gets a 429 with Retry-After: the route's only target cools down for a minute.
    up.behave(() => Response.json({ error: { message: "slow down", type: "rate_limit_error" } }, { status: 429, headers: { "retry-after": "60" } }));
    expect((await chat(g, { messages: [{ role: "user", content: "something else" }] })).status).toBe(429);
    const calls = up.seen.length;

    const again = await chat(g, {});
    expect(again.status).toBe(200);
    expect(again.cache).toBe("hit");
    expect(JSON.parse(again.text).choices[0].message.content).toBe(JSON.parse(first.text).choices[0].message.content);
    expect(types(g, again.id)).toEqual(["request.received", "route.decided", "cache.hit", "request.completed"]);
    expect(dataOf(g, again.id, "route.decided")).toMatchObject({ order: [], skipped: [expect.objectContaining({ target: "oa/gpt-x", reason: "cooldown" })] });
    expect(dataOf(g, again.id, "request.completed")).toMatchObject({ attempts: 0, cached: true });
    const trail = formatTrail(explain(g.gw.log.forRequest(again.id)));
    expect(trail).toContain("skipped oa/gpt-x: cooling down until");
    expect(trail).toMatch(/served from the response cache \(answer of req_\w+, \d+ ms old, by oa\/gpt-x\)/);

    // Not in the cache, or the cache turned off: the cooling target is not called, the client hears when to retry.
    const unknown = await chat(g, { messages: [{ role: "user", content: "new" }] });
    const off = await chat(g, {}, { "x-sluice-cache": "off" });
    expect([unknown.cache, off.cache]).toEqual(["miss", null]);
    for (const refused of [unknown, off]) {
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(types(g, refused.id)).toEqual(["request.received", "route.decided", "request.failed"]);
      expect(dataOf(g, refused.id, "request.failed")).toMatchObject({ attempts: 0, reason: "rate_limited" });
    }
    expect(up.seen).toHaveLength(calls);
  });

  test("a route without a cache refuses as before", async () => {
    const { g, up } = await setup();
    up.behave(() => Response.json({ error: { message: "slow down" } }, { status: 429, headers: { "retry-after": "60" } }));
    expect((await chat(g, { model: "plain" })).status).toBe(429);
    const refused = await chat(g, { model: "plain" });
    expect(refused.status).toBe(429);
    expect(types(g, refused.id)).toEqual(["request.received", "route.decided", "request.failed"]);
    expect(up.seen).toHaveLength(1);
  });
});
