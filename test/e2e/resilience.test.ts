import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { startFakeUpstream, streamText, type FakeUpstream } from "../support/fake-upstream.ts";
import { startGateway, type TestGateway } from "../support/gateway.ts";

// Disconnects, fallback and timeouts against real fake upstreams.

let primary: FakeUpstream;
let backup: FakeUpstream;
let gateway: TestGateway;

const encoder = new TextEncoder();

/** An SSE body that sends `first` at once, then waits `pauseMs` (or until aborted) before the rest. */
function stalledStream(request: Request, first: string, pauseMs: number, rest = ""): Response {
  return new Response(new ReadableStream({
    async start(controller) {
      controller.enqueue(encoder.encode(first));
      await Promise.race([Bun.sleep(pauseMs), new Promise((r) => request.signal.addEventListener("abort", r, { once: true }))]);
      try {
        if (rest) controller.enqueue(encoder.encode(rest));
        controller.close();
      } catch {
        // the reader is gone
      }
    },
  }), { headers: { "content-type": "text/event-stream" } });
}

async function hang(request: Request, ms: number): Promise<Response> {
  await Promise.race([Bun.sleep(ms), new Promise((r) => request.signal.addEventListener("abort", r, { once: true }))]);
  return Response.json({ error: { message: "too late" } }, { status: 500 });
}

beforeAll(() => {
  primary = startFakeUpstream();
  backup = startFakeUpstream();
});

// A gateway per test: upstream health (cooldowns, ejections) must not carry from one story to the next.
beforeEach(async () => {
  primary.reset();
  backup.reset();
  gateway = await startGateway(`
providers:
  - id: primary
    kind: openai
    base_url: ${primary.url}
    models: [fake-model]
    timeouts: { first_byte_ms: 300, idle_ms: 300 }
  - id: backup
    kind: openai
    base_url: ${backup.url}
    models: [fake-model]
routes:
  - { name: only-primary, targets: [primary/fake-model] }
`);
});

afterEach(async () => {
  await gateway.close();
});

afterAll(async () => {
  await primary.stop();
  await backup.stop();
});

const post = (body: Record<string, unknown>, signal?: AbortSignal) => fetch(`${gateway.url}/v1/chat/completions`, {
  method: "POST", body: JSON.stringify({ messages: [{ role: "user", content: "x" }], ...body }), ...(signal ? { signal } : {}),
});
const timeline = (id: string) => gateway.gw.log.forRequest(id);
const waitFor = async (check: () => boolean, ms = 3000) => {
  for (let i = 0; i < ms / 20 && !check(); i++) await Bun.sleep(20);
  return check();
};

describe("client disconnect", () => {
  test("mid-stream: the upstream request is aborted at once and the request is recorded as cancelled", async () => {
    const first = streamText(["hello ", "world"], { finish: false, done: false });
    primary.behave((_seen, request) => stalledStream(request, first, 10_000));
    const controller = new AbortController();
    const response = await post({ model: "only-primary", stream: true }, controller.signal);
    const id = response.headers.get("x-sluice-request-id")!;
    const reader = response.body!.getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toContain("hello");
    const abortedAt = Date.now();
    controller.abort();
    expect(await waitFor(() => primary.seen[0]?.abortedAt !== undefined)).toBe(true);
    expect(primary.seen[0]!.abortedAt! - abortedAt).toBeLessThan(1000);
    expect(await waitFor(() => timeline(id).at(-1)?.type === "request.cancelled")).toBe(true);
    expect(timeline(id).at(-1)!.data).toMatchObject({ status: 499, provider: "primary" });
    expect((timeline(id).at(-1)!.data as { streamed_chars: number }).streamed_chars).toBeGreaterThan(0);
    expect(backup.seen.length).toBe(0); // no fallback after a client cancel
  });

  test("before the upstream answers: the upstream is aborted, not left running", async () => {
    primary.behave((_seen, request) => hang(request, 250));
    const gw = gateway.gw;
    const before = gw.log.lastSeq;
    const controller = new AbortController();
    const pending = post({ model: "only-primary" }, controller.signal).catch((e) => e);
    expect(await waitFor(() => primary.seen.length === 1)).toBe(true);
    controller.abort();
    await pending;
    expect(await waitFor(() => primary.seen[0]!.abortedAt !== undefined)).toBe(true);
    expect(await waitFor(() => gw.log.read(before, 1000).some((e) => e.type === "request.cancelled"))).toBe(true);
    expect(gw.log.read(before, 1000).some((e) => e.type === "attempt.failed" && (e.data as { fallback: boolean }).fallback)).toBe(false);
  });
});

