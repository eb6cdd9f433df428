import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { startFakeUpstream, streamText, type FakeUpstream } from "../support/fake-upstream.ts";
import { oneProvider, startGateway, type TestGateway } from "../support/gateway.ts";

// The official openai SDK, unchanged, talking to Sluice, which talks to a real fake upstream.

let upstream: FakeUpstream;
let gateway: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  upstream = startFakeUpstream();
  gateway = await startGateway(oneProvider(upstream.url));
  client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "sk-anything-the-sdk-insists", maxRetries: 0 });
});

afterAll(async () => {
  await gateway.close();
  await upstream.stop();
});

beforeEach(() => upstream.reset());

function events(request: string) {
  return gateway.gw.log.forRequest(request);
}

describe("openai SDK through Sluice", () => {
  test("non-streaming: the answer, the x-sluice headers, and the events with usage", async () => {
    const { data, response } = await client.chat.completions
      .create({ model: "fake-model", messages: [{ role: "user", content: "hello" }] })
      .withResponse();
    expect(data.choices[0]!.message.content).toBe("echo: hello");
    expect(data.usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 7 });
    const id = response.headers.get("x-sluice-request-id")!;
    expect(id).toMatch(/^req_[0-9a-f]{32}$/);
    expect(response.headers.get("x-sluice-provider")).toBe("local");
    expect(response.headers.get("x-sluice-model")).toBe("fake-model");
    expect(response.headers.get("x-sluice-attempts")).toBe("1");

    const timeline = events(id);
    expect(timeline.map((e) => e.type)).toEqual(["request.received", "route.decided", "attempt.started", "attempt.succeeded", "request.completed"]);
    expect(timeline[4]!.data).toMatchObject({ status: 200, stream: false, attempts: 1, usage: { input_tokens: 11, output_tokens: 7 } });
    expect((timeline[4]!.data as { total_ms: number }).total_ms).toBeGreaterThan(0);
  });

  test("the upstream gets the provider's key, never the caller's, and the client's bytes but the model", async () => {
    const raw = `{"model":"local/fake-model","messages":[{"role":"user","content":"caf\\u00e9  x"}],"temperature":1.0}`;
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST", body: raw, headers: { authorization: "Bearer sk-caller-secret-999", "x-api-key": "sk-caller-2", cookie: "a=b" },
    });
    expect(response.status).toBe(200);
    const seen = upstream.seen[0]!;
    expect(seen.body).toBe(raw.replace('"local/fake-model"', '"fake-model"'));
    expect(seen.headers.authorization).toBe("Bearer sk-test-provider-key-123456");
    expect(JSON.stringify(seen.headers)).not.toContain("sk-caller");
    expect(seen.headers.cookie).toBeUndefined();
  });

  test("streaming: deltas arrive in order and usage is recorded although the client did not ask for it", async () => {
    const stream = await client.chat.completions.create({
      model: "fake-model", stream: true, messages: [{ role: "user", content: "stream me please" }],
    }).withResponse();
    let text = "";
    let chunks = 0;
    for await (const chunk of stream.data) {
      chunks++;
      expect(chunk.choices.length).toBe(1); // the injected usage-only chunk is not shown to this client
      text += chunk.choices[0]!.delta.content ?? "";
    }
    expect(text).toBe("echo: stream me please");
    expect(chunks).toBeGreaterThan(3);
    expect(upstream.seen[0]!.json.stream_options).toEqual({ include_usage: true });
    const id = stream.response.headers.get("x-sluice-request-id")!;
    const done = events(id).at(-1)!;
    expect(done.type).toBe("request.completed");
    expect(done.data).toMatchObject({ stream: true, finish_reason: "stop", usage: { input_tokens: 11, output_tokens: 7 } });
  });

  test("streaming with include_usage: the client gets the usage chunk", async () => {
    const stream = await client.chat.completions.create({
      model: "fake-model", stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "u" }],
    });
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    expect(usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 });
  });

  test("streamed tool-call arguments arrive byte-exact", async () => {
    const args = '{"path":"src/a \\"quoted\\".ts","lines":[1,2,3],"note":"café ☕"}';
    const pieces = args.match(/.{1,5}/gs)!;
    const chunk = (delta: unknown, finish: string | null) => `data: ${JSON.stringify({ id: "c1", object: "chat.completion.chunk", created: 1, model: "fake-model", choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
    upstream.behave(() => new Response(
      chunk({ role: "assistant", content: null, tool_calls: [{ index: 0, id: "call_abc", type: "function", function: { name: "read_file", arguments: "" } }] }, null)
      + pieces.map((p) => chunk({ tool_calls: [{ index: 0, function: { arguments: p } }] }, null)).join("")
      + chunk({}, "tool_calls") + "data: [DONE]\n\n",
      { headers: { "content-type": "text/event-stream" } },
    ));
    const stream = client.chat.completions.stream({
      model: "fake-model", messages: [{ role: "user", content: "read it" }],
      tools: [{ type: "function", function: { name: "read_file", parameters: { type: "object" } } }],
    });
    const final = await stream.finalChatCompletion();
    const call = final.choices[0]!.message.tool_calls![0]!;
    expect(call.type === "function" && call.function.arguments).toBe(args);
    expect(final.choices[0]!.finish_reason).toBe("tool_calls");
  });

  test("GET /v1/models lists provider/model, bare names and routes", async () => {
    const models = await client.models.list();
    const ids = models.data.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining(["local/fake-model", "fake-model", "other-model"]));
  });
});

describe("errors in OpenAI's shape", () => {
  test("unknown model → 404 model_not_found", async () => {
    const error = await client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] }).catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect(error.code).toBe("model_not_found");
    expect(error.message).toContain("no-such-model");
  });

  test("malformed JSON → 400 invalid_request_error, and it is on record", async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", body: '{"model": "fake-model", "messages": [' });
    expect(response.status).toBe(400);
    const body = await response.json() as { error: { type: string; message: string } };
    expect(body.error.type).toBe("invalid_request_error");
    expect(body.error.message).toContain("not valid JSON");
    const timeline = events(response.headers.get("x-sluice-request-id")!);
    expect(timeline.map((e) => e.type)).toEqual(["request.received", "request.failed"]);
  });

  test("wrong types → 400 naming the field", async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "fake-model", messages: "hi" }) });
    expect(response.status).toBe(400);
    const body = await response.json() as { error: { param: string } };
    expect(body.error.param).toBe("messages");
  });

  test("upstream 400 → 400 with the upstream's message, and no fallback", async () => {
    upstream.behave(() => Response.json({ error: { message: "max_tokens is too large", type: "invalid_request_error" } }, { status: 400 }));
    const error = await client.chat.completions.create({ model: "fake-model", messages: [{ role: "user", content: "x" }] }).catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.message).toContain("max_tokens is too large");
  });

  test("upstream 401 echoing the key → generic message, the key never reaches the client or the log", async () => {
    upstream.behave((seen) => Response.json({ error: { message: `Incorrect API key provided: ${seen.headers.authorization}` } }, { status: 401 }));
    const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "x" }] }) });
    const text = await response.text();
    expect(response.status).toBe(502);
    expect(text).not.toContain("sk-test-provider-key");
    expect(text).toContain("credentials");
    const all = JSON.stringify(gateway.gw.log.read(0, 100_000)) + JSON.stringify(gateway.logs());
    expect(all).not.toContain("sk-test-provider-key-123456");
  });

  test("upstream unreachable → 502", async () => {
    const dead = startFakeUpstream();
    const url = dead.url;
    await dead.stop();
    const other = await startGateway(oneProvider(url));
    try {
      const response = await fetch(`${other.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "x" }] }) });
      expect(response.status).toBe(502);
      const body = await response.json() as { error: { type: string; message: string } };
      expect(body.error.type).toBe("server_error");
      expect(body.error.message).toContain("unreachable");
    } finally {
      await other.close();
    }
  });

  test("a stream whose last event lacks its blank line still ends cleanly", async () => {
    upstream.behave(() => new Response(streamText(["al", "most"], { usage: { prompt_tokens: 2, completion_tokens: 2 } }).replace(/\n\n$/, ""), { headers: { "content-type": "text/event-stream" } }));
    const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "fake-model", stream: true, messages: [{ role: "user", content: "x" }] }) });
    const text = await response.text();
    expect(text).toContain('"content":"most"');
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
    expect(events(response.headers.get("x-sluice-request-id")!).at(-1)!.type).toBe("request.completed");
  });

  test("a stream cut before it finished ends with an error event, never a clean [DONE]", async () => {
    upstream.behave(() => new Response(streamText(["par", "tial"], { finish: false, done: false }), { headers: { "content-type": "text/event-stream" } }));
    const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "fake-model", stream: true, messages: [{ role: "user", content: "x" }] }) });
    const text = await response.text();
    expect(text).toContain('"content":"par"');
    expect(text).not.toContain("[DONE]");
    expect(text.trimEnd().split("\n\n").at(-1)).toMatch(/^data: \{"error":/);
    const last = events(response.headers.get("x-sluice-request-id")!).at(-1)!;
    expect(last.type).toBe("request.failed");
  });
});

