import { assistantMessage } from "./assistant.ts";
import type {
  ImagePart, Message, Request, ResponseFormat, TextPart, ToolChoice, ToolDefinition, ToolResultPart,
} from "../../ir.ts";

// IR → a body any OpenAI-compatible server accepts. Everything the IR cannot say in this dialect
// is dropped here, on purpose and per part type, rather than sent for the upstream to reject.

type WireMessage = Record<string, unknown>;

export function encodeRequest(ir: Request): Record<string, unknown> {
  const body: Record<string, unknown> = { model: ir.model, messages: encodeMessages(ir) };
  if (ir.tools.length > 0) body.tools = ir.tools.map(encodeTool);
  if (ir.toolChoice) body.tool_choice = encodeToolChoice(ir.toolChoice);
  if (ir.parallelToolCalls !== undefined) body.parallel_tool_calls = ir.parallelToolCalls;
  if (ir.responseFormat) body.response_format = encodeResponseFormat(ir.responseFormat);
  // Reasoning models reject `max_tokens`; a `max_completion_tokens` key in extra (the client
  // used it, or an executor set it) makes the limit go out under that name instead.
  if (ir.maxTokens !== undefined) {
    body["max_completion_tokens" in ir.extra ? "max_completion_tokens" : "max_tokens"] = ir.maxTokens;
  }
  if (ir.temperature !== undefined) body.temperature = ir.temperature;
  if (ir.topP !== undefined) body.top_p = ir.topP;
  if (ir.stop !== undefined) body.stop = ir.stop;
  if (ir.seed !== undefined) body.seed = ir.seed;
  if (ir.reasoningEffort !== undefined) body.reasoning_effort = ir.reasoningEffort;
  if (ir.stream) {
    body.stream = true;
    // Always asked for, so the gateway can meter the stream; the client sees the usage chunk
    // only if it asked itself (`streamUsage`, decided by the stream encoder).
    body.stream_options = { include_usage: true };
  }
  if (ir.user !== undefined) body.user = ir.user;
  for (const [key, value] of Object.entries(ir.extra)) {
    if (!(key in body) && key !== "max_completion_tokens") body[key] = value;
  }
  return body;
}

/** One system message per system part: the exact inverse of decoding, and OpenAI accepts several. */
function encodeMessages(ir: Request): WireMessage[] {
  const out: WireMessage[] = ir.system.map((part) => ({ role: "system", content: part.text }));
  for (const message of ir.messages) out.push(...encodeMessage(message));
  return out;
}

function encodeMessage(message: Message): WireMessage[] {
  switch (message.role) {
    case "user": return encodeUser(message);
    case "assistant": return [encodeAssistant(message)];
    case "tool": return message.content.flatMap((part) => (part.type === "tool-result" ? [encodeToolResult(part)] : []));
  }
}

/** Tool results inside a user turn (as other dialects put them) become tool messages before it. */
function encodeUser(message: Message): WireMessage[] {
  const results: WireMessage[] = [];
  const parts: Array<TextPart | ImagePart> = [];
  for (const part of message.content) {
    switch (part.type) {
      case "text":
      case "image":
        parts.push(part);
        break;
      case "tool-result":
        results.push(encodeToolResult(part));
        break;
      case "tool-call":
      case "reasoning":
        break; // a user turn cannot carry them in this dialect
      default: {
        const unreachable: never = part;
        throw new Error(`unknown part ${JSON.stringify(unreachable)}`);
      }
    }
  }
  if (parts.length === 0 && results.length > 0) return results;
  const content = parts.length === 1 && parts[0]!.type === "text" ? parts[0]!.text : parts.map(encodeUserPart);
  return [...results, withName({ role: "user", content: parts.length === 0 ? "" : content }, message)];
}

function encodeUserPart(part: TextPart | ImagePart): Record<string, unknown> {
  if (part.type === "text") return { type: "text", text: part.text };
  const url = part.source.kind === "url" ? part.source.url : `data:${part.source.mediaType};base64,${part.source.data}`;
  return { type: "image_url", image_url: part.detail ? { url, detail: part.detail } : { url } };
}

function encodeAssistant(message: Message): WireMessage {
  // Unsigned reasoning came from a server of this dialect (DeepSeek, vLLM) that wants it back.
  return withName(assistantMessage(message.content, false) as WireMessage, message);
}

/** Chat tool messages take text only: images are dropped, and there is no error flag to set. */
function encodeToolResult(part: ToolResultPart): WireMessage {
  const texts = part.content.filter((p): p is TextPart => p.type === "text");
  const content = texts.length === 1 ? texts[0]!.text : texts.length === 0 ? "" : texts.map((t) => ({ type: "text", text: t.text }));
  return { role: "tool", tool_call_id: part.toolCallId, content };
}

function encodeTool(tool: ToolDefinition): Record<string, unknown> {
  const fn: Record<string, unknown> = { name: tool.name };
  if (tool.description !== undefined) fn.description = tool.description;
  fn.parameters = tool.parameters;
  if (tool.strict !== undefined) fn.strict = tool.strict;
  return { type: "function", function: fn };
}

function encodeToolChoice(choice: ToolChoice): unknown {
  switch (choice.type) {
    case "auto":
    case "none":
    case "required":
      return choice.type;
    case "tool":
      return { type: "function", function: { name: choice.name } };
  }
}

function encodeResponseFormat(format: ResponseFormat): Record<string, unknown> {
  switch (format.type) {
    case "text": return { type: "text" };
    case "json": return { type: "json_object" };
    case "json-schema": {
      const schema: Record<string, unknown> = { name: format.name, schema: format.schema };
      if (format.strict !== undefined) schema.strict = format.strict;
      return { type: "json_schema", json_schema: schema };
    }
  }
}

function withName(wire: WireMessage, message: Message): WireMessage {
  if (message.name !== undefined) wire.name = message.name;
  return wire;
}
