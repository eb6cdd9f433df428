import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createKey } from "../../core/keys/keys.ts";
import { priceOf, providersLoaded } from "../../core/models/catalog.ts";
import type { ProviderConfig } from "../../schemas/config.ts";
import { completion, startFakeUpstream, streamText, type FakeUpstream } from "../support/fake-upstream.ts";
import { startGateway, type TestGateway } from "../support/gateway.ts";

// /api/usage and /api/prices on a real gateway with a fake upstream that reports usage: two
// caller keys, a model priced in the config and one nobody knows the price of.

const ADMIN = "admin-usage-5c2e8a1f-0123456789abcdef";
// Configured price: USD per million tokens.
const PRICE = { input: 2, output: 10, cached_input: 1 };
const USAGE = { priced: { prompt_tokens: 1000, completion_tokens: 500 }, "free-model": { prompt_tokens: 10, completion_tokens: 5 } } as const;
const COST = (1000 * PRICE.input + 500 * PRICE.output) / 1e6;

let up: FakeUpstream;
let g: TestGateway;
let alice: { id: string; secret: string };
let bob: { id: string; secret: string };

interface Latency { count: number; p50: number | null; p90: number | null; p99: number | null; mean: number | null; max: number | null }
interface Row {
  caller?: string; caller_name?: string; provider?: string; model?: string; route?: string; day?: string; hour?: string;
  requests: number; completed: number; failed: number; cancelled: number; errors: Record<string, number>;
  input_tokens: number; output_tokens: number; cost_usd: number; unpriced_requests: number; fallbacks: number; fallback_requests: number;
  ttfb_ms: Latency; total_ms: Latency;
}
interface Report { group: string[]; data: Row[]; totals: Row; warnings: string[] }

const api = (path: string, key = ADMIN) => fetch(`${g.url}/api${path}`, { headers: { authorization: `Bearer ${key}` } });
const usage = async (query: string): Promise<Report> => {
  const response = await api(`/usage${query}`);
  expect(response.status).toBe(200);
  return await response.json() as Report;
};
const chat = (key: string, model: string, extra: Record<string, unknown> = {}) => fetch(`${g.url}/v1/chat/completions`, {
  method: "POST", headers: { authorization: `Bearer ${key}` },
  body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], ...extra }),
});

beforeAll(async () => {
  up = startFakeUpstream(async (seen) => {
    const json = seen.json as { model: keyof typeof USAGE; stream?: boolean; messages: Array<{ content: string }> };
    if (json.messages.at(-1)?.content === "fail") return Response.json({ error: { message: "boom", type: "invalid_request_error" } }, { status: 400 });
    if (json.messages.at(-1)?.content === "slow") await Bun.sleep(60);
    if (json.stream) return new Response(streamText(["a", "b"], { model: json.model, usage: USAGE[json.model] }), { headers: { "content-type": "text/event-stream" } });
    return Response.json(completion("ok", json.model, USAGE[json.model]));
  });
  g = await startGateway(`
admin_key: ${ADMIN}
providers:
  - id: p
    kind: openai
    base_url: "${up.url}"
    api_key: sk-test-provider-key-123456
    models: [priced, free-model, "gpt-*"]
    model_info: { priced: { price: ${JSON.stringify(PRICE)} } }
routes:
  - { name: smart, targets: [p/priced] }
`);
  alice = await createKey(g.gw.log, { name: "alice" }, "cli");
  bob = await createKey(g.gw.log, { name: "bob" }, "cli");
  // alice: three priced answers by the route (one slow, one streamed), one unpriced answer.
  for (const response of [
    await chat(alice.secret, "smart"),
    await chat(alice.secret, "smart", { messages: [{ role: "user", content: "slow" }] }),
    await chat(alice.secret, "smart", { stream: true, stream_options: { include_usage: true } }),
    await chat(alice.secret, "free-model"),
  ]) {
    expect(response.status).toBe(200);
    await response.text();
  }
  // bob: two priced answers by name, one unpriced, and one the upstream refuses.
  for (const [model, content, status] of [["priced", "hi", 200], ["priced", "hi", 200], ["free-model", "hi", 200], ["priced", "fail", 400]] as const) {
    const response = await chat(bob.secret, model, { messages: [{ role: "user", content }] });
    expect(response.status).toBe(status);
    await response.text();
  }
});

afterAll(async () => {
  await g?.close();
  await up?.stop();
});

