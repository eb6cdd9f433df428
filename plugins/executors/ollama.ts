import type { ExecutorPlugin, GatewayError, IR } from "../../core/plugins/hooks.ts";
import { checkOutbound } from "../../core/pipeline/outbound.ts";
import { ERROR_BODY_MAX, readCapped, upstreamError } from "../../core/pipeline/upstream.ts";
import { checkVectors, postJson } from "./embed-http.ts";

/**
 * Ollama's native API (`POST {base_url}/api/chat`, default base_url http://127.0.0.1:11434).
 * Answers one JSON object, or NDJSON lines when streaming; the last line has `done: true`,
 * `done_reason` and the token counts. Tool calls arrive whole, with arguments as an object.
 * (For Ollama's OpenAI-compatible /v1 use kind `openai` instead.)
 */

type OllamaToolCall = { function: { name: string; arguments: Record<string, unknown> } };
type OllamaMessage = {
  role: "system" | "user" | "assistant" | "tool";
  content: string;
  thinking?: string;
  images?: string[];
  tool_calls?: OllamaToolCall[];
  tool_name?: string;
};
type OllamaChunk = {
  model?: string;
  created_at?: string;
  message?: { role?: string; content?: string; thinking?: string; tool_calls?: OllamaToolCall[] };
  done?: boolean;
  done_reason?: string;
  prompt_eval_count?: number;
  eval_count?: number;
  error?: string;
};

const DEFAULT_BASE_URL = "http://127.0.0.1:11434";

class Refused extends Error {}

function images(parts: IR.Part[]): string[] {
  const out: string[] = [];
  for (const part of parts) {
    if (part.type !== "image") continue;
    if (part.source.kind !== "base64") {
      throw new Refused(`ollama: image URLs are not supported, send images inline as base64 data (got ${part.source.url.slice(0, 80)})`);
    }
    out.push(part.source.data);
  }
  return out;
}

const textOf = (parts: IR.Part[]) => parts.map((p) => (p.type === "text" ? p.text : "")).join("");

function toolArguments(call: IR.ToolCallPart): Record<string, unknown> {
  if (call.arguments.trim() === "") return {};
  try {
    const value = JSON.parse(call.arguments);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value;
  } catch {
    // refused below
  }
  throw new Refused(`ollama: the arguments of tool call ${call.id} are not a JSON object`);
}

/** IR → the body of POST /api/chat. Throws Refused for what Ollama cannot take. */
export function encodeRequest(ir: IR.Request): Record<string, unknown> {
  const messages: OllamaMessage[] = [];
  const system = ir.system.map((p) => p.text).join("\n");
  if (system) messages.push({ role: "system", content: system });
  const toolNames = new Map<string, string>();
  for (const message of ir.messages) {
    let parts = message.content;
    if (message.role === "tool" || parts.some((p) => p.type === "tool-result")) {
      for (const part of parts) {
        if (part.type !== "tool-result") continue;
        const imgs = images(part.content);
        const name = toolNames.get(part.toolCallId);
        messages.push({
          role: "tool", content: textOf(part.content),
          ...(name ? { tool_name: name } : {}), ...(imgs.length ? { images: imgs } : {}),
        });
      }
      parts = parts.filter((p) => p.type !== "tool-result"); // a user turn may mix results and text
      if (message.role === "tool" || parts.length === 0) continue;
    }
    const imgs = images(parts);
    const out: OllamaMessage = { role: message.role, content: textOf(parts), ...(imgs.length ? { images: imgs } : {}) };
    const calls = parts.filter((p): p is IR.ToolCallPart => p.type === "tool-call");
    if (calls.length) {
      out.tool_calls = calls.map((c) => ({ function: { name: c.name, arguments: toolArguments(c) } }));
      for (const c of calls) toolNames.set(c.id, c.name);
    }
    const thinking = parts.map((p) => (p.type === "reasoning" ? p.text : "")).join("");
    if (thinking && message.role === "assistant") out.thinking = thinking;
    messages.push(out);
  }
  const options: Record<string, unknown> = {};
  if (ir.temperature !== undefined) options.temperature = ir.temperature;
  if (ir.topP !== undefined) options.top_p = ir.topP;
  if (ir.maxTokens !== undefined) options.num_predict = ir.maxTokens;
  if (ir.stop?.length) options.stop = ir.stop;
  if (ir.seed !== undefined) options.seed = ir.seed;
  const body: Record<string, unknown> = { model: ir.model, messages, stream: ir.stream };
  const tools = ir.toolChoice?.type === "none" ? [] : ir.tools;
  if (tools.length) {
    body.tools = tools.map((t) => ({
      type: "function",
      function: { name: t.name, ...(t.description !== undefined ? { description: t.description } : {}), parameters: t.parameters },
    }));
  }
  if (Object.keys(options).length) body.options = options;
  if (ir.responseFormat?.type === "json") body.format = "json";
  else if (ir.responseFormat?.type === "json-schema") body.format = ir.responseFormat.schema;
  if (ir.reasoningEffort) body.think = true;
  return body;
}

