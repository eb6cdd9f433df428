import { join } from "node:path";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterEach, describe, expect, test } from "vitest";
import { completion, startFakeUpstream, streamText, type FakeUpstream } from "../support/fake-upstream.ts";
import { startGateway, type TestGateway } from "../support/gateway.ts";
import { createKey } from "../../core/keys/keys.ts";
import { sluice } from "../support/cli.ts";

// Caller keys, their limits and budgets, and the admin API, on a real gateway with a real fake
// upstream. The CLI is driven as a user would, beside the running server.

const ADMIN = "admin-canary-7f3e9c1d2b-0123456789abcdef";
const PROVIDER_KEY = "sk-canary-prov-4d6f0a8e-1b2c";

const open: Array<{ stop(): Promise<void> } | TestGateway> = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await ("close" in thing ? thing.close() : thing.stop());
});

async function setup(extra = "", behaviour?: Parameters<typeof startFakeUpstream>[0]): Promise<{ g: TestGateway; up: FakeUpstream }> {
  const up = startFakeUpstream(behaviour);
  open.push(up);
  const g = await startGateway(`
admin_key: ${ADMIN}
providers:
  - id: p
    kind: openai
    base_url: "${up.url}"
    api_key: ${PROVIDER_KEY}
    models: [m, other, priced]
    model_info: { priced: { max_output: 1, price: { input: 0, output: 1000000 } } }
routes:
  - { name: smart, targets: [p/m] }
${extra}`);
  open.push(g);
  return { g, up };
}


const chat = (g: TestGateway, key: string | undefined, body: Record<string, unknown> = {}) => fetch(`${g.url}/v1/chat/completions`, {
  method: "POST",
  headers: key ? { authorization: `Bearer ${key}` } : {},
  body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }], ...body }),
});
const api = (g: TestGateway, path: string, init: RequestInit = {}, key = ADMIN) =>
  fetch(`${g.url}/api${path}`, { ...init, headers: { authorization: `Bearer ${key}`, ...(init.headers as Record<string, string> ?? {}) } });

describe("caller keys", () => {
  test("sluice keys create beside the running server: shown once, stored as a hash, and from then on every caller needs one", async () => {
    const { g } = await setup();
    expect((await chat(g, undefined)).status).toBe(200); // open while no key exists
    const made = await sluice(["keys", "create", "--name", "ci-bot", "--data", join(g.dir, "data")]);
    expect(made.code).toBe(0);
    const secret = made.stdout.split("\n")[1]!;
    expect(secret).toMatch(/^sk-sluice-[A-Za-z0-9_-]{43}$/);
    // The server picks the key up within its poll interval.
    let denied = false;
    for (let i = 0; i < 50 && !denied; i++) {
      denied = (await chat(g, undefined)).status === 401;
      if (!denied) await Bun.sleep(50);
    }
    expect(denied).toBe(true);
    // Every credential style works.
    expect((await chat(g, secret)).status).toBe(200);
    const styles: Array<Record<string, string>> = [{ "x-api-key": secret }, { "x-goog-api-key": secret }];
    for (const headers of styles) {
      const r = await fetch(`${g.url}/v1/chat/completions`, { method: "POST", headers, body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "x" }] }) });
      expect(r.status).toBe(200);
    }
    expect((await fetch(`${g.url}/v1/chat/completions?key=${secret}`, { method: "POST", body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "x" }] }) })).status).toBe(200);
    // The secret is nowhere in the log; its hash is.
    const all = JSON.stringify([...g.gw.log.all()]);
    expect(all).not.toContain(secret);
    expect(all).not.toContain(secret.slice(10));
    const listed = await sluice(["keys", "list", "--data", join(g.dir, "data"), "--json"]);
    expect(listed.stdout).not.toContain(secret.slice(10));
    expect(JSON.parse(listed.stdout)[0]).toMatchObject({ name: "ci-bot", prefix: secret.slice(0, 14) });
  });

  test("one fixed answer for any bad key, in the client's dialect", async () => {
    const { g } = await setup();
    await createKey(g.gw.log, { name: "k" }, "cli");
    const wrong = await chat(g, "sk-sluice-wrong");
    expect(wrong.status).toBe(401);
    const body = await wrong.json() as { error: { message: string } };
    expect(body.error.message).toBe("invalid or missing API key");
    const anthropic = new Anthropic({ baseURL: g.url, apiKey: "sk-sluice-nope", maxRetries: 0 });
    await expect(anthropic.messages.create({ model: "m", max_tokens: 5, messages: [{ role: "user", content: "x" }] })).rejects.toMatchObject({ status: 401 });
    const gemini = await fetch(`${g.url}/v1beta/models/m:generateContent`, { method: "POST", body: JSON.stringify({ contents: [{ parts: [{ text: "x" }] }] }) });
    expect(gemini.status).toBe(401);
    expect(await gemini.json()).toMatchObject({ error: { code: 401, status: "UNAUTHENTICATED" } });
  });

  test("a key limited to some models gets 403 for others; revoked and expired keys get the fixed 401", async () => {
    const { g } = await setup();
    const limited = await createKey(g.gw.log, { name: "limited", models: ["m", "smart"] }, "cli");
    expect((await chat(g, limited.secret, { model: "smart" })).status).toBe(200);
    expect((await chat(g, limited.secret, { model: "other" })).status).toBe(403);
    const expired = await createKey(g.gw.log, { name: "old", expires_at: Date.now() - 1 }, "cli");
    expect((await chat(g, expired.secret)).status).toBe(401);
    const revoked = await sluice(["keys", "revoke", limited.id, "--data", join(g.dir, "data")]);
    expect(revoked.stdout).toContain(`revoked ${limited.id}`);
    let status = 0;
    for (let i = 0; i < 50 && status !== 401; i++) {
      status = (await chat(g, limited.secret)).status;
      if (status !== 401) await Bun.sleep(50);
    }
    expect(status).toBe(401);
  });

  test("an IP allowlist: loopback is let in, a key for another network is not", async () => {
    const { g } = await setup();
    const here = await createKey(g.gw.log, { name: "here", ips: ["127.0.0.0/8"] }, "cli");
    const there = await createKey(g.gw.log, { name: "there", ips: ["10.0.0.0/8"] }, "cli");
    expect((await chat(g, here.secret)).status).toBe(200);
    expect((await chat(g, there.secret)).status).toBe(401);
  });
});

