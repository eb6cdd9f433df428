import { TypeCompiler } from "@sinclair/typebox/compiler";
import type { GatewayError } from "../../errors.ts";
import type { ImagePart, Message, Part, Request, ResponseFormat, TextPart, ToolChoice, ToolDefinition } from "../../ir.ts";
import {
  RequestSchema, type ContentBlockBody, type MessageBody, type RequestBody, type ResultBlockBody,
} from "../../../schemas/anthropic.ts";
import { invalid, missing, schemaError } from "../schema-error.ts";

export { encodeRequest } from "./request-encode.ts";

// Client body → IR. Shapes are checked once by the schema; what a schema cannot say (which
// fields a block type needs) is checked here, naming the field.
//
// Blocks of types the IR has no part for (document, search_result, server_tool_use,
// web_search_tool_result, …) are left out of the IR rather than rejected: the same-dialect path
// forwards the client's own bytes, so they still reach an Anthropic upstream, and rejecting them
// would break clients (Claude Code with web search) that work against Anthropic directly. Their
// kinds are listed in the IR's `untranslated` (and `citations` on a block too), so nothing
// rewrites such a request. `cache_control` is carried (the IR's cacheControl): a rewritten
// request keeps the client's prompt-cache breakpoints.

const check = TypeCompiler.Compile(RequestSchema);

/**
 * Fields the IR carries; everything else at the top level goes to `extra` verbatim. That includes
 * `thinking` ({type: "enabled", budget_tokens}) and `top_k`: the IR has only reasoningEffort, and a
 * budget does not map to an effort without guessing, so the same-dialect path keeps the exact
 * config and other dialects get none (see request-encode.ts for the other direction).
 */
const KNOWN = new Set([
  "model", "messages", "max_tokens", "system", "tools", "tool_choice", "temperature", "top_p",
  "stop_sequences", "stream", "metadata",
]);

/**
 * Budget steps read back as an effort for another dialect's upstream (the inverse of
 * request-encode.ts's BUDGET, by steps as the Gemini codec reads thinkingBudget): ≤1024 minimal,
 * ≤2048 low, ≤8192 medium, more high. Without it a client that turned thinking on got none from
 * any other provider. `thinking` itself stays in `extra` for the same dialect, byte for byte.
 */
function effortOfBudget(budget: number): NonNullable<Request["reasoningEffort"]> {
  if (budget <= 1024) return "minimal";
  if (budget <= 2048) return "low";
  if (budget <= 8192) return "medium";
  return "high";
}

export function decodeRequest(body: unknown): Request | GatewayError {
  if (!check.Check(body)) {
    return schemaError(check, body, "The request body must be a JSON object with 'model', 'messages' and 'max_tokens'.");
  }
  const messages: Message[] = [];
  const untranslated = new Set<string>();
  for (const [i, wire] of body.messages.entries()) {
    const decoded = decodeMessage(wire, `messages[${i}]`, untranslated);
    if (!Array.isArray(decoded)) return decoded;
    messages.push({ role: wire.role, content: decoded });
  }
  const extra = extraOf(body);
  const tools = decodeTools(body, extra);
  if (!Array.isArray(tools)) return tools;
  const request: Request = {
    model: body.model, system: decodeSystem(body.system, untranslated), messages, tools,
    maxTokens: body.max_tokens, stream: body.stream ?? false, extra,
  };
  if (untranslated.size > 0) request.untranslated = [...untranslated].sort();
  if (body.temperature !== undefined) request.temperature = body.temperature;
  if (body.top_p !== undefined) request.topP = body.top_p;
  if (body.stop_sequences !== undefined) request.stop = body.stop_sequences;
  if (typeof body.metadata?.user_id === "string") request.user = body.metadata.user_id;
  if (body.thinking?.type === "enabled" && typeof body.thinking.budget_tokens === "number") {
    request.reasoningEffort = effortOfBudget(body.thinking.budget_tokens);
  }
  const format = decodeOutputFormat(body, extra);
  if (format && "kind" in format) return format;
  if (format) request.responseFormat = format;
  if (body.tool_choice !== undefined) {
    const { type, name, disable_parallel_tool_use: serial } = body.tool_choice;
    const choice = decodeToolChoice(type, name);
    if ("kind" in choice) return choice;
    request.toolChoice = choice;
    if (serial !== undefined) request.parallelToolCalls = !serial;
  }
  return request;
}