function finishReason(chunk: OllamaChunk, sawTools: boolean): IR.FinishReason {
  if (sawTools) return "tool-calls";
  if (chunk.done_reason === "length") return "length";
  if (chunk.done_reason === "stop" || chunk.done_reason === undefined) return "stop";
  return "other";
}

function usage(chunk: OllamaChunk): IR.Usage | undefined {
  if (chunk.prompt_eval_count === undefined && chunk.eval_count === undefined) return undefined;
  return { inputTokens: chunk.prompt_eval_count ?? 0, outputTokens: chunk.eval_count ?? 0 };
}

const created = (chunk: OllamaChunk) => {
  const at = chunk.created_at ? Date.parse(chunk.created_at) : NaN;
  return Math.floor((Number.isNaN(at) ? Date.now() : at) / 1000);
};

/** Ollama's error body: {"error": "..."}. */
function ollamaMessage(parsed: unknown): string | undefined {
  const error = (parsed as { error?: unknown } | undefined)?.error;
  return typeof error === "string" ? error : undefined;
}

async function* events(body: ReadableStream<Uint8Array>, ir: IR.Request, id: string): AsyncGenerator<IR.StreamEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  let started = false;
  let tools = 0;
  const handle = function* (line: string): Generator<IR.StreamEvent> {
    let chunk: OllamaChunk;
    try {
      chunk = JSON.parse(line);
    } catch {
      yield { type: "error", error: { kind: "upstream_invalid", message: "ollama: a stream line is not valid JSON" } };
      return;
    }
    if (chunk.error !== undefined) {
      yield { type: "error", error: { kind: "upstream_error", message: `ollama: ${chunk.error}` } };
      return;
    }
    if (!started) {
      started = true;
      yield { type: "start", id, model: chunk.model ?? ir.model, created: created(chunk) };
    }
    const message = chunk.message;
    if (message?.thinking) yield { type: "reasoning-delta", text: message.thinking };
    if (message?.content) yield { type: "text-delta", text: message.content };
    for (const call of message?.tool_calls ?? []) {
      const index = tools++;
      yield { type: "tool-call-start", index, id: `call_${index}`, name: call.function.name };
      yield { type: "tool-call-delta", index, argumentsDelta: JSON.stringify(call.function.arguments ?? {}) };
    }
    if (chunk.done) {
      yield { type: "finish", finishReason: finishReason(chunk, tools > 0) };
      const u = usage(chunk);
      if (u) yield { type: "usage", usage: u };
    }
  };
  for await (const bytes of body) {
    buffer += decoder.decode(bytes, { stream: true });
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (line) yield* handle(line);
    }
  }
  buffer += decoder.decode();
  if (buffer.trim()) yield* handle(buffer.trim());
}

