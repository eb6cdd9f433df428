import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import { TOOL_ARGS, vendorBehaviour } from "../support/fake-vendors.ts";
import { startGateway, type TestGateway } from "../support/gateway.ts";

// The conformance matrix: each official SDK (the openai SDK twice: Chat Completions and
// Responses), unchanged, through Sluice to each upstream kind,
// streaming and not, plain text and a tool call. Every cell checks content, tool arguments,
// the stop reason and usage, and the table is printed at the end.

type Client = "openai" | "responses" | "anthropic" | "gemini";
type Upstream = "openai" | "anthropic" | "gemini";
type Mode = "json" | "stream";
type Task = "text" | "tool";

interface Answer {
  text: string;
  tool?: { name: string; args: unknown };
  stop: string;
  usage: { input: number; output: number };
}

const MODELS: Record<Upstream, string> = { openai: "oa/gpt-x", anthropic: "an/claude-x", gemini: "ge/gemini-x" };
const TOOL = { name: "get_weather", description: "Weather for a city", schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } };

let upstream: FakeUpstream;
let gateway: TestGateway;
const results: Array<{ cell: string; ok: boolean }> = [];

beforeAll(async () => {
  upstream = startFakeUpstream(vendorBehaviour);
  const root = upstream.url.replace(/\/v1$/, "");
  gateway = await startGateway(`providers:
  - { id: oa, kind: openai, base_url: "${root}/v1", api_key: sk-oa-key-0000, models: [gpt-x] }
  - { id: an, kind: anthropic, base_url: "${root}", api_key: sk-an-key-0000, models: [claude-x] }
  - { id: ge, kind: gemini, base_url: "${root}", api_key: ge-key-0000, models: [gemini-x] }
`);
});

afterAll(async () => {
  const clients: Client[] = ["openai", "responses", "anthropic", "gemini"];
  const lines = ["", "conformance matrix (client → upstream: json/stream × text/tool)"];
  for (const client of clients) {
    for (const up of ["openai", "anthropic", "gemini"] as Upstream[]) {
      const cells = results.filter((r) => r.cell.startsWith(`${client}→${up} `));
      lines.push(`  ${`${client} → ${up}`.padEnd(24)} ${cells.map((c) => `${c.cell.split(" ")[1]}:${c.ok ? "pass" : "FAIL"}`).join("  ")}`);
    }
  }
  const passed = results.filter((r) => r.ok).length;
  lines.push(`  ${passed}/${results.length} cells pass`);
  console.log(lines.join("\n"));
  await gateway.close();
  await upstream.stop();
});

async function viaOpenAI(model: string, mode: Mode, task: Task): Promise<Answer> {
  const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "sk-client", maxRetries: 0 });
  const prompt = task === "tool" ? "please use the tool" : "hello matrix";
  const tools = task === "tool" ? [{ type: "function" as const, function: { name: TOOL.name, description: TOOL.description, parameters: TOOL.schema } }] : undefined;
  const params = { model, messages: [{ role: "user" as const, content: prompt }], ...(tools ? { tools } : {}) };
  if (mode === "json") {
    const r = await client.chat.completions.create(params);
    const call = r.choices[0]!.message.tool_calls?.[0];
    return {
      text: r.choices[0]!.message.content ?? "",
      ...(call && call.type === "function" ? { tool: { name: call.function.name, args: call.function.arguments } } : {}),
      stop: r.choices[0]!.finish_reason, usage: { input: r.usage!.prompt_tokens, output: r.usage!.completion_tokens },
    };
  }
  const stream = client.chat.completions.stream({ ...params, stream_options: { include_usage: true } });
  const r = await stream.finalChatCompletion();
  const call = r.choices[0]!.message.tool_calls?.[0];
  return {
    text: r.choices[0]!.message.content ?? "",
    ...(call && call.type === "function" ? { tool: { name: call.function.name, args: call.function.arguments } } : {}),
    stop: r.choices[0]!.finish_reason, usage: { input: r.usage?.prompt_tokens ?? 0, output: r.usage?.completion_tokens ?? 0 },
  };
}

async function viaResponses(model: string, mode: Mode, task: Task): Promise<Answer> {
  const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "sk-client", maxRetries: 0 });
  const prompt = task === "tool" ? "please use the tool" : "hello matrix";
  const params = {
    model, input: prompt,
    ...(task === "tool" ? { tools: [{ type: "function" as const, name: TOOL.name, description: TOOL.description, parameters: TOOL.schema, strict: false }] } : {}),
  };
  const r = mode === "json" ? await client.responses.create(params) : await client.responses.stream(params).finalResponse();
  const call = r.output.find((item) => item.type === "function_call");
  return {
    text: r.output_text,
    ...(call && call.type === "function_call" ? { tool: { name: call.name, args: call.arguments } } : {}),
    // The Responses API has no stop reason: a finished turn is "completed", with or without a call.
    stop: r.status ?? "", usage: { input: r.usage?.input_tokens ?? 0, output: r.usage?.output_tokens ?? 0 },
  };
}