/**
 * Structured outputs (`output_config.format`, `{type: "json_schema", schema}`) are the IR's
 * json-schema format, named "response" (Anthropic has no name). The rest of output_config (effort)
 * stays in `extra` for the same dialect, where request-encode.ts merges the format back in.
 */
function decodeOutputFormat(body: RequestBody, extra: Record<string, unknown>): ResponseFormat | GatewayError | undefined {
  const config = (body as Record<string, unknown>).output_config;
  if (typeof config !== "object" || config === null || Array.isArray(config)) return undefined;
  const { format, ...rest } = config as Record<string, unknown>;
  if (format == null) return undefined;
  if (typeof format !== "object" || Array.isArray(format)) return invalid("output_config.format", "Invalid value for 'output_config.format': expected an object.");
  const { type, schema } = format as Record<string, unknown>;
  if (type !== "json_schema") return invalid("output_config.format.type", `Invalid value for 'output_config.format.type': expected "json_schema", but got ${JSON.stringify(type)} instead.`);
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) return missing("output_config.format.schema");
  if (Object.keys(rest).length > 0) extra.output_config = rest;
  else delete extra.output_config;
  return { type: "json-schema", name: "response", schema: schema as Record<string, unknown> };
}

function extraOf(body: RequestBody): Record<string, unknown> {
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) if (!KNOWN.has(key)) extra[key] = value;
  return extra;
}

function decodeSystem(system: RequestBody["system"], untranslated: Set<string>): TextPart[] {
  if (system === undefined) return [];
  if (typeof system === "string") return system === "" ? [] : [text(system)];
  return system.map((block) => {
    noteCitations(block, untranslated);
    return marked(text(block.text), block);
  });
}

/** Citations on a block are not carried by the IR: noted in `untranslated`. */
function noteCitations(block: unknown, untranslated: Set<string>): void {
  if ((block as { citations?: unknown }).citations != null) untranslated.add("citations");
}

/** `part` with the block's `cache_control`, when it has one. */
function marked<P extends { cacheControl?: Record<string, unknown> }>(part: P, block: unknown): P {
  const mark = (block as { cache_control?: unknown }).cache_control;
  if (typeof mark === "object" && mark !== null && !Array.isArray(mark)) part.cacheControl = mark as Record<string, unknown>;
  return part;
}

/** A message's content: a string is one text block. What the IR leaves out is noted in `untranslated`, by kind. */
function decodeMessage(wire: MessageBody, at: string, untranslated: Set<string>): Part[] | GatewayError {
  if (typeof wire.content === "string") return [text(wire.content)];
  const parts: Part[] = [];
  for (const [j, block] of wire.content.entries()) {
    noteCitations(block, untranslated);
    const part = decodeBlock(block, `${at}.content[${j}]`);
    if (part === undefined) {
      untranslated.add(block.type);
      continue;
    }
    if ("kind" in part) return part;
    parts.push(part.type === "reasoning" ? part : marked(part, block));
  }
  return parts;
}

