import { createAnthropic } from "@ai-sdk/anthropic";
import { createGoogleGenerativeAI } from "@ai-sdk/google";
import { createOpenAI } from "@ai-sdk/openai";
import Anthropic from "@anthropic-ai/sdk";
import { generateText, jsonSchema, Output, streamText, tool, type LanguageModel, type ModelMessage } from "ai";
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import {
  IMAGE_URL, JSON_ANSWER, PNG_BASE64, REASONING, SIG_ANTHROPIC, SIG_GEMINI, TOOL_ARGS, vendorBehaviour,
} from "../support/fake-vendors.ts";
import { startGateway, type TestGateway } from "../support/gateway.ts";

// The conformance matrix: each official SDK (the openai SDK twice: Chat Completions and
// Responses; the Vercel ai SDK with its openai (Chat and Responses), anthropic and google
// providers), unchanged, through Sluice to each upstream kind,
// streaming and not, plain text and a tool call. Every cell checks content, tool arguments,
// the stop reason and usage, and the table is printed at the end.

type Client = "openai" | "responses" | "anthropic" | "gemini" | AiClient;
/** The Vercel ai SDK, one client per provider package. */
type AiClient = "ai-openai" | "ai-responses" | "ai-anthropic" | "ai-google";
const CLIENTS: Client[] = ["openai", "responses", "anthropic", "gemini", "ai-openai", "ai-responses", "ai-anthropic", "ai-google"];
type Upstream = "openai" | "anthropic" | "gemini";
type Mode = "json" | "stream";
type Task = "text" | "tool" | "image" | "json" | "thinking";
const TASKS: Task[] = ["text", "tool", "image", "json", "thinking"];

interface Answer {
  text: string;
  tool?: { name: string; args: unknown };
  stop: string;
  usage: { input: number; output: number };
  /** Reasoning the client's SDK shows, and its signature where the dialect has a place for one. */
  reasoning?: { text: string; signature?: string };
}

const PROMPT: Record<Task, string> = {
  text: "hello matrix", tool: "please use the tool", image: "describe the image", json: "give json", thinking: "think first",
};
const SCHEMA = {
  type: "object", properties: { city: { type: "string" }, temp: { type: "number" } }, required: ["city", "temp"], additionalProperties: false,
};
const IMAGE_ECHO = `echo: describe the image [saw image/png ${Buffer.from(PNG_BASE64, "base64").length} bytes, url ${IMAGE_URL}]`;
const EXPECTED_TEXT: Record<Exclude<Task, "tool">, string> = {
  text: "echo: hello matrix", image: IMAGE_ECHO, json: JSON_ANSWER, thinking: "echo: think first",
};

const MODELS: Record<Upstream, string> = { openai: "oa/gpt-x", anthropic: "an/claude-x", gemini: "ge/gemini-x" };
const TOOL = { name: "get_weather", description: "Weather for a city", schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } };

let upstream: FakeUpstream;
let gateway: TestGateway;
const results: Array<{ cell: string; ok: boolean }> = [];
/** Cells whose assertions are reduced because the client's dialect has no place for something. */
const BY_DESIGN = [
  "openai→anthropic|gemini thinking: Chat Completions' reasoning_content has no signature field, so the reasoning text is asserted and the signature is not (it cannot be carried)",
  "responses→* thinking: the reasoning summary text is asserted; Responses carries a foreign signature as encrypted_content, not asserted byte-exact",
  "ai-openai→* thinking: @ai-sdk/openai's Chat model does not read reasoning_content (not an OpenAI field), so the answer text, stop and usage are asserted and the reasoning is not",
  "ai-google→* image: the google provider would download a non-Google image URL itself, so it sends the PNG bytes alone",
  "ai-anthropic→* json: structuredOutputMode \"outputFormat\" (the mode it picks for a known Claude); for an unknown model id it would fake the schema with a forced \"json\" tool",
];

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
  const clients = CLIENTS;
  const lines = ["", "conformance matrix (client → upstream: json/stream × text/tool/image/json/thinking)"];
  for (const client of clients) {
    for (const up of ["openai", "anthropic", "gemini"] as Upstream[]) {
      const cells = results.filter((r) => r.cell.startsWith(`${client}→${up} `));
      lines.push(`  ${`${client} → ${up}`.padEnd(27)} ${cells.map((c) => `${c.cell.split(" ")[1]}:${c.ok ? "pass" : "FAIL"}`).join("  ")}`);
    }
  }
  const passed = results.filter((r) => r.ok).length;
  lines.push(`  ${passed}/${results.length} cells pass`);
  for (const line of BY_DESIGN) lines.push(`  by design: ${line}`);
  console.log(lines.join("\n"));
  await gateway.close();
  await upstream.stop();
});