function decodeResponse(chunk: OllamaChunk, ir: IR.Request, id: string): IR.Response {
  const content: IR.Part[] = [];
  const message = chunk.message ?? {};
  if (message.thinking) content.push({ type: "reasoning", text: message.thinking });
  if (message.content) content.push({ type: "text", text: message.content });
  (message.tool_calls ?? []).forEach((call, index) => {
    content.push({ type: "tool-call", id: `call_${index}`, name: call.function.name, arguments: JSON.stringify(call.function.arguments ?? {}) });
  });
  const u = usage(chunk);
  return {
    id, model: chunk.model ?? ir.model, created: created(chunk), content,
    finishReason: finishReason(chunk, (message.tool_calls ?? []).length > 0),
    ...(u ? { usage: u } : {}),
  };
}

export default {
  hook: "executor",
  kind: "ollama",
  async execute(ir, { provider, signal, request }) {
    let body: Record<string, unknown>;
    try {
      body = encodeRequest(ir);
    } catch (error) {
      if (error instanceof Refused) return { kind: "invalid_request", message: error.message };
      throw error;
    }
    const url = `${(provider.base_url ?? DEFAULT_BASE_URL).replace(/\/+$/, "")}/api/chat`;
    const headers: Record<string, string> = { "content-type": "application/json", ...provider.headers };
    if (provider.api_key) headers.authorization = `Bearer ${provider.api_key}`;
    const refused = await checkOutbound(url);
    if (refused) return refused;
    let response: globalThis.Response;
    try {
      // Provider credentials must never follow a redirect to another host.
      response = await fetch(url, { method: "POST", signal, headers, body: JSON.stringify(body), redirect: "manual" });
    } catch (error) {
      if (signal.aborted) throw error;
      return { kind: "upstream_unreachable", message: `ollama: ${error instanceof Error ? error.message : String(error)}` };
    }
    const id = `ollama-${request}`;
    if (!response.ok) {
      // Read capped, scrubbed, re-worded, with Retry-After and context-length detection, like every upstream.
      const text = await readCapped(response, ERROR_BODY_MAX).catch(() => "");
      const error = upstreamError(response.status, response.headers, text, ollamaMessage, provider.api_key ? [provider.api_key] : []);
      return { ...error, message: `ollama: ${error.message}` };
    }
    if (ir.stream) {
      if (!response.body) return { kind: "upstream_invalid", message: "ollama: empty stream" };
      return events(response.body, ir, id);
    }
    let json: OllamaChunk;
    try {
      json = await response.json() as OllamaChunk;
    } catch {
      return { kind: "upstream_invalid", message: "ollama: the answer is not valid JSON" };
    }
    if (json.error !== undefined) return { kind: "upstream_error", message: `ollama: ${json.error}` };
    return decodeResponse(json, ir, id);
  },
  // Embeddings: POST /api/embed {model, input: string[]} → {embeddings, prompt_eval_count}.
  // `dimensions` is passed on; Ollama versions that do not know it ignore it.
  async embed(request, ctx) {
    const url = `${(ctx.provider.base_url ?? DEFAULT_BASE_URL).replace(/\/+$/, "")}/api/embed`;
    const body = { model: request.model, input: request.inputs, ...(request.dimensions !== undefined ? { dimensions: request.dimensions } : {}) };
    const result = await postJson("ollama", url, { authorization: ctx.provider.api_key ? `Bearer ${ctx.provider.api_key}` : undefined }, body, ctx);
    if (!result.ok) return result.error;
    const json = result.json as { model?: unknown; embeddings?: unknown; prompt_eval_count?: unknown; error?: unknown } | null;
    if (typeof json?.error === "string") return { kind: "upstream_error", message: `ollama: ${json.error}` };
    const vectors = checkVectors("ollama", json?.embeddings, request.inputs.length);
    if (!Array.isArray(vectors)) return vectors;
    const tokens = json?.prompt_eval_count;
    return {
      model: typeof json?.model === "string" ? json.model : request.model, vectors,
      ...(typeof tokens === "number" ? { usage: { inputTokens: tokens } } : {}),
    };
  },
} satisfies ExecutorPlugin;
