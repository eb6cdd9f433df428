import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { builtinPlugins } from "../../plugins/builtin.ts";
import azure from "../../plugins/executors/azure-openai.ts";
import ollama from "../../plugins/executors/ollama.ts";
import { completion, startFakeUpstream, streamText, type FakeUpstream } from "../support/fake-upstream.ts";
import { startGateway, type TestGateway } from "../support/gateway.ts";

// The azure-openai (short form) and ollama (long form, native /api/chat) executors, driven
// through the gateway with the official openai SDK against fakes speaking each vendor's wire.

type OllamaSeen = { path: string; headers: Record<string, string>; json: Record<string, any> };
type OllamaBehaviour = (seen: OllamaSeen) => Response;

const CREATED = "2024-07-22T20:33:28.123648Z";
const line = (o: unknown) => `${JSON.stringify(o)}\n`;
const ndjson = (lines: unknown[]) => new Response(lines.map(line).join(""), { headers: { "content-type": "application/x-ndjson" } });
const part = (model: string, message: Record<string, unknown>) => ({ model, created_at: CREATED, message: { role: "assistant", ...message }, done: false });
const done = (model: string, reason: string, message: Record<string, unknown> = { content: "" }, counts = { prompt_eval_count: 26, eval_count: 5 }) => ({
  model, created_at: CREATED, message: { role: "assistant", ...message }, done_reason: reason, done: true,
  total_duration: 4883583458, load_duration: 1334875, ...counts, prompt_eval_duration: 342546000, eval_duration: 4535599000,
});

/** A fake Ollama: POST /api/chat, a JSON object, or NDJSON lines when `stream` is not false. */
function startOllama() {
  const seen: OllamaSeen[] = [];
  const textAnswer: OllamaBehaviour = ({ json }) => {
    const last = json.messages.at(-1)?.content ?? "";
    if (json.stream === false) return Response.json(done(json.model, "stop", { content: `ollama says: ${last}` }));
    return ndjson([part(json.model, { content: "ollama " }), part(json.model, { content: "streams " }), part(json.model, { content: "too" }), done(json.model, "stop", { content: "" }, { prompt_eval_count: 12, eval_count: 3 })]);
  };
  let behaviour = textAnswer;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const url = new URL(request.url);
      if (request.method !== "POST" || url.pathname !== "/api/chat") return Response.json({ error: "404 page not found" }, { status: 404 });
      const record = { path: url.pathname, headers: Object.fromEntries(request.headers), json: await request.json() as Record<string, any> };
      seen.push(record);
      return behaviour(record);
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    seen,
    behave: (next: OllamaBehaviour) => void (behaviour = next),
    reset: () => {
      seen.length = 0;
      behaviour = textAnswer;
    },
    stop: () => server.stop(true),
  };
}

let azureUpstream: FakeUpstream;
let fakeOllama: ReturnType<typeof startOllama>;
let gateway: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  azureUpstream = startFakeUpstream();
  fakeOllama = startOllama();
  const azureRoot = azureUpstream.url.replace(/\/v1$/, "");
  gateway = await startGateway(`
providers:
  - id: az
    kind: azure-openai
    base_url: "${azureRoot}/"
    api_key: azure-secret-key-0042
    models: [gpt-4o, gpt-4o-mini]
    options: { api_version: "2024-06-01", deployments: { gpt-4o: prod-gpt4o } }
  - { id: az-default, kind: azure-openai, base_url: "${azureRoot}", api_key: k2, models: [plain-model] }
  - { id: az-bad, kind: azure-openai, base_url: "${azureRoot}", api_key: k3, models: [bad-version], options: { api_version: 20241021 } }
  - { id: local, kind: ollama, base_url: "${fakeOllama.url}", models: ["llama3.2", "llava"] }
`, { plugins: [...builtinPlugins, azure, ollama] });
  client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 });
});

afterAll(async () => {
  await gateway.close();
  await azureUpstream.stop();
  await fakeOllama.stop();
});

beforeEach(() => {
  azureUpstream.reset();
  fakeOllama.reset();
});

const completedFor = (id: string) => gateway.gw.log.forRequest(id).find((e) => e.type === "request.completed")!.data as Record<string, unknown>;