async function viaOpenAI(model: string, mode: Mode, task: Task): Promise<Answer> {
  const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "sk-client", maxRetries: 0 });
  const prompt = PROMPT[task];
  const tools = task === "tool" ? [{ type: "function" as const, function: { name: TOOL.name, description: TOOL.description, parameters: TOOL.schema } }] : undefined;
  const content: OpenAI.ChatCompletionUserMessageParam["content"] = task === "image"
    ? [{ type: "text", text: prompt }, { type: "image_url", image_url: { url: `data:image/png;base64,${PNG_BASE64}` } }, { type: "image_url", image_url: { url: IMAGE_URL } }]
    : prompt;
  const params = {
    model, messages: [{ role: "user" as const, content }], ...(tools ? { tools } : {}),
    ...(task === "json" ? { response_format: { type: "json_schema" as const, json_schema: { name: "weather", schema: SCHEMA, strict: true } } } : {}),
    ...(task === "thinking" ? { reasoning_effort: "low" as const } : {}),
  };
  // reasoning_content is not in the SDK's types: DeepSeek's field, read where the codec emits it.
  const reasoningOf = (message: object) => (message as { reasoning_content?: string }).reasoning_content;
  if (mode === "json") {
    const r = await client.chat.completions.create(params);
    const call = r.choices[0]!.message.tool_calls?.[0];
    const reasoning = reasoningOf(r.choices[0]!.message);
    return {
      text: r.choices[0]!.message.content ?? "",
      ...(call && call.type === "function" ? { tool: { name: call.function.name, args: call.function.arguments } } : {}),
      ...(reasoning ? { reasoning: { text: reasoning } } : {}),
      stop: r.choices[0]!.finish_reason, usage: { input: r.usage!.prompt_tokens, output: r.usage!.completion_tokens },
    };
  }
  const stream = client.chat.completions.stream({ ...params, stream_options: { include_usage: true } });
  // The SDK's snapshot keeps only the last fragment of a field it does not know: the chunks are summed here.
  let reasoning = "";
  stream.on("chunk", (chunk) => { reasoning += reasoningOf(chunk.choices[0]?.delta ?? {}) ?? ""; });
  const r = await stream.finalChatCompletion();
  const call = r.choices[0]!.message.tool_calls?.[0];
  return {
    ...(reasoning ? { reasoning: { text: reasoning } } : {}),
    text: r.choices[0]!.message.content ?? "",
    ...(call && call.type === "function" ? { tool: { name: call.function.name, args: call.function.arguments } } : {}),
    stop: r.choices[0]!.finish_reason, usage: { input: r.usage?.prompt_tokens ?? 0, output: r.usage?.completion_tokens ?? 0 },
  };
}

async function viaResponses(model: string, mode: Mode, task: Task): Promise<Answer> {
  const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "sk-client", maxRetries: 0 });
  const prompt = PROMPT[task];
  const input: OpenAI.Responses.ResponseCreateParams["input"] = task === "image"
    ? [{ role: "user", content: [{ type: "input_text", text: prompt }, { type: "input_image", image_url: `data:image/png;base64,${PNG_BASE64}`, detail: "auto" }, { type: "input_image", image_url: IMAGE_URL, detail: "auto" }] }]
    : prompt;
  const params = {
    model, input,
    ...(task === "tool" ? { tools: [{ type: "function" as const, name: TOOL.name, description: TOOL.description, parameters: TOOL.schema, strict: false }] } : {}),
    ...(task === "json" ? { text: { format: { type: "json_schema" as const, name: "weather", schema: SCHEMA, strict: true } } } : {}),
    ...(task === "thinking" ? { reasoning: { effort: "low" as const, summary: "auto" as const } } : {}),
  };
  const r = mode === "json" ? await client.responses.create(params) : await client.responses.stream(params).finalResponse();
  const call = r.output.find((item) => item.type === "function_call");
  const thought = r.output.find((item) => item.type === "reasoning");
  return {
    ...(thought && thought.type === "reasoning" ? { reasoning: { text: thought.summary.map((s) => s.text).join(""), ...(thought.encrypted_content ? { signature: thought.encrypted_content } : {}) } } : {}),
    text: r.output_text,
    ...(call && call.type === "function_call" ? { tool: { name: call.name, args: call.arguments } } : {}),
    // The Responses API has no stop reason: a finished turn is "completed", with or without a call.
    stop: r.status ?? "", usage: { input: r.usage?.input_tokens ?? 0, output: r.usage?.output_tokens ?? 0 },
  };
}

