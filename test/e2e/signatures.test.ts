import OpenAI from "openai";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startFakeUpstream, type FakeUpstream, type Seen } from "../support/fake-upstream.ts";
import { startGateway, type TestGateway } from "../support/gateway.ts";

// An OpenAI Chat client (whose dialect has no place for signatures) talking to Claude with
// thinking and tools: the thinking block's signature must come back, byte-exact, on the next
// turn to the same provider, and never go to another one (LANDSCAPE #3).

const SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds4MG2Eq0JTDgkFMDpYwAA3BFLuJm9LZHKCvZ==";
let upstream: FakeUpstream;
let gateway: TestGateway;

function claude(seen: Seen): Response {
  const json = seen.json as { model: string };
  return Response.json({
    id: "msg_1", type: "message", role: "assistant", model: json.model,
    content: [
      { type: "thinking", thinking: "The user wants the weather; call the tool.", signature: SIGNATURE },
      { type: "tool_use", id: "toolu_01XYZ", name: "get_weather", input: { city: "Paris" } },
    ],
    stop_reason: "tool_use", stop_sequence: null, usage: { input_tokens: 20, output_tokens: 10 },
  });
}

beforeAll(async () => {
  upstream = startFakeUpstream(claude);
  const root = upstream.url.replace(/\/v1$/, "");
  gateway = await startGateway(`providers:
  - { id: claude, kind: anthropic, base_url: "${root}", api_key: k1, models: [claude-x] }
  - { id: other, kind: anthropic, base_url: "${root}", api_key: k2, models: [claude-y] }
`);
});

afterAll(async () => {
  await gateway.close();
  await upstream.stop();
});

const tools = [{ type: "function" as const, function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }];

async function firstTurn(client: OpenAI, model: string) {
  const answer = await client.chat.completions.create({ model, reasoning_effort: "low", tools, messages: [{ role: "user", content: "weather in Paris?" }] });
  return answer.choices[0]!.message;
}

/** The assistant turn of the last request the upstream saw, in Anthropic's shape. */
const assistantSeen = () => ((upstream.seen.at(-1)!.json as { messages: Array<{ role: string; content: Array<Record<string, unknown>> }> }).messages)
  .find((m) => m.role === "assistant")!.content;

test("the signature goes back to the provider that made it, byte-exact", async () => {
  const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "x", maxRetries: 0 });
  const message = await firstTurn(client, "claude/claude-x");
  expect(message.tool_calls![0]!.id).toBe("toolu_01XYZ");
  await client.chat.completions.create({
    model: "claude/claude-x", reasoning_effort: "low", tools,
    messages: [
      { role: "user", content: "weather in Paris?" },
      { role: "assistant", content: null, tool_calls: message.tool_calls },
      { role: "tool", tool_call_id: "toolu_01XYZ", content: "sunny" },
    ],
  });
  const blocks = assistantSeen();
  expect(blocks[0]).toEqual({ type: "thinking", thinking: "The user wants the weather; call the tool.", signature: SIGNATURE });
  expect(blocks[1]).toMatchObject({ type: "tool_use", id: "toolu_01XYZ", name: "get_weather", input: { city: "Paris" } });
  expect(gateway.gw.log.read(0, 10_000).some((e) => e.type === "signature.stored")).toBe(true);
});

test("another provider never receives it", async () => {
  const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "x", maxRetries: 0 });
  const message = await firstTurn(client, "claude/claude-x");
  await client.chat.completions.create({
    model: "other/claude-y", tools,
    messages: [
      { role: "user", content: "weather in Paris?" },
      { role: "assistant", content: null, tool_calls: message.tool_calls },
      { role: "tool", tool_call_id: "toolu_01XYZ", content: "sunny" },
    ],
  });
  expect(assistantSeen().some((block) => block.type === "thinking")).toBe(false);
});

