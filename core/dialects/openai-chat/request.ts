import { TypeCompiler } from "@sinclair/typebox/compiler";
import { imageSource } from "../data-url.ts";
import type { GatewayError } from "../../errors.ts";
import type {
  ImagePart, Message, Part, Request, ResponseFormat, TextPart, ToolChoice, ToolDefinition,
} from "../../ir.ts";
import { MID_CONVERSATION_SYSTEM } from "../../ir.ts";
import {
  ChatRequestSchema, type ChatContentPartBody, type ChatMessageBody, type ChatRequestBody,
} from "../../../schemas/openai-chat.ts";

import { invalid, missing, schemaError } from "../schema-error.ts";

export { encodeRequest } from "./request-encode.ts";

// Client body → IR. Shapes are checked once by the schema; what a schema cannot say
// (which fields a role needs, which part types we carry) is checked here, naming the field.

const check = TypeCompiler.Compile(ChatRequestSchema);

/** Fields the IR carries; everything else at the top level goes to `extra` verbatim. */
const KNOWN = new Set([
  "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "response_format", "max_tokens",
  "temperature", "top_p", "stop", "seed", "reasoning_effort", "stream", "stream_options", "user",
]);
const EFFORTS = new Set(["minimal", "low", "medium", "high"]);

export function decodeRequest(body: unknown): Request | GatewayError {
  if (!check.Check(body)) {
    return schemaError(check, body, "The request body must be a JSON object with 'model' and 'messages'.");
  }
  const system: TextPart[] = [];
  const messages: Message[] = [];
  let midConversation = false;
  for (const [i, wire] of body.messages.entries()) {
    const decoded = decodeMessage(wire, `messages[${i}]`);
    if ("kind" in decoded) return decoded;
    if ("system" in decoded) {
      system.push(...decoded.system);
      if (messages.length > 0) midConversation = true;
    } else messages.push(decoded);
  }
  const tools = decodeTools(body);
  if (!Array.isArray(tools)) return tools;
  const request: Request = { model: body.model, system, messages, tools, stream: body.stream ?? false, extra: extraOf(body) };
  // Its place in the conversation is lost in the IR: a rewritten request would move it to the top.
  if (midConversation) request.untranslated = [MID_CONVERSATION_SYSTEM];
  return assignOptions(request, body);
}

function extraOf(body: ChatRequestBody): Record<string, unknown> {
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) if (!KNOWN.has(key)) extra[key] = value;
  // The IR keeps the limit once (maxTokens); the key stays in extra only to say which field name
  // the client used, because reasoning models reject `max_tokens` (see request-encode.ts).
  if (body.max_completion_tokens === null) delete extra.max_completion_tokens;
  if (typeof body.reasoning_effort === "string" && !EFFORTS.has(body.reasoning_effort)) {
    // Newer efforts ("none", "xhigh") have no IR value; kept for an upstream of this dialect.
    extra.reasoning_effort = body.reasoning_effort;
  }
  return extra;
}

function assignOptions(request: Request, body: ChatRequestBody): Request | GatewayError {
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (maxTokens != null) request.maxTokens = maxTokens;
  if (body.temperature != null) request.temperature = body.temperature;
  if (body.top_p != null) request.topP = body.top_p;
  if (body.stop != null) request.stop = typeof body.stop === "string" ? [body.stop] : body.stop;
  if (body.seed != null) request.seed = body.seed;
  if (body.reasoning_effort != null && EFFORTS.has(body.reasoning_effort)) {
    request.reasoningEffort = body.reasoning_effort as NonNullable<Request["reasoningEffort"]>;
  }
  if (body.parallel_tool_calls != null) request.parallelToolCalls = body.parallel_tool_calls;
  if (body.stream_options?.include_usage != null) request.streamUsage = body.stream_options.include_usage;
  if (body.user != null) request.user = body.user;
  if (body.tool_choice != null) {
    const choice = decodeToolChoice(body.tool_choice);
    if ("kind" in choice) return choice;
    request.toolChoice = choice;
  }
  if (body.response_format != null) {
    const format = decodeResponseFormat(body.response_format);
    if ("kind" in format) return format;
    request.responseFormat = format;
  }
  return request;
}

/**
 * System and developer messages are hoisted into `system` wherever they stand, in order: the IR
 * has one system prompt, and dropping a mid-conversation instruction would be worse than moving it.
 * One after the conversation began is noted (MID_CONVERSATION_SYSTEM): to an OpenAI upstream the
 * request then goes as the client wrote it, never rewritten with the instruction moved.
 */
