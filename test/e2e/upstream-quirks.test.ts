import { afterEach, describe, expect, test } from "vitest";
import { createKey } from "../../core/keys/keys.ts";
import { completion, startFakeUpstream, streamText, type Behaviour, type FakeUpstream, type Seen } from "../support/fake-upstream.ts";
import { vendorBehaviour } from "../support/fake-vendors.ts";
import { startGateway, type TestGateway } from "../support/gateway.ts";

// An upstream's odd numbers and a stream's length must not break what the gateway keeps for
// itself: the event log (one terminal event per request, valid), a key's slots and the
// in-flight limit.

const open: Array<{ stop(): Promise<void> } | TestGateway> = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await ("close" in thing ? thing.close() : thing.stop());
});

/** A fake upstream and a gateway configured over it (`root` is its origin, `url` its /v1), both stopped after the test. */
async function over(behaviour: Behaviour, config: (up: { root: string; url: string }) => string): Promise<{ g: TestGateway; up: FakeUpstream }> {
  const up = startFakeUpstream(behaviour);
  open.push(up);
  const g = await startGateway(config({ root: up.url.replace(/\/v1$/, ""), url: up.url }));
  open.push(g);
  return { g, up };
}

const setup = (behaviour: Behaviour, extra = "") => over(behaviour, ({ url }) => `
providers:
  - { id: p, kind: openai, base_url: "${url}", api_key: sk-quirks-provider-0000, models: [m], model_info: { m: { price: { input: 1, output: 2 } } } }
${extra}`);

const chat = (g: TestGateway, body: Record<string, unknown>, key?: string) => fetch(`${g.url}/v1/chat/completions`, {
  method: "POST",
  headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
  body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }], ...body }),
});

const terminalOf = (g: TestGateway, id: string) => g.gw.log.forRequest(id).filter((e) => e.type.startsWith("request.") && e.type !== "request.received");

describe("usage an upstream reports that is not a count", () => {
  const ODD = [
    { prompt_tokens: -5, completion_tokens: 3 },
    { prompt_tokens: 1.5, completion_tokens: 2.4 },
    { prompt_tokens: 1e308, completion_tokens: 7 },
    { prompt_tokens: 4, completion_tokens: -1e9 },
  ];

  test("a whole answer still completes, on record with usage made of counts and a finite cost", async () => {
    let n = 0;
    const { g } = await setup(() => Response.json(completion("ok", "m", ODD[n++ % ODD.length]!)));
    const expected = [
      { input_tokens: 0, output_tokens: 3 }, { input_tokens: 2, output_tokens: 2 }, { input_tokens: 0, output_tokens: 7 }, { input_tokens: 4, output_tokens: 0 },
    ];
    for (const usage of expected) {
      const response = await chat(g, {});
      expect(response.status).toBe(200);
      const id = response.headers.get("x-sluice-request-id")!;
      const [terminal] = terminalOf(g, id);
      expect(terminal?.type).toBe("request.completed");
      expect((terminal!.data as { usage: unknown }).usage).toEqual(usage);
      expect(Number.isFinite((terminal!.data as { cost_usd: number }).cost_usd)).toBe(true);
    }
  });

  test("a stream still ends with its terminal event, and a key limited to one request at a time gets its slot back", async () => {
    let n = 0;
    const { g } = await setup(() => new Response(streamText(["a", "b"], { model: "m", usage: ODD[n++ % ODD.length]! }), { headers: { "content-type": "text/event-stream" } }));
    const { secret } = await createKey(g.gw.log, { name: "one", concurrency: 1 }, "cli");
    for (let i = 0; i < ODD.length; i++) {
      const response = await chat(g, { stream: true, stream_options: { include_usage: true } }, secret);
      expect(response.status).toBe(200);
      const text = await response.text();
      expect(text).toContain("data: [DONE]");
      const id = response.headers.get("x-sluice-request-id")!;
      expect(terminalOf(g, id).map((e) => e.type)).toEqual(["request.completed"]);
    }
    expect(g.gw.inFlight).toBe(0);
  });
});

