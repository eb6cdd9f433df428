import { completion, startFakeUpstream, streamText, type Behaviour, type FakeUpstream, type Seen } from "../support/fake-upstream.ts";

// Fake upstreams for the fuzzer: one per vendor kind, each counting what it sees and answering a
// fixed, well-formed reply in its vendor's wire format whatever the body holds (a mutated body
// the gateway let through must not crash the fake: its 500 would look like a gateway 5xx).
// `modelsSince` reads the model each request asked for as the vendor would (the body's last
// `model`, or Gemini's path), for the test to hold against the model the gateway says it used.

/** A finding of a fake upstream: something the gateway sent that it should not have. */
export interface UpstreamFinding {
  upstream: string;
  path: string;
  problem: string;
  body: string;
}

const vector = (dims: number) => Array.from({ length: dims }, (_, i) => (i + 1) / 10);
const sse = (event: string | undefined, data: unknown) => `${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`;
const eventStream = (text: string) => new Response(text, { headers: { "content-type": "text/event-stream" } });
const dimsOf = (value: unknown) => (typeof value === "number" && Number.isInteger(value) && value > 0 && value <= 64 ? value : 3);
const record = (value: unknown): Record<string, unknown> => (typeof value === "object" && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : {});

function openai(findings: UpstreamFinding[]): Behaviour {
  return (seen) => {
    const json = record(seen.json);
    const model = json.model;
    const name = typeof model === "string" ? model : "gpt-x";
    if (seen.path.endsWith("/embeddings")) {
      const inputs = Array.isArray(json.input) ? json.input : [json.input];
      return Response.json({
        object: "list",
        data: inputs.map((_, index) => ({ object: "embedding", index, embedding: vector(dimsOf(json.dimensions)) })),
        model: name, usage: { prompt_tokens: 3 * inputs.length, total_tokens: 3 * inputs.length },
      });
    }
    if (seen.path.endsWith("/chat/completions")) {
      if (json.stream === true) return eventStream(streamText(["fuzz", "ed"], { model: name, usage: { prompt_tokens: 5, completion_tokens: 2 } }));
      return Response.json(completion("fuzzed", name, { prompt_tokens: 5, completion_tokens: 2 }));
    }
    findings.push({ upstream: "openai", path: seen.path, problem: "unexpected path", body: seen.body.slice(0, 300) });
    return Response.json({ error: { message: `no such path ${seen.path}`, type: "invalid_request_error" } }, { status: 404 });
  };
}