test("a signature another provider made is taken out, even from a client that kept it", async () => {
  const { default: Anthropic } = await import("@anthropic-ai/sdk");
  const GEMINI_SIGNATURE = "CiQBVKhc7gemini-thought-signature-bytes==";
  const mixed = startFakeUpstream((seen) => {
    if (seen.path.includes(":generateContent")) {
      return Response.json({
        candidates: [{ content: { role: "model", parts: [{ text: "Let me think.", thought: true, thoughtSignature: GEMINI_SIGNATURE }, { text: "Paris is sunny." }] }, finishReason: "STOP", index: 0 }],
        usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 4, totalTokenCount: 9 },
      });
    }
    return Response.json({
      id: "msg_2", type: "message", role: "assistant", model: "claude-x", content: [{ type: "text", text: "ok" }],
      stop_reason: "end_turn", stop_sequence: null, usage: { input_tokens: 5, output_tokens: 1 },
    });
  });
  const root = mixed.url.replace(/\/v1$/, "");
  const both = await startGateway(`providers:
  - { id: gem, kind: gemini, base_url: "${root}", models: [gemini-x] }
  - { id: claude, kind: anthropic, base_url: "${root}", models: [claude-x] }
`);
  try {
    const client = new Anthropic({ baseURL: both.url, apiKey: "x", maxRetries: 0 });
    const first = await client.messages.create({
      model: "gem/gemini-x", max_tokens: 2048, thinking: { type: "enabled", budget_tokens: 1024 },
      messages: [{ role: "user", content: "weather?" }],
    });
    const thinking = first.content.find((b) => b.type === "thinking");
    expect(thinking && thinking.type === "thinking" && thinking.signature).toBe(GEMINI_SIGNATURE);
    await client.messages.create({
      model: "claude/claude-x", max_tokens: 256,
      messages: [{ role: "user", content: "weather?" }, { role: "assistant", content: first.content }, { role: "user", content: "thanks" }],
    });
    const sent = JSON.stringify(mixed.seen.at(-1)!.json);
    expect(sent).not.toContain(GEMINI_SIGNATURE);
    expect(sent).toContain("Paris is sunny.");
  } finally {
    await both.close();
    await mixed.stop();
  }
});

test("a tool-use turn another provider answered is continued on Claude without thinking, and the client is told", async () => {
  const { default: Anthropic } = await import("@anthropic-ai/sdk");
  const mixed = startFakeUpstream((seen) => {
    if (seen.path.includes(":generateContent")) {
      return Response.json({
        candidates: [{
          content: { role: "model", parts: [{ text: "I should look it up.", thought: true, thoughtSignature: "Z2VtaW5p" }, { functionCall: { name: "get_weather", args: { city: "Paris" } } }] },
          finishReason: "STOP", index: 0,
        }],
        usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 4, totalTokenCount: 9 },
      });
    }
    return Response.json({
      id: "msg_3", type: "message", role: "assistant", model: "claude-x", content: [{ type: "text", text: "It is 21C in Paris." }],
      stop_reason: "end_turn", stop_sequence: null, usage: { input_tokens: 9, output_tokens: 8 },
    });
  });
  const root = mixed.url.replace(/\/v1$/, "");
  const both = await startGateway(`providers:
  - { id: gem, kind: gemini, base_url: "${root}", models: [gemini-x] }
  - { id: claude, kind: anthropic, base_url: "${root}", models: [claude-x] }
`);
  try {
    const client = new Anthropic({ baseURL: both.url, apiKey: "x", maxRetries: 0 });
    const thinking = { type: "enabled" as const, budget_tokens: 1024 };
    const tools = [{ name: "get_weather", input_schema: { type: "object" as const, properties: { city: { type: "string" } } } }];
    const first = await client.messages.create({ model: "gem/gemini-x", max_tokens: 2048, thinking, tools, messages: [{ role: "user", content: "weather?" }] });
    const use = first.content.find((b) => b.type === "tool_use")!;
    expect(use.type === "tool_use" && use.input).toEqual({ city: "Paris" });
    const { data, response } = await client.messages.create({
      model: "claude/claude-x", max_tokens: 2048, thinking, tools,
      messages: [
        { role: "user", content: "weather?" },
        { role: "assistant", content: first.content },
        { role: "user", content: [{ type: "tool_result", tool_use_id: use.type === "tool_use" ? use.id : "", content: "21C" }] },
      ],
    }).withResponse();
    expect(data.content[0]).toMatchObject({ type: "text", text: "It is 21C in Paris." });
    const sent = mixed.seen.at(-1)!.json as { thinking?: unknown; messages: Array<{ content: Array<{ type: string }> }> };
    expect(sent.thinking).toBeUndefined();
    expect(sent.messages[1]!.content.map((b) => b.type)).toEqual(["tool_use"]);
    expect(response.headers.get("x-sluice-adjustments")).toContain("thinking=off");
  } finally {
    await both.close();
    await mixed.stop();
  }
});