describe("an upstream stream event that never ends", () => {
  // One event of 9 MiB, sent in 64 KiB reads, never closed by a blank line.
  const huge = (): Response => {
    const encoder = new TextEncoder();
    const piece = encoder.encode("x".repeat(64 * 1024));
    let sent = 0;
    return new Response(new ReadableStream({
      pull(controller) {
        if (sent === 0) controller.enqueue(encoder.encode('data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"'));
        if (sent >= 9 * 16) return controller.close();
        sent++;
        controller.enqueue(piece);
      },
    }), { headers: { "content-type": "text/event-stream" } });
  };

  for (const [name, model, path, body] of [
    ["passed through", "m", "/v1/chat/completions", { model: "m", stream: true, messages: [{ role: "user", content: "hi" }] }],
    ["translated", "m", "/v1/messages", { model: "m", stream: true, max_tokens: 10, messages: [{ role: "user", content: "hi" }] }],
  ] as const) {
    test(`${name}: cut at 8 MiB with an error event in the client's dialect, quickly, and on record as failed`, async () => {
      const { g } = await setup(() => huge());
      const started = performance.now();
      const response = await fetch(`${g.url}${path}`, { method: "POST", body: JSON.stringify({ ...body, model }) });
      const text = await response.text();
      expect(performance.now() - started).toBeLessThan(5000);
      expect(text).toContain("larger than 8 MiB");
      expect(text.length).toBeLessThan(64 * 1024);
      const id = response.headers.get("x-sluice-request-id")!;
      expect(terminalOf(g, id).map((e) => [e.type, (e.data as { reason?: string }).reason])).toEqual([["request.failed", "upstream_invalid"]]);
    });
  }
});

