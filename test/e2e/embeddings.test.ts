import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { vectorToBase64 } from "../../core/pipeline/embed-wire.ts";
import { startFakeUpstream, type Behaviour, type FakeUpstream } from "../support/fake-upstream.ts";
import { startGateway, type TestGateway } from "../support/gateway.ts";

// Embeddings end to end: the official SDKs → Sluice → fake OpenAI, Gemini and Ollama upstreams.

/** A vector that says which text it embeds: [length, first char code, dims or 3 values …]. */
function vectorOf(text: string, dims = 3): number[] {
  return Array.from({ length: dims }, (_, i) => (i === 0 ? text.length : i === 1 ? text.charCodeAt(0) : 0.25 * i));
}

/** Answers OpenAI /v1/embeddings, Gemini :batchEmbedContents and Ollama /api/embed. */
const embeddings: Behaviour = (seen) => {
  const json = seen.json as Record<string, unknown>;
  if (seen.path.endsWith("/embeddings")) {
    const input = json.input as string[];
    const dims = (json.dimensions as number | undefined) ?? 3;
    return Response.json({
      object: "list",
      // Out of order on purpose: the index decides.
      data: input.map((text, index) => ({ object: "embedding", index, embedding: vectorOf(text, dims) })).reverse(),
      model: json.model, usage: { prompt_tokens: 5 * input.length, total_tokens: 5 * input.length },
    });
  }
  if (seen.path.endsWith(":batchEmbedContents")) {
    const requests = json.requests as Array<{ content: { parts: Array<{ text: string }> }; outputDimensionality?: number }>;
    return Response.json({ embeddings: requests.map((r) => ({ values: vectorOf(r.content.parts[0]!.text, r.outputDimensionality ?? 3) })) });
  }
  if (seen.path === "/api/embed") {
    const input = json.input as string[];
    return Response.json({ model: json.model, embeddings: input.map((t) => vectorOf(t)), prompt_eval_count: 4 * input.length });
  }
  return Response.json({ error: { message: `no such path ${seen.path}` } }, { status: 404 });
};

let openaiUp: FakeUpstream;
let geminiUp: FakeUpstream;
let ollamaUp: FakeUpstream;
let brokenUp: FakeUpstream;
let gateway: TestGateway;
let client: OpenAI;
let ai: GoogleGenAI;

beforeAll(async () => {
  openaiUp = startFakeUpstream(embeddings);
  geminiUp = startFakeUpstream(embeddings);
  ollamaUp = startFakeUpstream(embeddings);
  brokenUp = startFakeUpstream(() => Response.json({ error: { message: "boom" } }, { status: 500 }));
  const root = (u: FakeUpstream) => `http://127.0.0.1:${u.port}`;
  gateway = await startGateway(`providers:
  - id: oa
    kind: openai
    base_url: ${openaiUp.url}
    api_key: sk-test-provider-key-123456
    models: [text-embedding-3-small]
  - id: gem
    kind: gemini
    base_url: ${root(geminiUp)}
    api_key: gemini-provider-key-123456
    models: [gemini-embedding-001]
  - id: ol
    kind: ollama
    base_url: ${root(ollamaUp)}
    models: [nomic-embed-text]
  - id: broken
    kind: openai
    base_url: ${brokenUp.url}
    api_key: sk-broken-key-123456
    models: []
  - id: claude
    kind: anthropic
    base_url: ${brokenUp.url}
    api_key: sk-ant-key-123456
    models: []
routes:
  - name: embed-fallback
    targets: [broken/text-embedding-3-small, oa/text-embedding-3-small]
  - name: embed-unsupported
    targets: [claude/some-model, gem/gemini-embedding-001]
  - name: embed-all-broken
    targets: [broken/a, broken/b]
`);
  client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "sk-anything", maxRetries: 0 });
  ai = new GoogleGenAI({ apiKey: "client-key", httpOptions: { baseUrl: gateway.url } });
});

afterAll(async () => {
  await gateway.close();
  await Promise.all([openaiUp.stop(), geminiUp.stop(), ollamaUp.stop(), brokenUp.stop()]);
});