async function viaAnthropic(model: string, mode: Mode, task: Task): Promise<Answer> {
  const client = new Anthropic({ baseURL: gateway.url, apiKey: "sk-client", maxRetries: 0 });
  const prompt = task === "tool" ? "please use the tool" : "hello matrix";
  const params = {
    model, max_tokens: 256, messages: [{ role: "user" as const, content: prompt }],
    ...(task === "tool" ? { tools: [{ name: TOOL.name, description: TOOL.description, input_schema: TOOL.schema as Anthropic.Tool.InputSchema }] } : {}),
  };
  const r = mode === "json" ? await client.messages.create(params) : await client.messages.stream(params).finalMessage();
  const text = r.content.map((b) => (b.type === "text" ? b.text : "")).join("");
  const tool = r.content.find((b) => b.type === "tool_use");
  return {
    text,
    ...(tool && tool.type === "tool_use" ? { tool: { name: tool.name, args: JSON.stringify(tool.input) } } : {}),
    stop: r.stop_reason ?? "", usage: { input: r.usage.input_tokens + (r.usage.cache_read_input_tokens ?? 0), output: r.usage.output_tokens },
  };
}

async function viaGemini(model: string, mode: Mode, task: Task): Promise<Answer> {
  const client = new GoogleGenAI({ apiKey: "client-key", httpOptions: { baseUrl: gateway.url } });
  const prompt = task === "tool" ? "please use the tool" : "hello matrix";
  const params = {
    model, contents: prompt,
    ...(task === "tool" ? { config: { tools: [{ functionDeclarations: [{ name: TOOL.name, description: TOOL.description, parametersJsonSchema: TOOL.schema }] }] } } : {}),
  };
  let text = "";
  let tool: Answer["tool"];
  let stop = "";
  let usage = { input: 0, output: 0 };
  const take = (r: Awaited<ReturnType<typeof client.models.generateContent>>) => {
    for (const part of r.candidates?.[0]?.content?.parts ?? []) {
      if (part.text) text += part.text;
      if (part.functionCall) tool = { name: part.functionCall.name!, args: JSON.stringify(part.functionCall.args) };
    }
    if (r.candidates?.[0]?.finishReason) stop = r.candidates[0].finishReason;
    if (r.usageMetadata) usage = { input: r.usageMetadata.promptTokenCount ?? 0, output: r.usageMetadata.candidatesTokenCount ?? 0 };
  };
  if (mode === "json") take(await client.models.generateContent(params));
  else for await (const chunk of await client.models.generateContentStream(params)) take(chunk);
  return { text, ...(tool ? { tool } : {}), stop, usage };
}

const CALL: Record<Client, (model: string, mode: Mode, task: Task) => Promise<Answer>> = {
  openai: viaOpenAI, responses: viaResponses, anthropic: viaAnthropic, gemini: viaGemini,
};
/** The stop reason each client's vocabulary uses for an ended turn and for a tool call. */
const STOP: Record<Client, Record<Task, string>> = {
  openai: { text: "stop", tool: "tool_calls" },
  responses: { text: "completed", tool: "completed" },
  anthropic: { text: "end_turn", tool: "tool_use" },
  gemini: { text: "STOP", tool: "STOP" },
};

describe.each(["openai", "responses", "anthropic", "gemini"] as Client[])("%s SDK", (client) => {
  describe.each(["openai", "anthropic", "gemini"] as Upstream[])("→ %s upstream", (up) => {
    for (const mode of ["json", "stream"] as Mode[]) {
      for (const task of ["text", "tool"] as Task[]) {
        test(`${mode} ${task}`, async () => {
          const cell = `${client}→${up} ${mode}/${task}`;
          let ok = false;
          try {
            const answer = await CALL[client](MODELS[up], mode, task);
            if (task === "text") expect(answer.text).toBe("echo: hello matrix");
            else {
              expect(answer.tool?.name).toBe(TOOL.name);
              expect(answer.tool!.args).toBe(TOOL_ARGS);
            }
            expect(answer.stop).toBe(STOP[client][task]);
            expect(answer.usage.input).toBeGreaterThan(0);
            expect(answer.usage.output).toBeGreaterThan(0);
            ok = true;
          } finally {
            results.push({ cell, ok });
          }
        });
      }
    }
  });
});
