import type {
  ImagePart, Message, Part, Request, ResponseFormat, TextPart, ToolChoice, ToolDefinition, ToolResultPart,
} from "../../ir.ts";

// IR → a /v1/responses body. Stateless: the whole conversation goes in `input`, and any
// `previous_response_id` or `store` the client sent comes back from `extra` as it was.

type Item = Record<string, unknown>;

export function encodeRequest(ir: Request): Record<string, unknown> {
  const body: Record<string, unknown> = { model: ir.model, input: ir.messages.flatMap(encodeMessage) };
  // One system prompt: the parts joined by a blank line (decoding makes one part of `instructions`).
  if (ir.system.length > 0) body.instructions = ir.system.map((p) => p.text).join("\n\n");
  const hosted = Array.isArray(ir.extra.tools) ? ir.extra.tools : [];
  if (ir.tools.length > 0 || hosted.length > 0) body.tools = [...ir.tools.map(encodeTool), ...hosted];
  if (ir.toolChoice) body.tool_choice = encodeToolChoice(ir.toolChoice);
  if (ir.parallelToolCalls !== undefined) body.parallel_tool_calls = ir.parallelToolCalls;
  if (ir.maxTokens !== undefined) body.max_output_tokens = ir.maxTokens;
  if (ir.temperature !== undefined) body.temperature = ir.temperature;
  if (ir.topP !== undefined) body.top_p = ir.topP;
  const text = isObject(ir.extra.text) ? { ...ir.extra.text } : {};
  if (ir.responseFormat) text.format = encodeFormat(ir.responseFormat);
  if (Object.keys(text).length > 0) body.text = text;
  const reasoning = isObject(ir.extra.reasoning) ? { ...ir.extra.reasoning } : {};
  if (ir.reasoningEffort !== undefined) reasoning.effort = ir.reasoningEffort;
  if (Object.keys(reasoning).length > 0) body.reasoning = reasoning;
  if (ir.stream) body.stream = true;
  if (ir.user !== undefined) body.user = ir.user;
  for (const [key, value] of Object.entries(ir.extra)) if (!(key in body) && key !== "tools") body[key] = value;
  return body;
}

function encodeMessage(message: Message): Item[] {
  switch (message.role) {
    case "user": {
      // Tool results inside a user turn (as other dialects put them) become items before it.
      const results = message.content.filter((p): p is ToolResultPart => p.type === "tool-result").map(encodeToolResult);
      const parts = message.content.filter((p): p is TextPart | ImagePart => p.type === "text" || p.type === "image");
      if (parts.length === 0 && results.length > 0) return results;
      return [...results, { type: "message", role: "user", content: parts.map(encodeInputPart) }];
    }
    case "assistant":
      return encodeAssistant(message.content);
    case "tool":
      return message.content.flatMap((p) => (p.type === "tool-result" ? [encodeToolResult(p)] : []));
  }
}

/** An assistant turn as the items the model made: reasoning, message, function calls, in order. */
function encodeAssistant(parts: Part[]): Item[] {
  const items: Item[] = [];
  let text = "";
  const flush = () => {
    if (text !== "") items.push({ type: "message", role: "assistant", content: [{ type: "output_text", text, annotations: [] }] });
    text = "";
  };
  for (const part of parts) {
    switch (part.type) {
      case "text":
        text += part.text;
        break;
      case "tool-call":
        flush();
        items.push({ type: "function_call", call_id: part.id, name: part.name, arguments: part.arguments });
        break;
      case "reasoning": {
        // Only encrypted reasoning means anything to the server; plain reasoning text (another
        // provider's, or a summary alone) cannot be sent back, so it is dropped.
        const encrypted = part.signature ?? part.redacted;
        if (encrypted === undefined) break;
        flush();
        items.push({
          type: "reasoning",
          summary: part.text === "" ? [] : [{ type: "summary_text", text: part.text }],
          encrypted_content: encrypted,
        });
        break;
      }
      case "image":
      case "tool-result":
        break; // an assistant turn has no place for them in this dialect
      default: {
        const unreachable: never = part;
        throw new Error(`unknown part ${JSON.stringify(unreachable)}`);
      }
    }
  }
  flush();
  return items;
}

function encodeInputPart(part: TextPart | ImagePart): Item {
  if (part.type === "text") return { type: "input_text", text: part.text };
  const url = part.source.kind === "url" ? part.source.url : `data:${part.source.mediaType};base64,${part.source.data}`;
  return part.detail ? { type: "input_image", image_url: url, detail: part.detail } : { type: "input_image", image_url: url };
}

/** Text only is a string output; with images, a list of input parts. There is no error flag. */
function encodeToolResult(part: ToolResultPart): Item {
  const textOnly = part.content.every((p) => p.type === "text");
  const output = textOnly ? part.content.map((p) => (p as TextPart).text).join("") : part.content.map(encodeInputPart);
  return { type: "function_call_output", call_id: part.toolCallId, output };
}

function encodeTool(tool: ToolDefinition): Record<string, unknown> {
  const wire: Record<string, unknown> = { type: "function", name: tool.name };
  if (tool.description !== undefined) wire.description = tool.description;
  wire.parameters = tool.parameters;
  if (tool.strict !== undefined) wire.strict = tool.strict;
  return wire;
}

function encodeToolChoice(choice: ToolChoice): unknown {
  return choice.type === "tool" ? { type: "function", name: choice.name } : choice.type;
}

function encodeFormat(format: ResponseFormat): Record<string, unknown> {
  switch (format.type) {
    case "text": return { type: "text" };
    case "json": return { type: "json_object" };
    case "json-schema": {
      const wire: Record<string, unknown> = { type: "json_schema", name: format.name, schema: format.schema };
      if (format.strict !== undefined) wire.strict = format.strict;
      return wire;
    }
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