describe("fallback", () => {
  test("a 500 from the first target moves on to the next; the client sees one answer", async () => {
    primary.behave(() => Response.json({ error: { message: "internal" } }, { status: 500 }));
    const response = await post({ model: "fake-model" });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-sluice-attempts")).toBe("2");
    expect(response.headers.get("x-sluice-provider")).toBe("backup");
    const events = timeline(response.headers.get("x-sluice-request-id")!);
    expect(events.map((e) => e.type)).toEqual(["request.received", "route.decided", "attempt.started", "attempt.failed", "attempt.started", "attempt.succeeded", "request.completed"]);
    expect(events[3]!.data).toMatchObject({ provider: "primary", status: 500, reason: "upstream_error", fallback: true });
    expect(events[6]!.data).toMatchObject({ attempts: 2, provider: "backup" });
  });

  test("a 400 from the upstream is the caller's problem: answered at once, no fallback", async () => {
    primary.behave(() => Response.json({ error: { message: "bad tool schema" } }, { status: 400 }));
    const response = await post({ model: "fake-model" });
    expect(response.status).toBe(400);
    expect(backup.seen.length).toBe(0);
  });

  test("a 429 on the only target comes back as 429 with Retry-After", async () => {
    primary.behave(() => Response.json({ error: { message: "slow down" } }, { status: 429, headers: { "retry-after": "7" } }));
    const response = await post({ model: "only-primary" });
    expect(response.status).toBe(429);
    expect(response.headers.get("retry-after")).toBe("7");
    const body = await response.json() as { error: { type: string } };
    expect(body.error.type).toBe("rate_limit_exceeded");
  });

  test("streaming falls over invisibly when the first target fails before its first byte", async () => {
    primary.behave(() => new Response("upstream exploded", { status: 503 }));
    const response = await post({ model: "fake-model", stream: true });
    const text = await response.text();
    expect(response.headers.get("x-sluice-provider")).toBe("backup");
    expect(text).toContain("data: [DONE]");
  });
});

describe("timeouts", () => {
  test("no response headers within first_byte_ms: attempt fails as timeout:first_byte and falls back", async () => {
    primary.behave((_seen, request) => hang(request, 5000));
    const started = performance.now();
    const response = await post({ model: "fake-model" });
    expect(response.status).toBe(200);
    expect(performance.now() - started).toBeLessThan(3000);
    const events = timeline(response.headers.get("x-sluice-request-id")!);
    expect(events[3]!.data).toMatchObject({ reason: "timeout:first_byte", status: 0, fallback: true });
    expect(await waitFor(() => primary.seen[0]!.abortedAt !== undefined)).toBe(true);
  });

  test("on the only target, a first-byte timeout is a 504", async () => {
    primary.behave((_seen, request) => hang(request, 5000));
    const response = await post({ model: "only-primary" });
    expect(response.status).toBe(504);
  });

  test("a stream idle longer than idle_ms ends with an error event and request.failed", async () => {
    primary.behave((_seen, request) => stalledStream(request, streamText(["par"], { finish: false, done: false }), 5000));
    const response = await post({ model: "only-primary", stream: true });
    const text = await response.text();
    expect(text).toContain('"content":"par"');
    expect(text).not.toContain("[DONE]");
    expect(text).toMatch(/data: \{"error":\{"message":"upstream stream idle for 300 ms"/);
    const last = timeline(response.headers.get("x-sluice-request-id")!).at(-1)!;
    expect(last.type).toBe("request.failed");
    expect(last.data).toMatchObject({ reason: "upstream_timeout" });
  });
});

describe("logging", () => {
  test("one JSON line per request, with no credentials", async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST", headers: { authorization: "Bearer sk-caller-canary-7777" },
      body: JSON.stringify({ model: "backup/fake-model", messages: [{ role: "user", content: "log me" }] }),
    });
    const id = response.headers.get("x-sluice-request-id")!;
    const lines = gateway.logs().filter((l) => l.request === id);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: "request", status: 200, target: "backup/fake-model", attempts: 1 });
    expect(JSON.stringify(gateway.logs())).not.toContain("sk-caller-canary-7777");
  });
});