describe("GET /api/usage", () => {
  test("is for the admin key only", async () => {
    expect((await api("/usage", alice.secret)).status).toBe(401);
    expect((await fetch(`${g.url}/api/usage`)).status).toBe(401);
    expect((await api("/prices", bob.secret)).status).toBe(401);
  });

  test("by caller: requests, outcomes, tokens and cost per key, with the key's name", async () => {
    const report = await usage("?group=caller");
    expect(report.group).toEqual(["caller"]);
    const byCaller = Object.fromEntries(report.data.map((row) => [row.caller_name, row]));
    expect(Object.keys(byCaller).sort()).toEqual(["alice", "bob"]);
    expect(byCaller.alice).toMatchObject({
      caller: alice.id, requests: 4, completed: 4, failed: 0, input_tokens: 3010, output_tokens: 1505, unpriced_requests: 1,
    });
    expect(byCaller.alice!.cost_usd).toBeCloseTo(3 * COST, 9);
    expect(byCaller.bob).toMatchObject({
      caller: bob.id, requests: 4, completed: 3, failed: 1, errors: { invalid_request: 1 }, input_tokens: 2010, unpriced_requests: 1,
    });
    expect(byCaller.bob!.cost_usd).toBeCloseTo(2 * COST, 9);
    expect(report.totals).toMatchObject({ requests: 8, completed: 7, failed: 1, input_tokens: 5020, output_tokens: 2510, unpriced_requests: 2 });
    expect(report.totals.cost_usd).toBeCloseTo(5 * COST, 9);
  });

  test("by route and model, and by caller and model: the groups add up", async () => {
    const byRoute = await usage("?group=route");
    expect(byRoute.data.map((r) => [r.route, r.requests])).toEqual([["", 5], ["smart", 3]]);
    const byModel = await usage("?group=provider,model");
    expect(byModel.data.map((r) => [r.provider, r.model, r.requests, r.unpriced_requests])).toEqual([["p", "free-model", 2, 2], ["p", "priced", 6, 0]]);
    const both = await usage("?group=caller,model");
    expect(both.data).toHaveLength(4);
    expect(both.data.reduce((sum, r) => sum + r.requests, 0)).toBe(8);
  });

  test("filters narrow the rows; a list of values is comma-separated", async () => {
    const aliceOnly = await usage(`?group=model&caller=${alice.id}`);
    expect(aliceOnly.data.map((r) => [r.model, r.requests])).toEqual([["free-model", 1], ["priced", 3]]);
    const priced = await usage("?model=priced&route=smart");
    expect(priced.totals).toMatchObject({ requests: 3, unpriced_requests: 0 });
    expect(priced.warnings).toEqual([]);
    const both = await usage(`?caller=${alice.id},${bob.id}&provider=p`);
    expect(both.totals.requests).toBe(8);
    expect((await usage("?caller=key_nobody")).data).toEqual([]);
  });

  test("by day and by hour; since and until bound the hours", async () => {
    const today = new Date().toISOString().slice(0, 10);
    const byDay = await usage("?group=day");
    expect(byDay.data.map((r) => [r.day, r.requests])).toEqual([[today, 8]]);
    const byHour = await usage("?group=hour,caller");
    expect(byHour.data.every((r) => /^\d{4}-\d{2}-\d{2}T\d{2}:00Z$/.test(r.hour!))).toBe(true);
    expect(byHour.data.reduce((sum, r) => sum + r.requests, 0)).toBe(8);
    expect((await usage(`?since=${today}`)).totals.requests).toBe(8);
    expect((await usage(`?until=${today}`)).totals.requests).toBe(0);
    expect((await usage(`?since=${Date.now() + 2 * 3_600_000}`)).data).toEqual([]);
  });

  test("latency percentiles are ordered, the slow answer shows in the tail, and ttfb is not after total", async () => {
    const { totals } = await usage("");
    for (const l of [totals.ttfb_ms, totals.total_ms]) {
      expect(l.count).toBe(7);
      expect(l.p50!).toBeLessThanOrEqual(l.p90!);
      expect(l.p90!).toBeLessThanOrEqual(l.p99!);
      expect(l.p99!).toBeLessThanOrEqual(l.max!);
    }
    expect(totals.total_ms.max!).toBeGreaterThanOrEqual(60);
    expect(totals.total_ms.p99!).toBeGreaterThanOrEqual(60 / 1.05);
    expect(totals.ttfb_ms.p50!).toBeLessThanOrEqual(totals.total_ms.p99!);
  });

  test("an unpriced model is a warning, not a silent zero", async () => {
    const report = await usage("?group=caller");
    expect(report.warnings).toEqual(["model free-model on provider p has no known price: 2 requests counted without cost"]);
    expect((await usage(`?caller=${bob.id}`)).warnings).toEqual(["model free-model on provider p has no known price: 1 request counted without cost"]);
  });

  test("a bad parameter is a 400 naming it", async () => {
    for (const [query, param] of [
      ["?group=caller,colour", "group"], ["?group=day,hour", "group"], ["?since=yesterday-ish", "since"],
      ["?until=2020-01-01&since=2021-01-01", "until"], ["?modle=priced", "modle"], ["?caller=a&caller=b", "caller"], ["?since=99999999999999999999", "since"], ["?until=+275761-01-01", "until"],
    ] as const) {
      const response = await api(`/usage${query}`);
      expect(response.status, query).toBe(400);
      const body = await response.json() as { error: { param: string; message: string; type: string } };
      expect(body.error.param, query).toBe(param);
      expect(body.error.type).toBe("invalid_request_error");
      expect(body.error.message.startsWith(`${param}: `)).toBe(true);
    }
  });
});