/** One block as an IR part; undefined for block types the IR does not carry (see above). */
function decodeBlock(block: ContentBlockBody, at: string): Part | GatewayError | undefined {
  switch (block.type) {
    case "text":
      return block.text === undefined ? missing(`${at}.text`) : text(block.text);
    case "image":
      return decodeImage(block, at);
    case "tool_use":
      if (block.id === undefined) return missing(`${at}.id`);
      if (block.name === undefined) return missing(`${at}.name`);
      if (block.input === undefined) return missing(`${at}.input`);
      // The IR keeps arguments as JSON text; a request's input is an object, so it is serialised once here.
      return { type: "tool-call", id: block.id, name: block.name, arguments: JSON.stringify(block.input) };
    case "tool_result":
      return decodeToolResult(block, at);
    case "thinking":
      if (block.thinking === undefined) return missing(`${at}.thinking`);
      // The signature is Anthropic's proof the thinking is its own: kept byte for byte.
      return block.signature ? { type: "reasoning", text: block.thinking, signature: block.signature } : { type: "reasoning", text: block.thinking };
    case "redacted_thinking":
      if (block.data === undefined) return missing(`${at}.data`);
      return { type: "reasoning", text: "", redacted: block.data };
    default:
      return undefined;
  }
}

function decodeImage(block: ContentBlockBody | ResultBlockBody, at: string): ImagePart | GatewayError {
  const source = block.source;
  if (source === undefined) return missing(`${at}.source`);
  switch (source.type) {
    case "base64":
      if (source.media_type === undefined) return missing(`${at}.source.media_type`);
      if (source.data === undefined) return missing(`${at}.source.data`);
      return { type: "image", source: { kind: "base64", mediaType: source.media_type, data: source.data } };
    case "url":
      if (source.url === undefined) return missing(`${at}.source.url`);
      return { type: "image", source: { kind: "url", url: source.url } };
    default:
      return invalid(`${at}.source.type`, `Invalid value for '${at}.source.type': image sources of type "${source.type}" are not supported; use "base64" or "url".`);
  }
}

function decodeToolResult(block: ContentBlockBody, at: string): Part | GatewayError {
  if (block.tool_use_id === undefined) return missing(`${at}.tool_use_id`);
  const content: Array<TextPart | ImagePart> = [];
  if (typeof block.content === "string") content.push(text(block.content));
  else {
    for (const [k, inner] of (block.content ?? []).entries()) {
      const where = `${at}.content[${k}]`;
      if (inner.type === "text") {
        if (inner.text === undefined) return missing(`${where}.text`);
        content.push(marked(text(inner.text), inner));
      } else if (inner.type === "image") {
        const image = decodeImage(inner, where);
        if ("kind" in image) return image;
        content.push(marked(image, inner));
      } else {
        return invalid(`${where}.type`, `Invalid value for '${where}.type': tool results of type "${inner.type}" are not supported; use "text" or "image".`);
      }
    }
  }
  const part: Part = { type: "tool-result", toolCallId: block.tool_use_id, content };
  if (block.is_error != null) part.isError = block.is_error;
  return part;
}

/**
 * Client tools go to the IR. Server tools (a `type` other than "custom": web_search_…, bash_…)
 * run at Anthropic and mean nothing to another provider: they are kept in `extra.tools` for the
 * same dialect, where request-encode.ts sends them after the client tools.
 */
function decodeTools(body: RequestBody, extra: Record<string, unknown>): ToolDefinition[] | GatewayError {
  const tools: ToolDefinition[] = [];
  const server: unknown[] = [];
  for (const [i, tool] of (body.tools ?? []).entries()) {
    if (tool.type !== undefined && tool.type !== "custom") {
      server.push(tool);
      continue;
    }
    if (tool.input_schema === undefined) return missing(`tools[${i}].input_schema`);
    const definition: ToolDefinition = { name: tool.name, parameters: tool.input_schema };
    if (tool.description !== undefined) definition.description = tool.description;
    if (tool.strict !== undefined) definition.strict = tool.strict;
    tools.push(marked(definition, tool));
  }
  if (server.length > 0) extra.tools = server;
  return tools;
}

function decodeToolChoice(type: NonNullable<RequestBody["tool_choice"]>["type"], name: string | undefined): ToolChoice | GatewayError {
  switch (type) {
    case "auto": return { type: "auto" };
    case "none": return { type: "none" };
    case "any": return { type: "required" };
    case "tool": return name === undefined ? missing("tool_choice.name") : { type: "tool", name };
  }
}

const text = (value: string): TextPart => ({ type: "text", text: value });