describe("a stream's end, in every dialect", () => {
  /** The vendor's stream, then the connection held open (as some upstreams do after their end event). */
  const lingering: Behaviour = async (seen, request) => {
    const answer = await vendorBehaviour(seen, request);
    if (!(answer.headers.get("content-type") ?? "").includes("event-stream")) return answer;
    const text = await answer.text();
    return new Response(new ReadableStream({
      async start(controller) {
        controller.enqueue(new TextEncoder().encode(text));
        await Bun.sleep(4000);
        controller.close();
      },
    }), { headers: { "content-type": "text/event-stream" } });
  };

  for (const [name, path, body, end] of [
    ["OpenAI upstream → Anthropic client", "/v1/messages", { model: "m", max_tokens: 20, stream: true, messages: [{ role: "user", content: "hi" }] }, "message_stop"],
    ["Anthropic upstream → Anthropic client (passed through)", "/v1/messages", { model: "claude", max_tokens: 20, stream: true, messages: [{ role: "user", content: "hi" }] }, "message_stop"],
    ["OpenAI upstream → Responses client", "/v1/responses", { model: "m", stream: true, input: "hi" }, "response.completed"],
    ["OpenAI upstream → OpenAI client (passed through)", "/v1/chat/completions", { model: "m", stream: true, messages: [{ role: "user", content: "hi" }] }, "[DONE]"],
  ] as const) {
    test(`${name}: the terminal event is on record before the end event is sent, and an upstream that stays open does not fail the answer`, async () => {
      const { g } = await over(lingering, ({ root }) => `
timeouts: { idle_ms: 1000 }
providers:
  - { id: p, kind: openai, base_url: "${root}/v1", api_key: sk-quirks-provider-0000, models: [m] }
  - { id: an, kind: anthropic, base_url: "${root}", api_key: sk-ant-quirks-0000, models: [claude] }
`);
      const started = performance.now();
      const response = await fetch(`${g.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      const id = response.headers.get("x-sluice-request-id")!;
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      let text = "";
      let onRecordAtEnd: string[] | undefined;
      while (!text.includes(end)) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        if (text.includes(end)) onRecordAtEnd = terminalOf(g, id).map((e) => e.type);
      }
      expect(text).toContain(end);
      expect(onRecordAtEnd).toEqual(["request.completed"]);
      expect(performance.now() - started).toBeLessThan(900);
      await reader.cancel();
      expect(text).not.toMatch(/event: error|"type":"error"|"error":\{/);
    });
  }
});

describe("a stream that fails before its first event", () => {
  const sse = (parts: string[], stallMs = 0): Response => new Response(new ReadableStream({
    async start(controller) {
      if (stallMs) await Bun.sleep(stallMs);
      for (const part of parts) controller.enqueue(new TextEncoder().encode(part));
      controller.close();
    },
  }), { headers: { "content-type": "text/event-stream" } });

  for (const [name, bad] of [
    ["closes at once", () => sse([])],
    ["sends only a keep-alive comment, then closes", () => sse([": ping\n\n"])],
    ["sends an error first", () => sse([`data: ${JSON.stringify({ error: { message: "overloaded", type: "server_error" } })}\n\n`])],
    ["stays silent past first_byte_ms after its headers", () => sse([streamText(["late"], { model: "m" })], 1500)],
  ] as const) {
    test(`an upstream that ${name}: the next target answers, one attempt failed, one terminal event`, async () => {
      const upstream = (seen: Seen) => seen.path.startsWith("/bad") ? bad() : new Response(streamText(["good"], { model: "m" }), { headers: { "content-type": "text/event-stream" } });
      const { g } = await over(upstream, ({ root }) => `
timeouts: { first_byte_ms: 500 }
providers:
  - { id: bad, kind: openai, base_url: "${root}/bad/v1", api_key: sk-quirks-bad-0000, models: [m] }
  - { id: good, kind: openai, base_url: "${root}/v1", api_key: sk-quirks-good-0000, models: [m] }
routes:
  - { name: r, targets: [bad/m, good/m] }
`);
      const response = await chat(g, { model: "r", stream: true });
      expect(response.status).toBe(200);
      const text = await response.text();
      expect(text).toContain('"content":"good"');
      expect(text).not.toContain("overloaded");
      const id = response.headers.get("x-sluice-request-id")!;
      const types = g.gw.log.forRequest(id).map((e) => e.type);
      expect(types.filter((t) => t.startsWith("attempt."))).toEqual(["attempt.started", "attempt.failed", "attempt.started", "attempt.succeeded"]);
      expect(terminalOf(g, id).map((e) => e.type)).toEqual(["request.completed"]);
    });
  }
});

describe("limits.max_in_flight", () => {
  test("counts a stream until its end, not until its headers went out", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const encoder = new TextEncoder();
    const { g } = await setup((seen) => !(seen.json as { stream?: boolean }).stream ? Response.json(completion("ok", "m")) : new Response(new ReadableStream({
      async start(controller) {
        controller.enqueue(encoder.encode(`data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: { role: "assistant", content: "x" }, finish_reason: null }] })}\n\n`));
        await gate;
        controller.enqueue(encoder.encode(streamText([], { model: "m" })));
        controller.close();
      },
    }), { headers: { "content-type": "text/event-stream" } }), "limits: { max_in_flight: 2 }");
    // Two streams open and waiting (their first chunk went out)…
    const streams = await Promise.all([chat(g, { stream: true }), chat(g, { stream: true })]);
    const readers = streams.map((r) => r.body!.getReader());
    for (const reader of readers) await reader.read();
    expect(g.gw.inFlight).toBe(2);
    // … so a third request is refused at once, in the client's dialect.
    const third = await chat(g, {});
    expect(third.status).toBe(503);
    expect(((await third.json()) as { error: { message: string } }).error.message).toContain("limit of 2 requests in flight");
    release();
    for (const reader of readers) while (!(await reader.read()).done) { /* drain */ }
    await Bun.sleep(50);
    expect(g.gw.inFlight).toBe(0);
    expect((await chat(g, {})).status).toBe(200);
  });
});

describe("model names", () => {
  test("a model name longer than any provider uses is refused with a 400 naming the field", async () => {
    const { g, up } = await setup(() => Response.json(completion("ok", "m")));
    const response = await chat(g, { model: `x${"-".repeat(5000)}` });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { param: "model", message: expect.stringContaining("longer than 256") } });
    expect(up.seen).toHaveLength(0);
  });
});

describe("a whole body cut short", () => {
  test("an upstream whose body ends before its content-length: the attempt fails as the upstream's, not the executor's, and the next target answers", async () => {
    const { createServer } = await import("node:net");
    const liar = createServer((socket) => {
      socket.once("data", () => {
        socket.end("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"id\":\"chatcmpl-x\",");
      });
    });
    await new Promise<void>((resolve) => liar.listen(0, "127.0.0.1", resolve));
    const port = (liar.address() as { port: number }).port;
    const good = startFakeUpstream(() => Response.json(completion("good", "m")));
    open.push(good, { stop: () => new Promise<void>((resolve) => liar.close(() => resolve())) });
    const g = await startGateway(`
providers:
  - { id: liar, kind: openai, base_url: "http://127.0.0.1:${port}/v1", api_key: sk-quirks-liar-0000, models: [m] }
  - { id: good, kind: openai, base_url: "${good.url}", api_key: sk-quirks-good-0000, models: [m] }
routes:
  - { name: r, targets: [liar/m, good/m] }
`);
    open.push(g);
    const response = await chat(g, { model: "r" });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content).toBe("good");
    const id = response.headers.get("x-sluice-request-id")!;
    const timeline = g.gw.log.forRequest(id);
    expect(timeline.map((e) => e.type)).not.toContain("plugin.failed");
    expect(timeline.find((e) => e.type === "attempt.failed")?.data).toMatchObject({ target: "liar/m", message: "upstream body broke off before its end" });
  });
});

describe("a broken event in a passed-through stream", () => {
  for (const [name, after] of [["in the middle", false], ["after the finish", true]] as const) {
    test(`${name}: the client gets its dialect's error event, never the broken bytes, and the log says failed`, async () => {
      const first = streamText(["hel", "lo"], { model: "m", done: false, finish: after });
      const { g } = await setup(() => new Response(`${first}data: {"id":"chatcmpl-x","object":"chat.comp`, { headers: { "content-type": "text/event-stream" } }));
      const response = await chat(g, { stream: true });
      const text = await response.text();
      expect(text).not.toContain('"object":"chat.comp\n');
      expect(text).not.toMatch(/"object":"chat\.comp(?!letion)/);
      const events = text.split("\n\n").filter(Boolean);
      for (const event of events) expect(() => JSON.parse(event.replace(/^data: /, "")), event).not.toThrow();
      expect(text).toContain('"error"');
      const id = response.headers.get("x-sluice-request-id")!;
      expect(terminalOf(g, id).map((e) => e.type)).toEqual(["request.failed"]);
    });
  }
});

describe("a translated stream the gateway ends with an error", () => {
  test("a Responses client gets the error numbered after what it had, then response.failed", async () => {
    const encoder = new TextEncoder();
    const { g } = await over(() => new Response(new ReadableStream({
      async start(controller) {
        controller.enqueue(encoder.encode(streamText(["a", "b", "c"], { model: "m", done: false, finish: false })));
        await Bun.sleep(3000); // past idle_ms
        controller.close();
      },
    }), { headers: { "content-type": "text/event-stream" } }), ({ url }) => `
timeouts: { idle_ms: 300 }
providers:
  - { id: p, kind: openai, base_url: "${url}", api_key: sk-quirks-provider-0000, models: [m] }
`);
    const response = await fetch(`${g.url}/v1/responses`, { method: "POST", body: JSON.stringify({ model: "m", stream: true, input: "hi" }) });
    const events = (await response.text()).split("\n\n").filter(Boolean).map((e) => JSON.parse(e.slice(e.indexOf("data: ") + 6)) as { type: string; sequence_number: number });
    const numbers = events.map((e) => e.sequence_number);
    expect(numbers).toEqual(numbers.map((_, i) => i));
    expect(events.map((e) => e.type).slice(-2)).toEqual(["error", "response.failed"]);
  });
});