beforeEach(() => {
  for (const u of [openaiUp, geminiUp, ollamaUp, brokenUp]) u.reset();
});

const events = (id: string) => gateway.gw.log.forRequest(id);
const types = (id: string) => events(id).map((e) => e.type);
/** The id of the last request.received, for clients that hide response headers. */
function lastRequest(): string {
  const all = gateway.gw.log.read(0, 1_000_000);
  return (all.filter((e) => e.type === "request.received").at(-1)!.data as { request: string }).request;
}

async function post(path: string, body: unknown): Promise<globalThis.Response> {
  return fetch(`${gateway.url}${path}`, { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body), headers: { "content-type": "application/json" } });
}

describe("OpenAI POST /v1/embeddings", () => {
  test("float: the SDK gets one vector per input, in order, and the events tell the story with usage", async () => {
    const { data, response } = await client.embeddings
      .create({ model: "text-embedding-3-small", input: ["hello", "a longer text"], encoding_format: "float" })
      .withResponse();
    expect(data.object).toBe("list");
    expect(data.model).toBe("text-embedding-3-small");
    expect(data.data.map((d) => d.index)).toEqual([0, 1]);
    expect(data.data[0]!.embedding).toEqual(vectorOf("hello"));
    expect(data.data[1]!.embedding).toEqual(vectorOf("a longer text"));
    expect(data.usage).toEqual({ prompt_tokens: 10, total_tokens: 10 });

    const seen = openaiUp.seen[0]!;
    expect(seen.path).toBe("/v1/embeddings");
    expect(seen.json).toEqual({ model: "text-embedding-3-small", input: ["hello", "a longer text"], encoding_format: "float" });
    expect(seen.headers.authorization).toBe("Bearer sk-test-provider-key-123456");

    const id = response.headers.get("x-sluice-request-id")!;
    expect(response.headers.get("x-sluice-provider")).toBe("oa");
    expect(types(id)).toEqual(["request.received", "route.decided", "attempt.started", "attempt.succeeded", "request.completed"]);
    expect(events(id)[0]!.data).toMatchObject({ dialect: "openai-embeddings", endpoint: "/v1/embeddings", model: "text-embedding-3-small", stream: false, candidates: ["oa/text-embedding-3-small"] });
    expect(events(id)[4]!.data).toMatchObject({ status: 200, stream: false, attempts: 1, target: "oa/text-embedding-3-small", usage: { input_tokens: 10, output_tokens: 0 } });
  });

  test("base64 (the SDK's default): it decodes to the same float32 vectors", async () => {
    const result = await client.embeddings.create({ model: "oa/text-embedding-3-small", input: "hello", dimensions: 4 });
    expect(openaiUp.seen[0]!.json).toMatchObject({ dimensions: 4, encoding_format: "float" });
    expect(result.data[0]!.embedding).toEqual(Array.from(new Float32Array(vectorOf("hello", 4))));
    // And on the wire: little-endian float32, as OpenAI sends it.
    const raw = await post("/v1/embeddings", { model: "text-embedding-3-small", input: "hi", encoding_format: "base64" });
    const body = await raw.json() as { data: Array<{ embedding: string }> };
    expect(body.data[0]!.embedding).toBe(vectorToBase64(vectorOf("hi")));
    expect(Array.from(new Float32Array(Buffer.from(body.data[0]!.embedding, "base64").buffer.slice(0)))).toEqual(vectorOf("hi"));
  });

  test("cross-dialect: an OpenAI client served by a Gemini upstream, and by Ollama", async () => {
    const result = await client.embeddings.create({ model: "gemini-embedding-001", input: ["one", "two"], dimensions: 5, encoding_format: "float" });
    expect(result.data.map((d) => d.embedding)).toEqual([vectorOf("one", 5), vectorOf("two", 5)]);
    const seen = geminiUp.seen[0]!;
    expect(seen.path).toBe("/v1beta/models/gemini-embedding-001:batchEmbedContents");
    expect(seen.headers["x-goog-api-key"]).toBe("gemini-provider-key-123456");
    expect(seen.json).toEqual({ requests: [
      { model: "models/gemini-embedding-001", content: { parts: [{ text: "one" }] }, outputDimensionality: 5 },
      { model: "models/gemini-embedding-001", content: { parts: [{ text: "two" }] }, outputDimensionality: 5 },
    ] });
    expect(result.usage).toEqual({ prompt_tokens: 0, total_tokens: 0 });

    const viaOllama = await client.embeddings.create({ model: "nomic-embed-text", input: "x", encoding_format: "float" });
    expect(viaOllama.data[0]!.embedding).toEqual(vectorOf("x"));
    expect(ollamaUp.seen[0]!.json).toEqual({ model: "nomic-embed-text", input: ["x"] });
    expect(viaOllama.usage.prompt_tokens).toBe(4);
  });

  test("fallback: a 500 from the first target moves on to the next", async () => {
    const { data, response } = await client.embeddings.create({ model: "embed-fallback", input: "hello", encoding_format: "float" }).withResponse();
    expect(data.data[0]!.embedding).toEqual(vectorOf("hello"));
    expect(data.model).toBe("embed-fallback");
    expect(brokenUp.seen).toHaveLength(1);
    const id = response.headers.get("x-sluice-request-id")!;
    expect(response.headers.get("x-sluice-attempts")).toBe("2");
    expect(types(id)).toEqual(["request.received", "route.decided", "attempt.started", "attempt.failed", "attempt.started", "attempt.succeeded", "request.completed"]);
    // embed() returns an error value, which carries no upstream status: the event says 0.
    expect(events(id)[3]!.data).toMatchObject({ reason: "upstream_error", fallback: true, message: "openai: upstream: boom" });
  });

  test("an executor without embed() is skipped as unsupported", async () => {
    const { data, response } = await client.embeddings.create({ model: "embed-unsupported", input: "hello", encoding_format: "float" }).withResponse();
    expect(data.data[0]!.embedding).toEqual(vectorOf("hello"));
    const id = response.headers.get("x-sluice-request-id")!;
    expect(events(id)[3]!.data).toMatchObject({ reason: "unsupported", fallback: true, status: 0 });
  });

  test("every target failing: the last error, in OpenAI's shape, and request.failed", async () => {
    const response = await post("/v1/embeddings", { model: "embed-all-broken", input: "x" });
    expect(response.status).toBe(502);
    const body = await response.json() as { error: { message: string; type: string } };
    expect(body.error.message).toContain("boom");
    const id = response.headers.get("x-sluice-request-id")!;
    expect(types(id)).toEqual(["request.received", "route.decided", "attempt.started", "attempt.failed", "attempt.started", "attempt.failed", "request.failed"]);
  });

  test("unknown model → 404 model_not_found through the SDK", async () => {
    const error = await client.embeddings.create({ model: "no-such-model", input: "x" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).code).toBe("model_not_found");
    const id = lastRequest();
    expect(types(id)).toEqual(["request.received", "request.failed"]);
  });

  test("bad bodies → 400 in OpenAI's shape, naming the field; nothing goes upstream", async () => {
    const cases: Array<[unknown, string]> = [
      ["{not json", ""],
      [{ input: "x" }, "model"],
      [{ model: "text-embedding-3-small" }, "input"],
      [{ model: "text-embedding-3-small", input: [] }, "input"],
      [{ model: "text-embedding-3-small", input: [1, 2, 3] }, "input"],
      [{ model: "text-embedding-3-small", input: [[1, 2], [3]] }, "input"],
      [{ model: "text-embedding-3-small", input: "" }, "input"],
      [{ model: "text-embedding-3-small", input: "x", encoding_format: "int8" }, "encoding_format"],
      [{ model: "text-embedding-3-small", input: "x", dimensions: 0 }, "dimensions"],
    ];
    for (const [body, param] of cases) {
      const response = await post("/v1/embeddings", body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      const error = (await response.json() as { error: { type: string; param: string | null; message: string } }).error;
      expect(error.type).toBe("invalid_request_error");
      if (param) expect(error.param, JSON.stringify(body)).toBe(param);
    }
    const tokens = await post("/v1/embeddings", { model: "text-embedding-3-small", input: [1, 2, 3] });
    expect((await tokens.json() as { error: { message: string } }).error.message).toMatch(/token arrays/i);
    expect(openaiUp.seen).toHaveLength(0);
  });
});

describe("Gemini :embedContent and :batchEmbedContents", () => {
  test("@google/genai embedContent, one content: Gemini upstream", async () => {
    const result = await ai.models.embedContent({ model: "gemini-embedding-001", contents: "hello", config: { outputDimensionality: 4 } });
    expect(result.embeddings).toHaveLength(1);
    expect(result.embeddings![0]!.values).toEqual(vectorOf("hello", 4));
    expect(geminiUp.seen[0]!.json).toMatchObject({ requests: [{ content: { parts: [{ text: "hello" }] }, outputDimensionality: 4 }] });
    const id = lastRequest();
    expect(types(id)).toEqual(["request.received", "route.decided", "attempt.started", "attempt.succeeded", "request.completed"]);
    expect(events(id)[0]!.data).toMatchObject({ dialect: "gemini-embeddings", endpoint: "/v1beta/models/{model}:batchEmbedContents", model: "gemini-embedding-001" });
  });

  test("@google/genai embedContent, several contents, cross-dialect to an OpenAI upstream", async () => {
    const result = await ai.models.embedContent({ model: "text-embedding-3-small", contents: ["one", "two", "three"] });
    expect(result.embeddings!.map((e) => e.values)).toEqual([vectorOf("one"), vectorOf("two"), vectorOf("three")]);
    expect(openaiUp.seen[0]!.json).toMatchObject({ model: "text-embedding-3-small", input: ["one", "two", "three"] });
    const id = lastRequest();
    expect(events(id).at(-1)!.data).toMatchObject({ usage: { input_tokens: 15, output_tokens: 0 } });
  });

  test("raw :embedContent (snake_case too) and the /v1 path", async () => {
    const single = await post("/v1beta/models/text-embedding-3-small:embedContent", { content: { parts: [{ text: "hi" }] }, output_dimensionality: 2 });
    expect(single.status).toBe(200);
    expect(await single.json()).toEqual({ embedding: { values: vectorOf("hi", 2) } });
    const batch = await post("/v1/models/nomic-embed-text:batchEmbedContents", { requests: [{ content: { parts: [{ text: "a" }] } }, { content: { parts: [{ text: "bc" }] } }] });
    expect(await batch.json()).toEqual({ embeddings: [{ values: vectorOf("a") }, { values: vectorOf("bc") }] });
  });

  test("fallback on a 500 also for Gemini clients", async () => {
    const result = await ai.models.embedContent({ model: "embed-fallback", contents: "hello" });
    expect(result.embeddings![0]!.values).toEqual(vectorOf("hello"));
    expect(brokenUp.seen).toHaveLength(1);
  });

  test("unknown model → 404 NOT_FOUND in Google's shape", async () => {
    const error = await ai.models.embedContent({ model: "no-such-model", contents: "x" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as { status?: number }).status).toBe(404);
    const raw = await post("/v1beta/models/no-such-model:embedContent", { content: { parts: [{ text: "x" }] } });
    expect(raw.status).toBe(404);
    expect(await raw.json()).toMatchObject({ error: { code: 404, status: "NOT_FOUND" } });
  });

  test("bad bodies → 400 INVALID_ARGUMENT", async () => {
    const cases: unknown[] = [
      "{nope",
      {},
      { content: { parts: [] } },
      { content: { parts: [{ inlineData: { mimeType: "image/png", data: "AA==" } }] } },
    ];
    for (const body of cases) {
      const response = await post("/v1beta/models/gemini-embedding-001:embedContent", body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(await response.json()).toMatchObject({ error: { code: 400, status: "INVALID_ARGUMENT" } });
    }
    const mixed = await post("/v1beta/models/gemini-embedding-001:batchEmbedContents", {
      requests: [{ content: { parts: [{ text: "a" }] }, outputDimensionality: 2 }, { content: { parts: [{ text: "b" }] } }],
    });
    expect(mixed.status).toBe(400);
    expect(geminiUp.seen).toHaveLength(0);
  });
});