describe("limits", () => {
  test("requests per minute: the next one gets 429 with Retry-After in the client's dialect", async () => {
    const { g } = await setup();
    const { secret } = await createKey(g.gw.log, { name: "slow", rpm: 2 }, "cli");
    expect((await chat(g, secret)).status).toBe(200);
    expect((await chat(g, secret)).status).toBe(200);
    const third = await chat(g, secret);
    expect(third.status).toBe(429);
    expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await third.json()).toMatchObject({ error: { code: "rate_limit_exceeded" } });
  });

  test("requests in flight per key: fail fast, no queue", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { g } = await setup("", async () => {
      await gate;
      return Response.json(completion("done", "m"));
    });
    const { secret } = await createKey(g.gw.log, { name: "one-at-a-time", concurrency: 1 }, "cli");
    const first = chat(g, secret);
    await Bun.sleep(100);
    const second = await chat(g, secret);
    expect(second.status).toBe(429);
    release();
    expect((await first).status).toBe(200);
    expect((await chat(g, secret)).status).toBe(200); // the slot came back
  });
});

describe("budgets, reserve then settle", () => {
  // "priced" costs $1 per output token and may answer 1 token: each request reserves $1.
  test("concurrent requests cannot overspend: with $3 left, 3 of 10 go through", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { g, up } = await setup("", async () => {
      await gate;
      return Response.json(completion("x", "priced", { prompt_tokens: 0, completion_tokens: 1 }));
    });
    const { secret } = await createKey(g.gw.log, { name: "capped", budget_usd: 3, budget_period: "day" }, "cli");
    const all = Array.from({ length: 10 }, () => chat(g, secret, { model: "priced" }));
    await Bun.sleep(200);
    release();
    const statuses = (await Promise.all(all)).map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(7);
    expect(up.seen).toHaveLength(3);
    // Settled: $3 spent, recorded as cost on the final events; the next request is refused.
    const spent = [...g.gw.log.all()].filter((e) => e.type === "request.completed").reduce((n, e) => n + ((e.data as { cost_usd?: number }).cost_usd ?? 0), 0);
    expect(spent).toBeCloseTo(3, 6);
    const after = await chat(g, secret, { model: "priced" });
    expect(after.status).toBe(429);
    expect(await after.json()).toMatchObject({ error: { code: "insufficient_quota" } });
    const keys = await (await api(g, "/keys")).json() as { data: Array<{ spent_usd: number }> };
    expect(keys.data[0]!.spent_usd).toBeCloseTo(3, 6);
  });

  test("the reservation is at the dearest target's price: an unpriced first target that fails cannot let a priced fallback overspend", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { g } = await setup("  - { name: free-first, targets: [p/m, p/priced] }", async (seen) => {
      await gate;
      if ((seen.json as { model?: string }).model === "m") return Response.json({ error: { message: "down" } }, { status: 500 });
      return Response.json(completion("x", "priced", { prompt_tokens: 0, completion_tokens: 1 }));
    });
    const { secret } = await createKey(g.gw.log, { name: "one-dollar", budget_usd: 1, budget_period: "day" }, "cli");
    const all = Array.from({ length: 5 }, () => chat(g, secret, { model: "free-first" }));
    await Bun.sleep(200);
    release();
    const statuses = (await Promise.all(all)).map((r) => r.status).sort();
    expect(statuses).toEqual([200, 429, 429, 429, 429]);
    const spent = [...g.gw.log.all()].filter((e) => e.type === "request.completed").reduce((n, e) => n + ((e.data as { cost_usd?: number }).cost_usd ?? 0), 0);
    expect(spent).toBeCloseTo(1, 6);
  });

  test("a stream that crosses the budget mid-way ends with the dialect's error event", async () => {
    const events = streamText(Array.from({ length: 40 }, () => "abcd"), { model: "priced", usage: { prompt_tokens: 0, completion_tokens: 40 } })
      .split("\n\n").filter(Boolean).map((e) => `${e}\n\n`);
    // One event at a time, as a model writes.
    const { g } = await setup("", () => new Response(new ReadableStream({
      async start(controller) {
        try {
          for (const event of events) {
            controller.enqueue(new TextEncoder().encode(event));
            await Bun.sleep(3);
          }
          controller.close();
        } catch {
          // the gateway stopped reading
        }
      },
    }), { headers: { "content-type": "text/event-stream" } }));
    // Reserves $1 (1 token at most, by model_info), has $5: about 20 characters of output.
    const { secret } = await createKey(g.gw.log, { name: "streamer", budget_usd: 5 }, "cli");
    const client = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: secret, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: "priced", stream: true, messages: [{ role: "user", content: "go" }] });
    let text = "";
    await expect((async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    })()).rejects.toThrow(/budget/);
    expect(text.length).toBeGreaterThan(0);
    expect(text.length).toBeLessThan(160);
    const failed = [...g.gw.log.all()].filter((e) => e.type === "request.failed").at(-1)!.data;
    expect(failed).toMatchObject({ reason: "rate_limited" });
  });
});