function anthropic(findings: UpstreamFinding[]): Behaviour {
  return (seen) => {
    const json = record(seen.json);
    const model = json.model;
    if (!seen.path.endsWith("/v1/messages")) {
      findings.push({ upstream: "anthropic", path: seen.path, problem: "unexpected path", body: seen.body.slice(0, 300) });
      return Response.json({ type: "error", error: { type: "not_found_error", message: "no such path" } }, { status: 404 });
    }
    const name = typeof model === "string" ? model : "claude-x";
    const usage = { input_tokens: 5, output_tokens: 2 };
    if (json.stream !== true) {
      return Response.json({
        id: "msg_fuzz", type: "message", role: "assistant", model: name, content: [{ type: "text", text: "fuzzed" }],
        stop_reason: "end_turn", stop_sequence: null, usage,
      });
    }
    return eventStream(
      sse("message_start", { type: "message_start", message: { id: "msg_fuzz", type: "message", role: "assistant", content: [], model: name, stop_reason: null, stop_sequence: null, usage: { input_tokens: 5, output_tokens: 1 } } }) +
      sse("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }) +
      sse("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "fuzz" } }) +
      sse("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "ed" } }) +
      sse("content_block_stop", { type: "content_block_stop", index: 0 }) +
      sse("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 2 } }) +
      sse("message_stop", { type: "message_stop" }),
    );
  };
}

/** Gemini's model and action from a request path, as Google reads them (one path segment, escaped). */
export function geminiPath(path: string): { model: string; action: string } | undefined {
  const match = /^\/v1beta\/models\/([^/:]+):(\w+)$/.exec(path);
  return match ? { model: decodeURIComponent(match[1]!), action: match[2]! } : undefined;
}

function gemini(findings: UpstreamFinding[]): Behaviour {
  return (seen: Seen) => {
    const json = record(seen.json);
    const parsed = geminiPath(seen.path);
    const model = parsed?.model;
    const action = parsed?.action;
    if (action === "batchEmbedContents") {
      const requests = Array.isArray(json.requests) ? json.requests : [];
      return Response.json({ embeddings: requests.map((r) => ({ values: vector(dimsOf(record(r).outputDimensionality)) })) });
    }
    if (action === "embedContent") return Response.json({ embedding: { values: vector(dimsOf(json.outputDimensionality)) } });
    const usageMetadata = { promptTokenCount: 5, candidatesTokenCount: 2, totalTokenCount: 7 };
    const answer = (text: string, last: boolean) => ({
      candidates: [{ content: { parts: [{ text }], role: "model" }, index: 0, ...(last ? { finishReason: "STOP" } : {}) }],
      ...(last ? { usageMetadata } : {}),
      modelVersion: model ?? "gemini-x",
    });
    if (action === "generateContent") return Response.json(answer("fuzzed", true));
    if (action === "streamGenerateContent") {
      return eventStream(`data: ${JSON.stringify(answer("fuzz", false))}\r\n\r\ndata: ${JSON.stringify(answer("ed", true))}\r\n\r\n`);
    }
    findings.push({ upstream: "gemini", path: seen.path, problem: "unexpected path", body: seen.body.slice(0, 300) });
    return Response.json({ error: { code: 404, message: "no such method", status: "NOT_FOUND" } }, { status: 404 });
  };
}

/** A fake that never throws: a crash inside it answers a vendor-neutral 200 nobody expects, and is a finding. */
function guarded(name: string, behaviour: Behaviour, findings: UpstreamFinding[]): Behaviour {
  return async (seen, request) => {
    try {
      return await behaviour(seen, request);
    } catch (error) {
      findings.push({ upstream: name, path: seen.path, problem: `fake threw: ${(error as Error).message}`, body: seen.body.slice(0, 300) });
      return Response.json({ error: { message: "fake upstream failed" } }, { status: 400 });
    }
  };
}

export interface FuzzUpstreams {
  openai: FakeUpstream;
  anthropic: FakeUpstream;
  gemini: FakeUpstream;
  findings: UpstreamFinding[];
  /** Requests seen by all three so far (forgotten ones included). */
  count(): number;
  /** Forget the requests seen so far (bodies may be MiBs), keeping their count. */
  forget(): void;
  /** How many requests each has seen, to ask later what came after. */
  marks(): number[];
  /** The model each request since `marks` asked for, as its vendor reads it. */
  modelsSince(marks: number[]): Array<{ upstream: string; model: string | undefined; body: string }>;
  /** The gateway config serving these models through these fakes. */
  config(): string;
  stop(): Promise<void>;
}

/** Models each provider serves, by kind. */
export const SERVED = {
  openai: ["gpt-x", "emb-x"],
  anthropic: ["claude-x"],
  gemini: ["gemini-x", "gemini-emb"],
} as const;

/** Routes: a client naming one gets the route's target, which the upstream must see by its own name. */
export const ROUTES = { "fuzz-oa": "oa/gpt-x", "fuzz-an": "an/claude-x", "fuzz-ge": "ge/gemini-x" } as const;

export function startFuzzUpstreams(): FuzzUpstreams {
  const findings: UpstreamFinding[] = [];
  const oa = startFakeUpstream(guarded("openai", openai(findings), findings));
  const an = startFakeUpstream(guarded("anthropic", anthropic(findings), findings));
  const ge = startFakeUpstream(guarded("gemini", gemini(findings), findings));
  const all = [oa, an, ge];
  const names = ["openai", "anthropic", "gemini"];
  let forgotten = 0;
  const root = (u: FakeUpstream) => `http://127.0.0.1:${u.port}`;
  return {
    openai: oa, anthropic: an, gemini: ge, findings,
    count: () => forgotten + oa.seen.length + an.seen.length + ge.seen.length,
    forget: () => {
      for (const u of all) {
        forgotten += u.seen.length;
        u.seen.length = 0;
      }
    },
    marks: () => all.map((u) => u.seen.length),
    modelsSince: (marks) => all.flatMap((u, i) => u.seen.slice(marks[i]).map((seen) => {
      const model = i === 2 ? geminiPath(seen.path)?.model : record(seen.json).model;
      return { upstream: names[i]!, model: typeof model === "string" ? model : undefined, body: seen.body.slice(0, 300) };
    })),
    config: () => `providers:
  - { id: oa, kind: openai, base_url: "${root(oa)}/v1", api_key: sk-fuzz-openai-123456, models: [${SERVED.openai.join(", ")}] }
  - { id: an, kind: anthropic, base_url: "${root(an)}", api_key: sk-ant-fuzz-123456, models: [${SERVED.anthropic.join(", ")}] }
  - { id: ge, kind: gemini, base_url: "${root(ge)}", api_key: gemini-fuzz-123456, models: [${SERVED.gemini.join(", ")}] }
# Off: which answered requests get counted again after the answer is random (not reproducible
# from a seed), and that count is the quadratic tokenizer of test/fuzz/known.ts.
tokens: { estimate_sample: 0 }
routes:
${Object.entries(ROUTES).map(([name, target]) => `  - { name: ${name}, targets: [${target}] }`).join("\n")}
`,
    async stop() {
      await Promise.all([oa.stop(), an.stop(), ge.stop()]);
    },
  };
}