describe("azure-openai", () => {
  test("deployment from options, api-version in the query, api-key header, no bearer", async () => {
    const answer = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi azure" }] });
    expect(answer.choices[0]!.message.content).toBe("echo: hi azure");
    const seen = azureUpstream.seen.at(-1)!;
    expect(seen.path).toBe("/openai/deployments/prod-gpt4o/chat/completions");
    expect(seen.headers["api-key"]).toBe("azure-secret-key-0042");
    expect(seen.headers.authorization).toBeUndefined();
    expect(azureUpstream.seen.length).toBe(1);
  });

  test("the query string carries api-version exactly", async () => {
    let url = "";
    azureUpstream.behave((_seen, request) => {
      url = request.url;
      return Response.json(completion("ok", "gpt-4o-mini"));
    });
    await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "x" }] });
    const parsed = new URL(url);
    // a model without a deployments entry is its own deployment
    expect(parsed.pathname).toBe("/openai/deployments/gpt-4o-mini/chat/completions");
    expect(parsed.search).toBe("?api-version=2024-06-01");
  });

  test("defaults: api-version 2024-10-21, deployment named like the model", async () => {
    let url = "";
    azureUpstream.behave((_seen, request) => {
      url = request.url;
      return Response.json(completion("ok", "plain-model"));
    });
    await client.chat.completions.create({ model: "plain-model", messages: [{ role: "user", content: "x" }] });
    expect(new URL(url).pathname + new URL(url).search).toBe("/openai/deployments/plain-model/chat/completions?api-version=2024-10-21");
    expect(azureUpstream.seen.at(-1)!.headers["api-key"]).toBe("k2");
  });

  test("streaming through azure, usage recorded", async () => {
    azureUpstream.behave(() => new Response(streamText(["az", "ure"], { model: "gpt-4o", usage: { prompt_tokens: 8, completion_tokens: 2 } }), { headers: { "content-type": "text/event-stream" } }));
    const { data: stream, response } = await client.chat.completions.create({ model: "gpt-4o", stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "s" }] }).withResponse();
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe("azure");
    expect(azureUpstream.seen.at(-1)!.path).toBe("/openai/deployments/prod-gpt4o/chat/completions");
    expect(completedFor(response.headers.get("x-sluice-request-id")!)).toMatchObject({ provider: "az", usage: { input_tokens: 8, output_tokens: 2 } });
  });

  test("an option of the wrong type fails as a plugin failure with a clear message", async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "bad-version", messages: [{ role: "user", content: "x" }] }) });
    expect(response.status).toBe(502);
    expect(((await response.json()) as { error: { message: string } }).error.message).toContain("options.api_version must be a non-empty string");
    expect(azureUpstream.seen.length).toBe(0);
    const failed = gateway.gw.log.forRequest(response.headers.get("x-sluice-request-id")!).find((e) => e.type === "plugin.failed")!;
    expect(failed.data).toMatchObject({ plugin: "executor:azure-openai", phase: "call" });
  });
});

