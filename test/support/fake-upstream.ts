// A fake OpenAI-compatible upstream: a real HTTP server on 127.0.0.1 and a random port.
// By default it answers like OpenAI; a test can script any other behaviour per request.

export interface Seen {
  path: string;
  headers: Record<string, string>;
  body: string;
  json: Record<string, unknown>;
  /** Set when the request's connection was closed before the upstream finished answering. */
  abortedAt?: number;
}

export type Behaviour = (seen: Seen, request: Request) => Response | Promise<Response>;

export interface FakeUpstream {
  url: string;
  port: number;
  seen: Seen[];
  /** Replace the behaviour for the following requests. */
  behave(behaviour: Behaviour): void;
  reset(): void;
  stop(): Promise<void>;
}

export function completion(text: string, model = "fake-model", usage = { prompt_tokens: 11, completion_tokens: 7 }) {
  return {
    id: "chatcmpl-fake123",
    object: "chat.completion",
    created: 1_700_000_000,
    model,
    choices: [{ index: 0, message: { role: "assistant", content: text, refusal: null }, logprobs: null, finish_reason: "stop" }],
    usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
  };
}

/** The SSE text of an OpenAI stream of `pieces`, with a usage chunk when `usage` is given. */
export function streamText(pieces: string[], options: { model?: string; usage?: { prompt_tokens: number; completion_tokens: number }; done?: boolean; finish?: boolean } = {}): string {
  const model = options.model ?? "fake-model";
  const chunk = (delta: Record<string, unknown>, finish: string | null) => `data: ${JSON.stringify({
    id: "chatcmpl-fake123", object: "chat.completion.chunk", created: 1_700_000_000, model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  })}\n\n`;
  let out = chunk({ role: "assistant", content: "" }, null);
  for (const piece of pieces) out += chunk({ content: piece }, null);
  if (options.finish !== false) out += chunk({}, "stop");
  if (options.usage) {
    out += `data: ${JSON.stringify({
      id: "chatcmpl-fake123", object: "chat.completion.chunk", created: 1_700_000_000, model, choices: [],
      usage: { ...options.usage, total_tokens: options.usage.prompt_tokens + options.usage.completion_tokens },
    })}\n\n`;
  }
  if (options.done !== false) out += "data: [DONE]\n\n";
  return out;
}

export const defaultBehaviour: Behaviour = (seen) => {
  const json = seen.json as { model?: string; stream?: boolean; stream_options?: { include_usage?: boolean }; messages?: Array<{ content?: unknown }> };
  const last = json.messages?.at(-1)?.content;
  const text = `echo: ${typeof last === "string" ? last : JSON.stringify(last)}`;
  if (json.stream) {
    const usage = json.stream_options?.include_usage ? { prompt_tokens: 11, completion_tokens: 7 } : undefined;
    return new Response(streamText(text.match(/.{1,4}/gs) ?? [], { model: json.model ?? "fake-model", ...(usage ? { usage } : {}) }), {
      headers: { "content-type": "text/event-stream" },
    });
  }
  return Response.json(completion(text, json.model ?? "fake-model"));
};

export function startFakeUpstream(behaviour: Behaviour = defaultBehaviour): FakeUpstream {
  let current = behaviour;
  const seen: Seen[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(request) {
      const body = await request.text();
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(body);
      } catch {
        // kept as text
      }
      const record: Seen = { path: new URL(request.url).pathname, headers: Object.fromEntries(request.headers), body, json };
      request.signal.addEventListener("abort", () => {
        record.abortedAt = Date.now();
      }, { once: true });
      seen.push(record);
      return current(record, request);
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/v1`,
    port: server.port!,
    seen,
    behave(next) {
      current = next;
    },
    reset() {
      seen.length = 0;
      current = behaviour;
    },
    async stop() {
      await server.stop(true);
    },
  };
}