async function viaAnthropic(model: string, mode: Mode, task: Task): Promise<Answer> {
  const client = new Anthropic({ baseURL: gateway.url, apiKey: "sk-client", maxRetries: 0 });
  const prompt = PROMPT[task];
  const content: Anthropic.MessageParam["content"] = task === "image"
    ? [{ type: "text", text: prompt }, { type: "image", source: { type: "base64", media_type: "image/png", data: PNG_BASE64 } }, { type: "image", source: { type: "url", url: IMAGE_URL } }]
    : prompt;
  const params = {
    model, max_tokens: task === "thinking" ? 2048 : 256, messages: [{ role: "user" as const, content }],
    ...(task === "tool" ? { tools: [{ name: TOOL.name, description: TOOL.description, input_schema: TOOL.schema as Anthropic.Tool.InputSchema }] } : {}),
    ...(task === "json" ? { output_config: { format: { type: "json_schema" as const, schema: SCHEMA } } } : {}),
    ...(task === "thinking" ? { thinking: { type: "enabled" as const, budget_tokens: 1024 } } : {}),
  };
  const r = mode === "json" ? await client.messages.create(params) : await client.messages.stream(params).finalMessage();
  const text = r.content.map((b) => (b.type === "text" ? b.text : "")).join("");
  const tool = r.content.find((b) => b.type === "tool_use");
  const thinking = r.content.find((b) => b.type === "thinking");
  return {
    ...(thinking && thinking.type === "thinking" ? { reasoning: { text: thinking.thinking, signature: thinking.signature } } : {}),
    text,
    ...(tool && tool.type === "tool_use" ? { tool: { name: tool.name, args: JSON.stringify(tool.input) } } : {}),
    stop: r.stop_reason ?? "", usage: { input: r.usage.input_tokens + (r.usage.cache_read_input_tokens ?? 0), output: r.usage.output_tokens },
  };
}

async function viaGemini(model: string, mode: Mode, task: Task): Promise<Answer> {
  const client = new GoogleGenAI({ apiKey: "client-key", httpOptions: { baseUrl: gateway.url } });
  const prompt = PROMPT[task];
  const contents = task === "image"
    ? [{ role: "user", parts: [{ text: prompt }, { inlineData: { mimeType: "image/png", data: PNG_BASE64 } }, { fileData: { mimeType: "image/png", fileUri: IMAGE_URL } }] }]
    : prompt;
  const params = {
    model, contents,
    ...(task === "tool" ? { config: { tools: [{ functionDeclarations: [{ name: TOOL.name, description: TOOL.description, parametersJsonSchema: TOOL.schema }] }] } } : {}),
    ...(task === "json" ? { config: { responseMimeType: "application/json", responseJsonSchema: SCHEMA } } : {}),
    ...(task === "thinking" ? { config: { thinkingConfig: { includeThoughts: true, thinkingBudget: 1024 } } } : {}),
  };
  let reasoning: Answer["reasoning"];
  let text = "";
  let tool: Answer["tool"];
  let stop = "";
  let usage = { input: 0, output: 0 };
  const take = (r: Awaited<ReturnType<typeof client.models.generateContent>>) => {
    for (const part of r.candidates?.[0]?.content?.parts ?? []) {
      if (part.thought && part.text !== undefined) {
        reasoning = { text: (reasoning?.text ?? "") + part.text, ...(part.thoughtSignature ? { signature: part.thoughtSignature } : reasoning?.signature ? { signature: reasoning.signature } : {}) };
        continue;
      }
      if (part.text) text += part.text;
      if (part.functionCall) tool = { name: part.functionCall.name!, args: JSON.stringify(part.functionCall.args) };
    }
    if (r.candidates?.[0]?.finishReason) stop = r.candidates[0].finishReason;
    if (r.usageMetadata) usage = { input: r.usageMetadata.promptTokenCount ?? 0, output: r.usageMetadata.candidatesTokenCount ?? 0 };
  };
  if (mode === "json") take(await client.models.generateContent(params));
  else for await (const chunk of await client.models.generateContentStream(params)) take(chunk);
  return { text, ...(tool ? { tool } : {}), ...(reasoning ? { reasoning } : {}), stop, usage };
}

