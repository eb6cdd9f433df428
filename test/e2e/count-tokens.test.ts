import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import { Elysia } from "elysia";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { countTokensRoutes, handleCountTokens } from "../../core/server/count-tokens.ts";
import type { Plugin } from "../../core/plugins/hooks.ts";
import { countTokens } from "../../core/tokens/count.ts";
import { builtinPlugins } from "../../plugins/builtin.ts";
import { oneProvider, startGateway, type TestGateway } from "../support/gateway.ts";

// The count-tokens endpoints on a real gateway (its config, codecs and auth), driven by the
// official SDKs. The Gemini route here stands in for gemini.ts's wildcard route, which calls
// handleCountTokens for the :countTokens action.

let gateway: TestGateway;
let server: ReturnType<typeof Bun.serve>;
let base: string;

beforeAll(async () => {
  // No upstream is ever called: counting is answered by the gateway.
  gateway = await startGateway(oneProvider("http://127.0.0.1:9"));
  const gw = gateway.gw;
  const gemini = gw.codecs.get("gemini")!;
  const geminiCount = ({ request }: { request: Request }) => {
    const path = decodeURIComponent(new URL(request.url).pathname.replace(/^\/v1(beta)?\/models\//, ""));
    const colon = path.lastIndexOf(":");
    return handleCountTokens(gw, gemini, request, path.slice(0, colon), "gemini");
  };
  const app = new Elysia()
    .use(countTokensRoutes(gw))
    .post("/v1beta/models/*", geminiCount, { parse: "none" })
    .post("/v1/models/*", geminiCount, { parse: "none" });
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (request) => app.handle(request) });
  base = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server?.stop(true);
  await gateway?.close();
});

/** A PNG header for a width × height image (the counter reads only the header). */
function png(width: number, height: number): string {
  const b = Buffer.alloc(33);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b, 0);
  b.writeUInt32BE(13, 8);
  b.write("IHDR", 12, "ascii");
  b.writeUInt32BE(width, 16);
  b.writeUInt32BE(height, 20);
  return b.toString("base64");
}

const SYSTEM = "You are a meticulous travel assistant. Always answer with the city, the country and one fact.";
const TOOLS = [{
  name: "get_weather",
  description: "Get the current weather for a city, in degrees Celsius.",
  input_schema: { type: "object" as const, properties: { city: { type: "string", description: "The city name" } }, required: ["city"] },
}];
const messages = (image: boolean): Anthropic.MessageParam[] => [{
  role: "user",
  content: [
    ...(image ? [{ type: "image" as const, source: { type: "base64" as const, media_type: "image/png" as const, data: png(1000, 1000) } }] : []),
    { type: "text" as const, text: "What is the weather like in Paris today?" },
  ],
}];

const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });

describe("Anthropic POST /v1/messages/count_tokens", () => {
  const client = () => new Anthropic({ baseURL: base, apiKey: "sk-ant-anything", maxRetries: 0 });

  test("the official SDK gets {input_tokens}; system, tools and an image each add to it", async () => {
    const anthropic = client();
    const plain = await anthropic.messages.countTokens({ model: "fake-model", messages: messages(false) });
    expect(Object.keys(plain)).toEqual(["input_tokens"]);
    expect(plain.input_tokens).toBeGreaterThan(5);

    const withSystem = await anthropic.messages.countTokens({ model: "fake-model", system: SYSTEM, messages: messages(false) });
    const withTools = await anthropic.messages.countTokens({ model: "fake-model", system: SYSTEM, tools: TOOLS, messages: messages(false) });
    const withImage = await anthropic.messages.countTokens({ model: "fake-model", system: SYSTEM, tools: TOOLS, messages: messages(true) });
    expect(withSystem.input_tokens).toBeGreaterThan(plain.input_tokens + 15);
    expect(withTools.input_tokens).toBeGreaterThan(withSystem.input_tokens + 30);
    expect(withImage.input_tokens - withTools.input_tokens).toBe(1334); // 1000×1000 px / 750
  });

  test("the count is the counter's count of the decoded request", async () => {
    const body = { model: "local/fake-model", system: SYSTEM, tools: TOOLS, messages: messages(true) };
    const response = await post("/v1/messages/count_tokens", JSON.stringify(body));
    expect(response.status).toBe(200);
    const decoded = gateway.gw.codecs.get("anthropic")!.decodeRequest({ ...body, max_tokens: 1 });
    if ("kind" in decoded) throw new Error(decoded.message);
    expect(await response.json()).toEqual({ input_tokens: countTokens(decoded).total });
  });

  test("max_tokens is optional but accepted", async () => {
    const a = await (await post("/v1/messages/count_tokens", JSON.stringify({ model: "fake-model", messages: messages(false) }))).json();
    const b = await (await post("/v1/messages/count_tokens", JSON.stringify({ model: "fake-model", max_tokens: 500, messages: messages(false) }))).json();
    expect(a).toEqual(b);
  });

  test("an unknown model is a 404 in Anthropic's error shape (and the SDK's NotFoundError)", async () => {
    const response = await post("/v1/messages/count_tokens", JSON.stringify({ model: "no-such-model", messages: messages(false) }));
    expect(response.status).toBe(404);
    const body = await response.json() as { type: string; error: { type: string; message: string } };
    expect(body.type).toBe("error");
    expect(body.error.type).toBe("not_found_error");
    expect(body.error.message).toContain("no-such-model");
    await expect(client().messages.countTokens({ model: "no-such-model", messages: messages(false) })).rejects.toBeInstanceOf(Anthropic.NotFoundError);
  });

  test("bad JSON and invalid bodies are 400 invalid_request_error, never 500", async () => {
    for (const raw of ["{not json", "[1,2]", "null", '"text"', "{}", '{"model":"fake-model"}', '{"model":"fake-model","messages":"hi"}',
      '{"model":"fake-model","messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64"}}]}]}']) {
      const response = await post("/v1/messages/count_tokens", raw);
      expect(response.status, raw).toBe(400);
      const body = await response.json() as { type: string; error: { type: string } };
      expect(body, raw).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
    }
  });

  test("an image whose bytes are not an image counts as the fixed estimate, not an error", async () => {
    const body = { model: "fake-model", messages: [{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/png", data: "AAAA" } }] }] };
    const response = await post("/v1/messages/count_tokens", JSON.stringify(body));
    expect(response.status).toBe(200);
  });
});

describe("Gemini POST /v1beta/models/{model}:countTokens", () => {
  const contents = [{ role: "user", parts: [{ text: "What is the weather like in Paris today?" }] }];
  const systemInstruction = { parts: [{ text: SYSTEM }] };
  const tools = [{ functionDeclarations: [{ name: "get_weather", description: TOOLS[0]!.description, parameters: { type: "OBJECT", properties: { city: { type: "STRING" } }, required: ["city"] } }] }];
  const count = async (path: string, body: unknown) => {
    const response = await post(path, JSON.stringify(body));
    expect(response.status).toBe(200);
    const json = await response.json() as { totalTokens: number };
    expect(Object.keys(json)).toEqual(["totalTokens"]);
    return json.totalTokens;
  };

  test("the official @google/genai SDK gets totalTokens", async () => {
    const ai = new GoogleGenAI({ apiKey: "anything", httpOptions: { baseUrl: base } });
    const result = await ai.models.countTokens({ model: "fake-model", contents: "What is the weather like in Paris today?" });
    expect(result.totalTokens).toBe(await count("/v1beta/models/fake-model:countTokens", { contents }));
  });

  test("{contents} and {generateContentRequest} bodies; system, tools and images add to the count", async () => {
    const plain = await count("/v1beta/models/fake-model:countTokens", { contents });
    const system = await count("/v1beta/models/fake-model:countTokens", { generateContentRequest: { model: "models/fake-model", contents, systemInstruction } });
    const both = await count("/v1beta/models/fake-model:countTokens", { generateContentRequest: { contents, systemInstruction, tools } });
    const flat = await count("/v1/models/fake-model:countTokens", { contents, systemInstruction, tools });
    const image = await count("/v1beta/models/fake-model:countTokens", {
      contents: [{ role: "user", parts: [{ inlineData: { mimeType: "image/png", data: png(300, 300) } }, ...contents[0]!.parts] }],
    });
    expect(system).toBeGreaterThan(plain + 15);
    expect(both).toBeGreaterThan(system + 15);
    expect(flat).toBe(both);
    expect(image - plain).toBe(120); // 300×300 px / 750
  });

  test("errors in Google's shape: unknown model 404 NOT_FOUND, bad JSON and bad bodies 400 INVALID_ARGUMENT", async () => {
    const missing = await post("/v1beta/models/no-such-model:countTokens", JSON.stringify({ contents }));
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 404, status: "NOT_FOUND" } });
    for (const raw of ["{oops", "[]", "{}", '{"contents":"x"}', '{"generateContentRequest":{"contents":[{"role":"user","parts":[{"nope":1}]}]}}']) {
      const response = await post("/v1beta/models/fake-model:countTokens", raw);
      expect(response.status, raw).toBe(400);
      expect(await response.json(), raw).toMatchObject({ error: { code: 400, status: "INVALID_ARGUMENT" } });
    }
  });
});

describe("authentication", () => {
  test("with an auth plugin, counting needs a valid key like generation does (401 in the dialect's shape)", async () => {
    const auth: Plugin = {
      hook: "auth", name: "static",
      authenticate: ({ credential }) => (credential === "let-me-in" ? { caller: "key_demo" } : { deny: { kind: "authentication", message: "invalid API key" } }),
    };
    const guarded = await startGateway(oneProvider("http://127.0.0.1:9"), { plugins: [...builtinPlugins, auth] });
    try {
      const app = new Elysia().use(countTokensRoutes(guarded.gw));
      const request = (key: string) => new Request("http://sluice/v1/messages/count_tokens", {
        method: "POST", headers: { "x-api-key": key, "content-type": "application/json" },
        body: JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "hi" }] }),
      });
      const denied = await app.handle(request("wrong"));
      expect(denied.status).toBe(401);
      expect(await denied.json()).toMatchObject({ type: "error", error: { type: "authentication_error" } });
      const allowed = await app.handle(request("let-me-in"));
      expect(allowed.status).toBe(200);
      expect(await allowed.json()).toEqual({ input_tokens: expect.any(Number) });
    } finally {
      await guarded.close();
    }
  });
});
