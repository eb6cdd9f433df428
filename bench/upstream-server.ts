// A lean fake OpenAI upstream for the benchmark, run as its own process:
//   bun bench/upstream-server.ts [port] [chunks] [gap]
// POST /v1/chat/completions answers a fixed chat.completion, or, when the body says
// `"stream": true`, an SSE stream of `chunks` content deltas (plus role, finish, optional usage
// and [DONE]), each delta enqueued as its own chunk. GET /health answers "ok".
// gap "none" (default): chunks are enqueued back to back, so Bun usually sends them in a few TCP
// writes; "immediate": a setImmediate turn between chunks, so they leave in more, smaller writes.
// Prints "PORT <n>" on stdout once listening.

const port = Number(process.argv[2] ?? 0);
const chunks = Math.max(1, Number(process.argv[3] ?? 50));
const gap = process.argv[4] === "immediate" ? "immediate" : "none";
const encoder = new TextEncoder();

const created = 1_700_000_000;
const usage = { prompt_tokens: 11, completion_tokens: chunks, total_tokens: 11 + chunks };
const completionBody = JSON.stringify({
  id: "chatcmpl-bench",
  object: "chat.completion",
  created,
  model: "m",
  choices: [{ index: 0, message: { role: "assistant", content: "hello from the bench upstream", refusal: null }, logprobs: null, finish_reason: "stop" }],
  usage,
});

const sse = (choices: unknown[], extra: Record<string, unknown> = {}) =>
  encoder.encode(`data: ${JSON.stringify({ id: "chatcmpl-bench", object: "chat.completion.chunk", created, model: "m", choices, ...extra })}\n\n`);
const delta = (d: Record<string, unknown>, finish: string | null) => [{ index: 0, delta: d, logprobs: null, finish_reason: finish }];

const streamParts: Uint8Array[] = [sse(delta({ role: "assistant", content: "" }, null))];
for (let i = 0; i < chunks; i++) streamParts.push(sse(delta({ content: `tok${i} ` }, null)));
streamParts.push(sse(delta({}, "stop")));
const usagePart = sse([], { usage });
const donePart = encoder.encode("data: [DONE]\n\n");

function streamBody(withUsage: boolean): ReadableStream<Uint8Array> {
  const parts = withUsage ? [...streamParts, usagePart, donePart] : [...streamParts, donePart];
  let i = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (gap === "immediate" && i > 0) await new Promise((resolve) => setImmediate(resolve));
      controller.enqueue(parts[i++]!);
      if (i >= parts.length) controller.close();
    },
  });
}

const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  idleTimeout: 0,
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/health") return new Response("ok");
    if (request.method !== "POST" || path !== "/v1/chat/completions") return new Response("not found", { status: 404 });
    const body = (await request.json()) as { stream?: boolean; stream_options?: { include_usage?: boolean } };
    if (body.stream) {
      return new Response(streamBody(body.stream_options?.include_usage === true), {
        headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
      });
    }
    return new Response(completionBody, { headers: { "content-type": "application/json" } });
  },
});

console.log(`PORT ${server.port}`);

export {}; // a module: its top-level names are its own