/** The ai SDK's model for a client: the provider package pointed at Sluice the way its docs say. */
function aiModel(client: AiClient, model: string): LanguageModel {
  switch (client) {
    case "ai-openai": return createOpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "sk-client" }).chat(model);
    case "ai-responses": return createOpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "sk-client" }).responses(model);
    case "ai-anthropic": return createAnthropic({ baseURL: `${gateway.url}/v1`, apiKey: "sk-client" })(model);
    // The google provider treats an id with a "/" as a full resource path and sends
    // /v1beta/ge/gemini-x:generateContent: Sluice accepts that without the models/ prefix.
    case "ai-google": return createGoogleGenerativeAI({ baseURL: `${gateway.url}/v1beta`, apiKey: "client-key" })(model);
  }
}

/** The options each ai-SDK provider needs to ask for reasoning. */
const AI_THINKING: Record<AiClient, Record<string, Record<string, any>>> = {
  // The openai provider drops reasoningEffort for a model id it does not know as a reasoner ("oa/gpt-x"): forceReasoning keeps it.
  "ai-openai": { openai: { reasoningEffort: "low", forceReasoning: true } },
  "ai-responses": { openai: { reasoningEffort: "low", reasoningSummary: "auto", forceReasoning: true } },
  "ai-anthropic": { anthropic: { thinking: { type: "enabled", budgetTokens: 1024 } } },
  "ai-google": { google: { thinkingConfig: { includeThoughts: true, thinkingBudget: 1024 } } },
};

/** The ai SDK sends a URL image as a URL only where the provider takes URLs; google's would be downloaded, so it gets the bytes alone. */
const aiSendsUrl = (client: AiClient) => client !== "ai-google";

async function viaAi(client: AiClient, model: string, mode: Mode, task: Task): Promise<Answer> {
  const prompt = PROMPT[task];
  const messages: ModelMessage[] = [{
    role: "user",
    content: task === "image"
      ? [
          { type: "text", text: prompt },
          { type: "image", image: new Uint8Array(Buffer.from(PNG_BASE64, "base64")), mediaType: "image/png" },
          ...(aiSendsUrl(client) ? [{ type: "image" as const, image: new URL(IMAGE_URL) }] : []),
        ]
      : prompt,
  }];
  const params = {
    model: aiModel(client, model), messages, maxRetries: 0,
    ...(task === "tool" ? { tools: { [TOOL.name]: tool({ description: TOOL.description, inputSchema: jsonSchema<Record<string, unknown>>(TOOL.schema as any) }) } } : {}),
    ...(task === "json" ? { output: Output.object({ schema: jsonSchema<{ city: string; temp: number }>(SCHEMA as any) }) } : {}),
    // For a model id without "claude-" the anthropic provider fakes structured output with a forced "json" tool;
    // outputFormat asks for Anthropic's own output_config.format, as it does for a known Claude.
    ...(task === "json" && client === "ai-anthropic" ? { providerOptions: { anthropic: { structuredOutputMode: "outputFormat" } } } : {}),
    maxOutputTokens: task === "thinking" ? 2048 : 256,
    ...(task === "thinking" ? { providerOptions: AI_THINKING[client] } : {}),
  };
  const signatureOf = (meta: Record<string, Record<string, unknown>> | undefined) =>
    (meta?.anthropic?.signature ?? meta?.google?.thoughtSignature ?? meta?.openai?.reasoningEncryptedContent) as string | undefined;
  const answer = (r: {
    text: string; reasoningText: string | undefined; finishReason: string;
    toolCalls: Array<{ toolName: string; input: unknown }>;
    usage: { inputTokens: number | undefined; outputTokens: number | undefined };
    reasoning: Array<{ providerMetadata?: Record<string, Record<string, unknown>> }>;
  }): Answer => {
    const call = r.toolCalls[0];
    const signature = r.reasoning.map((p) => signatureOf(p.providerMetadata)).find((s) => s !== undefined);
    return {
      text: r.text,
      ...(call ? { tool: { name: call.toolName, args: JSON.stringify(call.input) } } : {}),
      ...(r.reasoningText ? { reasoning: { text: r.reasoningText, ...(signature ? { signature } : {}) } } : {}),
      stop: r.finishReason, usage: { input: r.usage.inputTokens ?? 0, output: r.usage.outputTokens ?? 0 },
    };
  };
  if (mode === "json") return answer(await generateText(params as Parameters<typeof generateText>[0]));
  // streamText reports a failed stream to onError and resolves its promises empty: the error is kept and thrown.
  let failure: unknown;
  const r = streamText({ ...(params as Parameters<typeof streamText>[0]), onError: ({ error }) => { failure ??= error; } });
  const [text, reasoningText, finishReason, toolCalls, usage, reasoning] = await Promise.all([
    r.text, r.reasoningText, r.finishReason, r.toolCalls, r.usage, r.reasoning,
  ]).catch((error) => { throw failure ?? error; });
  if (failure) throw failure;
  return answer({ text, reasoningText, finishReason, toolCalls, usage, reasoning });
}