describe("admin API", () => {
  test("needs the admin key; creates, lists and revokes caller keys; never shows key material", async () => {
    const { g } = await setup();
    expect((await api(g, "/keys", {}, "wrong")).status).toBe(401);
    expect((await fetch(`${g.url}/api/keys`)).status).toBe(401);
    const made = await api(g, "/keys", { method: "POST", body: JSON.stringify({ name: "from-api", rpm: 100 }) });
    expect(made.status).toBe(201);
    const { id, key } = await made.json() as { id: string; key: string };
    expect((await chat(g, key)).status).toBe(200);
    const bad = await api(g, "/keys", { method: "POST", body: JSON.stringify({ name: "x", rpm: "lots" }) });
    expect(bad.status).toBe(400);
    const listed = await (await api(g, "/keys")).text();
    expect(listed).toContain("from-api");
    expect(listed).not.toContain(key.slice(10));
    expect((await api(g, `/keys/${id}`, { method: "DELETE" })).status).toBe(200);
    expect((await chat(g, key)).status).toBe(401);
    expect((await api(g, "/keys/key_nope", { method: "DELETE" })).status).toBe(404);
    const providers = await (await api(g, "/providers")).text();
    expect(providers).not.toContain(PROVIDER_KEY);
    expect(JSON.parse(providers).data[0]).toMatchObject({ id: "p", has_api_key: true });
    const routes = await (await api(g, "/routes")).json() as { data: Array<{ name: string }> };
    expect(routes.data[0]!.name).toBe("smart");
    const events = JSON.stringify([...g.gw.log.all()]);
    expect(events).not.toContain(PROVIDER_KEY);
    expect(events).not.toContain(ADMIN);
    expect(events).toContain("key.created");
    expect(events).toContain("key.revoked");
  });

  test("a request's timeline and decision trail", async () => {
    const { g } = await setup();
    const r = await chat(g, undefined);
    const id = r.headers.get("x-sluice-request-id")!;
    const body = await (await api(g, `/requests/${id}`)).json() as { trail: Array<{ step: string }>; events: unknown[] };
    expect(body.trail.map((s) => s.step)).toContain("attempt");
    expect(body.events.length).toBeGreaterThan(3);
  });
});

test("sluice keys selftest proves budget enforcement on this machine", async () => {
  const result = await sluice(["keys", "selftest"]);
  expect(result.code).toBe(0);
  expect(result.stdout).toContain("3 admitted (want 3)");
  expect(result.stdout.trimEnd().endsWith("budget enforcement holds")).toBe(true);
}, 30_000);

test("global max in flight: beyond it, 503 with Retry-After at once, never a queue (T10)", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const { g } = await setup("limits: { max_in_flight: 2 }", async () => {
    await gate;
    return Response.json(completion("done", "m"));
  });
  const held = [chat(g, undefined), chat(g, undefined)];
  await Bun.sleep(100);
  const started = performance.now();
  const extra = await Promise.all([chat(g, undefined), chat(g, undefined), chat(g, undefined)]);
  expect(extra.map((r) => r.status)).toEqual([503, 503, 503]);
  expect(extra.every((r) => r.headers.get("retry-after") === "1")).toBe(true);
  expect(performance.now() - started).toBeLessThan(2000);
  release();
  expect((await Promise.all(held)).map((r) => r.status)).toEqual([200, 200]);
});