describe("limits", () => {
  test("a body over server.max_body_bytes → 413 in OpenAI's shape, and nothing reaches the upstream", async () => {
    const small = await startGateway(`server: { max_body_bytes: 4096 }\n${oneProvider(upstream.url)}`);
    upstream.reset();
    try {
      const big = JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "a".repeat(5000) }] });
      const response = await fetch(`${small.url}/v1/chat/completions`, { method: "POST", body: big });
      expect(response.status).toBe(413);
      expect(await response.json()).toMatchObject({ error: { type: "invalid_request_error", code: "request_too_large" } });
      const fits = JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "a".repeat(3000) }] });
      expect((await fetch(`${small.url}/v1/chat/completions`, { method: "POST", body: fits })).status).toBe(200);
      expect(upstream.seen.length).toBe(1);
    } finally {
      await small.close();
    }
  });

  test("a slow upstream is not cut by the server's client idle timeout", async () => {
    const strict = await startGateway(`server: { idle_timeout_s: 1 }\n${oneProvider(upstream.url)}`);
    upstream.behave(async () => {
      await Bun.sleep(3000);
      return Response.json({ id: "x", object: "chat.completion", created: 1, model: "fake-model", choices: [{ index: 0, message: { role: "assistant", content: "patient" }, finish_reason: "stop" }] });
    });
    try {
      const slow = new OpenAI({ baseURL: `${strict.url}/v1`, apiKey: "x", maxRetries: 0 });
      const answer = await slow.chat.completions.create({ model: "fake-model", messages: [{ role: "user", content: "wait" }] });
      expect(answer.choices[0]!.message.content).toBe("patient");
    } finally {
      await strict.close();
    }
  }, 20_000);
});