describe("ollama (native /api/chat)", () => {
  test("non-streaming text: request shape, answer, usage recorded", async () => {
    const { data: answer, response } = await client.chat.completions.create({
      model: "llama3.2", temperature: 0.2, top_p: 0.9, max_tokens: 64, stop: ["END"], seed: 7,
      messages: [{ role: "system", content: "be brief" }, { role: "user", content: "hello ollama" }],
    }).withResponse();
    expect(answer.choices[0]!.message.content).toBe("ollama says: hello ollama");
    expect(answer.choices[0]!.finish_reason).toBe("stop");
    expect(answer.usage).toMatchObject({ prompt_tokens: 26, completion_tokens: 5 });
    const seen = fakeOllama.seen.at(-1)!;
    expect(seen.path).toBe("/api/chat");
    expect(seen.json).toEqual({
      model: "llama3.2", stream: false,
      messages: [{ role: "system", content: "be brief" }, { role: "user", content: "hello ollama" }],
      options: { temperature: 0.2, top_p: 0.9, num_predict: 64, stop: ["END"], seed: 7 },
    });
    expect(completedFor(response.headers.get("x-sluice-request-id")!)).toMatchObject({ provider: "local", usage: { input_tokens: 26, output_tokens: 5 } });
  });

  test("streaming text: NDJSON → OpenAI chunks, finish and usage", async () => {
    const { data: stream, response } = await client.chat.completions.create({ model: "llama3.2", stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "s" }] }).withResponse();
    let text = "";
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe("ollama streams too");
    expect(finish).toBe("stop");
    expect(usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 3 });
    expect(fakeOllama.seen.at(-1)!.json.stream).toBe(true);
    expect(completedFor(response.headers.get("x-sluice-request-id")!)).toMatchObject({ provider: "local", stream: true, usage: { input_tokens: 12, output_tokens: 3 } });
  });

  const weatherTool: OpenAI.ChatCompletionTool = {
    type: "function",
    function: { name: "get_weather", description: "Weather for a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } },
  };
  const ARGS = { city: "Zürich \"HB\"", days: [1, 2.5], nested: { ok: true, none: null } };

  test("a tool call (non-streaming): tools sent in Ollama's shape, arguments byte-exact", async () => {
    fakeOllama.behave(({ json }) => Response.json(done(json.model, "stop", { content: "", tool_calls: [{ function: { name: "get_weather", arguments: ARGS } }] })));
    const answer = await client.chat.completions.create({ model: "llama3.2", tools: [weatherTool], messages: [{ role: "user", content: "weather?" }] });
    const call = answer.choices[0]!.message.tool_calls![0]!;
    expect(call.type === "function" && call.function.name).toBe("get_weather");
    expect(call.type === "function" && call.function.arguments).toBe(JSON.stringify(ARGS));
    expect(call.id).toBe("call_0");
    expect(answer.choices[0]!.finish_reason).toBe("tool_calls");
    expect(fakeOllama.seen.at(-1)!.json.tools).toEqual([{ type: "function", function: weatherTool.function }]);
  });

  test("a tool call (streaming), then the tool result sent back with tool_name", async () => {
    fakeOllama.behave(({ json }) => ndjson([
      part(json.model, { content: "", tool_calls: [{ function: { name: "get_weather", arguments: ARGS } }] }),
      done(json.model, "stop"),
    ]));
    const stream = await client.chat.completions.create({ model: "llama3.2", stream: true, tools: [weatherTool], messages: [{ role: "user", content: "weather?" }] });
    let args = "";
    let name = "";
    let id = "";
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta.tool_calls?.[0];
      if (delta?.function?.name) name = delta.function.name;
      if (delta?.id) id = delta.id;
      args += delta?.function?.arguments ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect({ name, id, finish }).toEqual({ name: "get_weather", id: "call_0", finish: "tool_calls" });
    expect(args).toBe(JSON.stringify(ARGS));

    fakeOllama.reset();
    await client.chat.completions.create({
      model: "llama3.2", tools: [weatherTool],
      messages: [
        { role: "user", content: "weather?" },
        { role: "assistant", content: null, tool_calls: [{ id, type: "function", function: { name, arguments: args } }] },
        { role: "tool", tool_call_id: id, content: "sunny, 21°C" },
      ],
    });
    expect(fakeOllama.seen.at(-1)!.json.messages).toEqual([
      { role: "user", content: "weather?" },
      { role: "assistant", content: "", tool_calls: [{ function: { name: "get_weather", arguments: ARGS } }] },
      { role: "tool", content: "sunny, 21°C", tool_name: "get_weather" },
    ]);
  });

  test("thinking → reasoning, json-schema → format, reasoning effort → think", async () => {
    fakeOllama.behave(({ json }) => ndjson([part(json.model, { content: "", thinking: "hmm " }), part(json.model, { content: "{\"a\":1}" }), done(json.model, "length")]));
    const schema = { type: "object", properties: { a: { type: "integer" } }, required: ["a"] };
    const stream = await client.chat.completions.create({
      model: "llama3.2", stream: true, reasoning_effort: "low",
      response_format: { type: "json_schema", json_schema: { name: "thing", schema } },
      messages: [{ role: "user", content: "j" }],
    });
    let text = "";
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe("{\"a\":1}");
    expect(finish).toBe("length");
    const body = fakeOllama.seen.at(-1)!.json;
    expect(body.format).toEqual(schema);
    expect(body.think).toBe(true);
  });

  test("a base64 image goes as images[] without the data: prefix", async () => {
    await client.chat.completions.create({
      model: "llava",
      messages: [{ role: "user", content: [{ type: "text", text: "what is it?" }, { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } }] }],
    });
    expect(fakeOllama.seen.at(-1)!.json.messages).toEqual([{ role: "user", content: "what is it?", images: ["iVBORw0KGgo="] }]);
  });

  test("an image URL → 400 naming it, and Ollama is never called", async () => {
    const error = await client.chat.completions.create({
      model: "llava",
      messages: [{ role: "user", content: [{ type: "text", text: "what is it?" }, { type: "image_url", image_url: { url: "https://example.com/cat.png" } }] }],
    }).catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.status).toBe(400);
    expect(error.message).toContain("image URLs are not supported");
    expect(fakeOllama.seen.length).toBe(0);
  });

  test("Ollama 404 {error} → 404 model_not_found with its text", async () => {
    fakeOllama.behave(() => Response.json({ error: "model \"llama3.2\" not found, try pulling it first" }, { status: 404 }));
    const error = await client.chat.completions.create({ model: "llama3.2", messages: [{ role: "user", content: "x" }] }).catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect(error.code).toBe("model_not_found");
    expect(error.message).toContain("ollama: upstream: model \"llama3.2\" not found, try pulling it first");
  });

  test("Ollama 400 → 400 invalid_request_error; 500 → 502 server_error", async () => {
    fakeOllama.behave(() => Response.json({ error: "invalid options: num_predict" }, { status: 400 }));
    const bad = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "llama3.2", messages: [{ role: "user", content: "x" }] }) });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { type: "invalid_request_error", message: "ollama: upstream: invalid options: num_predict" } });

    fakeOllama.behave(() => Response.json({ error: "llama runner process has terminated" }, { status: 500 }));
    const broken = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "llama3.2", messages: [{ role: "user", content: "x" }] }) });
    expect(broken.status).toBe(502);
    expect(await broken.json()).toMatchObject({ error: { type: "server_error", message: "ollama: upstream: llama runner process has terminated" } });
  });
});