describe("GET /api/prices", () => {
  test("each configured model with its price, source and effective date, or unpriced; patterns are not listed", async () => {
    const response = await api("/prices");
    expect(response.status).toBe(200);
    const body = await response.json() as { unit: string; notes: string[]; data: unknown[] };
    expect(body.unit).toBe("USD per million tokens");
    expect(body.notes.join(" ")).toContain("reasoning tokens are billed as output");
    expect(body.data).toEqual([
      { provider: "p", model: "priced", priced: true, price: PRICE, source: "config", effective: new Date().toISOString().slice(0, 10), effective_basis: "as_of" },
      { provider: "p", model: "free-model", priced: false, price: null, source: null, effective: null, effective_basis: null },
    ]);
  });
});

describe("priceOf", () => {
  const provider = (base_url: string, model_info: Record<string, unknown> = {}) =>
    ({ id: "x", kind: "openai", base_url, models: [], headers: {}, stream_usage: true, options: {}, model_info }) as unknown as ProviderConfig;

  test("a configured price wins, with its effective date when given, else as of the day its config was loaded", () => {
    const own = provider("https://api.openai.com/v1", { "gpt-4o": { price: { input: 1, output: 2, effective: "2026-01-15" } } });
    expect(priceOf(own, "gpt-4o")).toEqual({ price: { input: 1, output: 2 }, source: "config", effective: "2026-01-15", effective_basis: "from" });
    const undated = provider("https://api.openai.com/v1", { "gpt-4o": { price: { input: 1, output: 2 } } });
    providersLoaded([undated], new Date("2026-05-04T10:00:00Z"));
    // Asked later, the date is still the load day, not the day of the first question.
    expect(priceOf(undated, "gpt-4o", new Date("2026-05-20T00:00:00Z"))).toMatchObject({ source: "config", effective: "2026-05-04", effective_basis: "as_of" });
  });

  test("the dataset's price, with the start date of the price in force when it changed over time", () => {
    const anthropic = provider("https://api.anthropic.com");
    const before = priceOf(anthropic, "claude-opus-4-6", new Date("2026-03-12T00:00:00Z"));
    const after = priceOf(anthropic, "claude-opus-4-6", new Date("2026-03-14T00:00:00Z"));
    expect(after).toMatchObject({ source: "genai-prices", effective: "2026-03-13", effective_basis: "from" });
    expect(before?.effective).not.toBe("2026-03-13");
    const plain = priceOf(provider("https://api.openai.com/v1"), "gpt-4o");
    expect(plain).toMatchObject({ source: "genai-prices", price: { input: expect.any(Number), output: expect.any(Number) } });
    expect(priceOf(provider("http://127.0.0.1:9"), "my-local-model")).toBeUndefined();
  });

  test("every dataset price has a date: an undated one is dated as of the dataset's newest recorded change, never later than asked", () => {
    const groq = provider("https://api.groq.com/openai/v1"); // the dataset records no price change at Groq
    const at = new Date("2026-11-01T00:00:00Z");
    const fact = priceOf(groq, "llama-3.3-70b-versatile", at);
    expect(fact).toMatchObject({ source: "genai-prices", effective_basis: "as_of", effective: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/) });
    expect(fact!.effective <= "2026-11-01").toBe(true);
    // Anthropic's newest dated change (2026-03-13) is a lower bound: the dataset knows later ones elsewhere.
    expect(fact!.effective >= "2026-03-13").toBe(true);
    // Asked about an earlier day, the date moves back with it: no change after the day asked counts.
    const earlier = priceOf(groq, "llama-3.3-70b-versatile", new Date("2026-03-14T00:00:00Z"));
    expect(earlier!.effective <= "2026-03-14").toBe(true);
    for (const model of ["gpt-4o", "gpt-4.1-mini", "claude-sonnet-4-5"]) {
      const price = priceOf(provider(model.startsWith("claude") ? "https://api.anthropic.com" : "https://api.openai.com/v1"), model, at);
      expect(price?.effective, model).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
  });
});