function decodeMessage(wire: ChatMessageBody, at: string): Message | { system: TextPart[] } | GatewayError {
  switch (wire.role) {
    case "system":
    case "developer": {
      const text = textOnly(wire, at);
      return Array.isArray(text) ? { system: text } : text;
    }
    case "user": {
      if (wire.content == null) return missing(`${at}.content`);
      const content = typeof wire.content === "string" ? [text(wire.content)] : userParts(wire.content, `${at}.content`);
      return Array.isArray(content) ? withName({ role: "user", content }, wire) : content;
    }
    case "assistant":
      return assistant(wire, at);
    case "tool": {
      if (wire.tool_call_id === undefined) return missing(`${at}.tool_call_id`);
      const content = textOnly(wire, at);
      if (!Array.isArray(content)) return content;
      return { role: "tool", content: [{ type: "tool-result", toolCallId: wire.tool_call_id, content }] };
    }
    case "function": {
      // Legacy function results carry no call id; the function name links them to the call.
      if (wire.name === undefined) return missing(`${at}.name`);
      const content = textOnly(wire, at);
      if (!Array.isArray(content)) return content;
      return { role: "tool", content: [{ type: "tool-result", toolCallId: wire.name, content }] };
    }
  }
}

function assistant(wire: ChatMessageBody, at: string): Message | GatewayError {
  const content: Part[] = [];
  if (wire.reasoning_content) content.push({ type: "reasoning", text: wire.reasoning_content });
  if (typeof wire.content === "string") {
    if (wire.content !== "") content.push(text(wire.content));
  } else if (wire.content != null) {
    for (const [j, part] of wire.content.entries()) {
      const value = part.type === "refusal" ? part.refusal : part.type === "text" ? part.text : undefined;
      if (value === undefined) return unsupportedPart(part, `${at}.content[${j}]`);
      if (value !== "") content.push(text(value));
    }
  }
  for (const call of wire.tool_calls ?? []) {
    content.push({ type: "tool-call", id: call.id, name: call.function.name, arguments: call.function.arguments });
  }
  if (wire.function_call) {
    const { name, arguments: args } = wire.function_call;
    content.push({ type: "tool-call", id: name, name, arguments: args });
  }
  return withName({ role: "assistant", content }, wire);
}

function userParts(parts: ChatContentPartBody[], at: string): Array<TextPart | ImagePart> | GatewayError {
  const out: Array<TextPart | ImagePart> = [];
  for (const [j, part] of parts.entries()) {
    if (part.type === "text" && part.text !== undefined) out.push(text(part.text));
    else if (part.type === "image_url" && part.image_url) {
      const image: ImagePart = { type: "image", source: imageSource(part.image_url.url) };
      if (part.image_url.detail) image.detail = part.image_url.detail;
      out.push(image);
    } else return unsupportedPart(part, `${at}[${j}]`);
  }
  return out;
}

/** Content of system, developer, tool and function messages: a string or text parts only. */
function textOnly(wire: ChatMessageBody, at: string): TextPart[] | GatewayError {
  if (wire.content == null) return missing(`${at}.content`);
  if (typeof wire.content === "string") return [text(wire.content)];
  const out: TextPart[] = [];
  for (const [j, part] of wire.content.entries()) {
    if (part.type !== "text" || part.text === undefined) return unsupportedPart(part, `${at}.content[${j}]`);
    out.push(text(part.text));
  }
  return out;
}

function decodeTools(body: ChatRequestBody): ToolDefinition[] | GatewayError {
  const tools: ToolDefinition[] = [];
  for (const [i, tool] of (body.tools ?? []).entries()) {
    if (tool.type !== "function") return invalid(`tools[${i}].type`, `Invalid value for 'tools[${i}].type': only "function" tools are supported.`);
    if (!tool.function) return missing(`tools[${i}].function`);
    const { name, description, parameters, strict } = tool.function;
    // A function without parameters takes none; other dialects need the empty object schema spelled out.
    const definition: ToolDefinition = { name, parameters: parameters ?? { type: "object", properties: {} } };
    if (description !== undefined) definition.description = description;
    if (strict != null) definition.strict = strict;
    tools.push(definition);
  }
  return tools;
}

function decodeToolChoice(choice: NonNullable<ChatRequestBody["tool_choice"]>): ToolChoice | GatewayError {
  if (typeof choice === "string") return { type: choice };
  if (choice.type === "function" && choice.function) return { type: "tool", name: choice.function.name };
  return invalid("tool_choice", `Invalid value for 'tool_choice': expected "auto", "none", "required" or {"type": "function", "function": {"name": ...}}.`);
}

function decodeResponseFormat(format: NonNullable<ChatRequestBody["response_format"]>): ResponseFormat | GatewayError {
  switch (format.type) {
    case "text": return { type: "text" };
    case "json_object": return { type: "json" };
    case "json_schema": {
      if (!format.json_schema) return missing("response_format.json_schema");
      const { name, schema, strict } = format.json_schema;
      const out: ResponseFormat = { type: "json-schema", name, schema: schema ?? {} };
      if (strict != null) out.strict = strict;
      return out;
    }
  }
}

const text = (value: string): TextPart => ({ type: "text", text: value });

function withName(message: Message, wire: ChatMessageBody): Message {
  if (wire.name !== undefined) message.name = wire.name;
  return message;
}

function unsupportedPart(part: ChatContentPartBody, at: string): GatewayError {
  const known = ["text", "image_url", "refusal"].includes(part.type);
  return known
    ? invalid(at, `Invalid content part at '${at}': a "${part.type}" part is missing its '${part.type}' field or is not allowed here.`)
    : invalid(`${at}.type`, `Invalid value for '${at}.type': content parts of type "${part.type}" are not supported.`);
}
