import { afterAll, beforeAll, expect, test } from "vitest";
import { startFakeUpstream, streamText, completion, type FakeUpstream } from "../support/fake-upstream.ts";
import { startGateway, type TestGateway } from "../support/gateway.ts";

// A bounded burst of concurrent requests while upstreams fail at random: errors, 429s, hangs
// before the first byte, streams cut in the middle, slow chunks. Whatever happens upstream, every
// request gets an answer or an error in its own dialect, none outlives its deadline, and the
// log holds exactly one final event per request.

const TOTAL_MS = 1500;
const BURST = 60;

let upstreams: FakeUpstream[] = [];
let gateway: TestGateway;

/** mulberry32: the chaos is random but the same on every run. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const encoder = new TextEncoder();

function untilAborted(request: Request, ms: number): Promise<unknown> {
  return Promise.race([Bun.sleep(ms), new Promise((r) => request.signal.addEventListener("abort", r, { once: true }))]);
}

/** A chaotic OpenAI-compatible upstream. */
function chaotic(seed: number) {
  const random = seeded(seed);
  return async (seen: { json: Record<string, unknown> }, request: Request): Promise<Response> => {
    const roll = random();
    const stream = seen.json.stream === true;
    if (roll < 0.15) return Response.json({ error: { message: "internal" } }, { status: 500 });
    if (roll < 0.25) return Response.json({ error: { message: "slow down" } }, { status: 429, headers: { "retry-after": "1" } });
    if (roll < 0.33) {
      await untilAborted(request, 5000); // hang before the first byte
      return new Response("late");
    }
    if (!stream) return Response.json(completion("steady answer", "m"));
    const pieces = ["one ", "two ", "three ", "four"];
    const body = streamText(pieces, { model: "m", usage: { prompt_tokens: 3, completion_tokens: 4 } });
    const events = body.split("\n\n").filter(Boolean).map((e) => `${e}\n\n`);
    const cut = roll < 0.45; // cut mid-stream
    const slow = roll > 0.85; // slow chunks, within the idle limit
    return new Response(new ReadableStream({
      async start(controller) {
        try {
          for (const [i, event] of events.entries()) {
            if (cut && i === 2) {
              controller.close(); // the stream stops mid-answer: no finish, no [DONE]
              return;
            }
            controller.enqueue(encoder.encode(event));
            if (slow) await untilAborted(request, 40);
          }
          controller.close();
        } catch {
          // the gateway went away
        }
      },
    }), { headers: { "content-type": "text/event-stream" } });
  };
}

beforeAll(async () => {
  upstreams = [startFakeUpstream(chaotic(1)), startFakeUpstream(chaotic(2)), startFakeUpstream(chaotic(3))];
  gateway = await startGateway(`
timeouts: { first_byte_ms: 250, idle_ms: 250, total_ms: ${TOTAL_MS} }
retry: { attempts: 1, backoff_ms: 50, max_wait_s: 0 }
providers:
${upstreams.map((u, i) => `  - { id: u${i}, kind: openai, base_url: "${u.url}", models: [m] }`).join("\n")}
routes:
  - { name: chaos, strategy: random, targets: [u0/m, u1/m, u2/m] }
`);
});

afterAll(async () => {
  await gateway?.close();
  for (const u of upstreams) await u.stop();
});

type Outcome = { id: string; status: number; ms: number; ok: boolean };

async function one(i: number): Promise<Outcome> {
  const started = Date.now();
  const anthropic = i % 3 === 0;
  const stream = i % 2 === 0;
  const response = anthropic
    ? await fetch(`${gateway.url}/v1/messages`, { method: "POST", body: JSON.stringify({ model: "chaos", max_tokens: 50, stream, messages: [{ role: "user", content: `q${i}` }] }) })
    : await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "chaos", stream, messages: [{ role: "user", content: `q${i}` }] }) });
  const text = await response.text();
  const id = response.headers.get("x-sluice-request-id") ?? "";
  let ok: boolean;
  if (response.status !== 200) {
    // An error in the client's own dialect.
    const body = JSON.parse(text) as Record<string, unknown>;
    ok = anthropic ? body.type === "error" && typeof (body.error as { type?: unknown }).type === "string" : typeof (body.error as { message?: unknown })?.message === "string";
  } else if (!stream) {
    ok = text.includes("steady answer") || text.includes("echo");
  } else if (anthropic) {
    // A stream ends with message_stop, or with the dialect's error event.
    ok = text.includes("event: message_stop") || text.includes("event: error");
  } else {
    ok = text.trimEnd().endsWith("data: [DONE]") || text.includes('data: {"error"');
  }
  return { id, status: response.status, ms: Date.now() - started, ok };
}

test(`a burst of ${BURST} concurrent requests while upstreams fail at random: answered or a dialect error, within the deadline, one final event each`, async () => {
  const outcomes = await Promise.all(Array.from({ length: BURST }, (_, i) => one(i)));
  const bad = outcomes.filter((o) => !o.ok);
  expect(bad).toEqual([]);
  // Nobody waited past the deadline (plus time to answer on a busy machine).
  expect(Math.max(...outcomes.map((o) => o.ms))).toBeLessThan(TOTAL_MS + 1000);
  expect(outcomes.every((o) => o.id.startsWith("req_"))).toBe(true);
  // Both kinds of outcome happened: this was chaos, not a quiet run.
  expect(outcomes.some((o) => o.status === 200)).toBe(true);

  // The log: one terminal event per request, for exactly the requests the clients saw.
  let terminal: Map<string, number> = new Map();
  for (let i = 0; i < 100; i++) {
    terminal = new Map();
    for (const e of gateway.gw.log.all()) {
      if (e.type === "request.completed" || e.type === "request.failed" || e.type === "request.cancelled") {
        const id = (e.data as { request: string }).request;
        terminal.set(id, (terminal.get(id) ?? 0) + 1);
      }
    }
    if (outcomes.every((o) => terminal.has(o.id))) break;
    await Bun.sleep(20);
  }
  const received = [...gateway.gw.log.all()].filter((e) => e.type === "request.received").map((e) => (e.data as { request: string }).request);
  expect(new Set(received)).toEqual(new Set(outcomes.map((o) => o.id)));
  for (const o of outcomes) expect(terminal.get(o.id)).toBe(1);
  const reasons = new Set([...gateway.gw.log.all()].filter((e) => e.type === "attempt.failed").map((e) => (e.data as { reason: string }).reason));
  expect(reasons.size).toBeGreaterThanOrEqual(2);
});