const CALL: Record<Client, (model: string, mode: Mode, task: Task) => Promise<Answer>> = {
  openai: viaOpenAI, responses: viaResponses, anthropic: viaAnthropic, gemini: viaGemini,
  "ai-openai": (...a) => viaAi("ai-openai", ...a), "ai-responses": (...a) => viaAi("ai-responses", ...a),
  "ai-anthropic": (...a) => viaAi("ai-anthropic", ...a), "ai-google": (...a) => viaAi("ai-google", ...a),
};
/** The stop reason each client's vocabulary uses for an ended turn and for a tool call. */
const STOP: Record<Client, Record<"text" | "tool", string>> = {
  openai: { text: "stop", tool: "tool_calls" },
  responses: { text: "completed", tool: "completed" },
  anthropic: { text: "end_turn", tool: "tool_use" },
  gemini: { text: "STOP", tool: "STOP" },
  "ai-openai": { text: "stop", tool: "tool-calls" },
  "ai-responses": { text: "stop", tool: "tool-calls" },
  "ai-anthropic": { text: "stop", tool: "tool-calls" },
  "ai-google": { text: "stop", tool: "tool-calls" },
};

/** The reasoning each client must show for the thinking task, by upstream (signatures only where byte-exact is promised). */
function expectReasoning(client: Client, up: Upstream, answer: Answer): void {
  if (client === "ai-openai") return; // by design: see BY_DESIGN
  expect(answer.reasoning?.text).toBe(REASONING);
  if (client === "anthropic" && up === "anthropic") expect(answer.reasoning?.signature).toBe(SIG_ANTHROPIC);
  if (client === "gemini" && up === "gemini") expect(answer.reasoning?.signature).toBe(SIG_GEMINI);
  if (client === "ai-anthropic" && up === "anthropic") expect(answer.reasoning?.signature).toBe(SIG_ANTHROPIC);
  if (client === "ai-google" && up === "gemini") expect(answer.reasoning?.signature).toBe(SIG_GEMINI);
}

/** The image echo a client's request earns: the ai SDK's google provider sends the bytes alone. */
const expectedText = (client: Client, task: Exclude<Task, "tool">) =>
  task === "image" && client === "ai-google" ? IMAGE_ECHO.replace(`, url ${IMAGE_URL}`, "") : EXPECTED_TEXT[task];

describe.each(CLIENTS)("%s SDK", (client) => {
  describe.each(["openai", "anthropic", "gemini"] as Upstream[])("→ %s upstream", (up) => {
    for (const mode of ["json", "stream"] as Mode[]) {
      for (const task of TASKS) {
        test(`${mode} ${task}`, async () => {
          const cell = `${client}→${up} ${mode}/${task}`;
          let ok = false;
          try {
            const answer = await CALL[client](MODELS[up], mode, task);
            if (task === "tool") {
              expect(answer.tool?.name).toBe(TOOL.name);
              expect(answer.tool!.args).toBe(TOOL_ARGS);
            } else expect(answer.text).toBe(expectedText(client, task));
            if (task === "json") expect(JSON.parse(answer.text)).toEqual({ city: "Paris", temp: 21.5 });
            if (task === "thinking") expectReasoning(client, up, answer);
            expect(answer.stop).toBe(STOP[client][task === "tool" ? "tool" : "text"]);
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
