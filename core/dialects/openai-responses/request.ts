import { TypeCompiler } from "@sinclair/typebox/compiler";
import { imageSource } from "../data-url.ts";
import type { GatewayError } from "../../errors.ts";
import type {
  ImagePart, Message, Part, Request, ResponseFormat, TextPart, ToolChoice, ToolDefinition,
} from "../../ir.ts";
import { MID_CONVERSATION_SYSTEM } from "../../ir.ts";
import { RequestSchema, type ContentPartBody, type ItemBody, type RequestBody } from "../../../schemas/openai-responses.ts";
import { invalid, missing, schemaError } from "../schema-error.ts";

export { encodeRequest } from "./request-encode.ts";

// Client body → IR. Shapes are checked once by the schema; what a schema cannot say (which
// fields an item type needs) is checked here, naming the field.
//
// Items and parts the IR has no place for (item_reference, hosted tool calls, input_file,
// images by file_id, reasoning with neither summary nor encrypted content) are left out of the
// IR rather than rejected: the same-dialect path forwards the client's own bytes, so they still
// reach a Responses upstream. Assistant-side items in a row (reasoning, message, function_call)
// make one IR assistant message, as the model produced them as one turn.

const check = TypeCompiler.Compile(RequestSchema);

/** Fields the IR carries; everything else at the top level goes to `extra` verbatim. */
const KNOWN = new Set([
  "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "max_output_tokens",
  "temperature", "top_p", "stream", "text", "reasoning", "user",
]);
const EFFORTS = new Set(["minimal", "low", "medium", "high"]);
const DETAILS = new Set(["auto", "low", "high"]);

export function decodeRequest(body: unknown): Request | GatewayError {
  if (!check.Check(body)) {
    return schemaError(check, body, "The request body must be a JSON object with 'model' and 'input'.");
  }
  if (body.input == null) return missing("input");
  const system: TextPart[] = body.instructions ? [text(body.instructions)] : [];
  const messages: Message[] = [];
  const notes = new Set<string>();
  if (typeof body.input === "string") messages.push({ role: "user", content: [text(body.input)] });
  else {
    for (const [i, item] of body.input.entries()) {
      const error = decodeItem(item, `input[${i}]`, system, messages, notes);
      if (error) return error;
    }
  }
  const extra = extraOf(body);
  const tools = decodeTools(body, extra);
  if (!Array.isArray(tools)) return tools;
  const request: Request = { model: body.model, system, messages, tools, stream: body.stream ?? false, extra };
  if (notes.size > 0) request.untranslated = [...notes];
  if (body.max_output_tokens != null) request.maxTokens = body.max_output_tokens;
  if (body.temperature != null) request.temperature = body.temperature;
  if (body.top_p != null) request.topP = body.top_p;
  if (body.parallel_tool_calls != null) request.parallelToolCalls = body.parallel_tool_calls;
  if (body.user != null) request.user = body.user;
  if (body.reasoning?.effort != null && EFFORTS.has(body.reasoning.effort)) {
    request.reasoningEffort = body.reasoning.effort as NonNullable<Request["reasoningEffort"]>;
  }
  if (body.tool_choice != null) {
    const choice = decodeToolChoice(body.tool_choice);
    if ("kind" in choice) return choice;
    if (choice.type !== "keep") request.toolChoice = choice;
    else extra.tool_choice = body.tool_choice;
  }
  if (body.text?.format !== undefined) {
    const format = decodeFormat(body.text.format);
    if ("kind" in format) return format;
    request.responseFormat = format;
  }
  return request;
}

/**
 * Unknown fields verbatim, plus what is left of `text` and `reasoning` once the IR took its part
 * (text.verbosity, reasoning.summary, an effort the IR has no value for).
 */
function extraOf(body: RequestBody): Record<string, unknown> {
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) if (!KNOWN.has(key)) extra[key] = value;
  const { format: _format, ...text } = body.text ?? {};
  if (Object.keys(text).length > 0) extra.text = text;
  const reasoning: Record<string, unknown> = { ...body.reasoning };
  if (typeof reasoning.effort === "string" && EFFORTS.has(reasoning.effort)) delete reasoning.effort;
  if (Object.keys(reasoning).length > 0) extra.reasoning = reasoning;
  return extra;
}

/** Adds one input item to the conversation; an error names the field at fault. */
function decodeItem(item: ItemBody, at: string, system: TextPart[], messages: Message[], notes: Set<string>): GatewayError | undefined {
  const assistant = (parts: Part[]) => {
    const last = messages.at(-1);
    if (last?.role === "assistant") last.content.push(...parts);
    else messages.push({ role: "assistant", content: parts });
  };
  switch (item.type ?? "message") {
    case "message": {
      if (item.role === undefined) return missing(`${at}.role`);
      if (item.content === undefined) return missing(`${at}.content`);
      const parts = decodeContent(item.content, `${at}.content`);
      if (!Array.isArray(parts)) return parts;
      switch (item.role) {
        case "system":
        case "developer": {
          // Hoisted into `system` wherever they stand: the IR has one system prompt. One after the
          // conversation began is noted, so a rewrite never moves it (see openai-chat's decoder).
          const bad = parts.findIndex((p) => p.type !== "text");
          if (bad >= 0) return invalid(`${at}.content[${bad}]`, `Invalid content at '${at}.content[${bad}]': ${item.role} messages take text only.`);
          system.push(...(parts as TextPart[]));
          if (messages.length > 0) notes.add(MID_CONVERSATION_SYSTEM);
          return undefined;
        }
        case "user":
          messages.push({ role: "user", content: parts });
          return undefined;
        case "assistant":
          assistant(parts.filter((p) => !(p.type === "text" && p.text === "")));
          return undefined;
        default:
          return invalid(`${at}.role`, `Invalid value for '${at}.role': expected "user", "assistant", "system" or "developer", but got ${JSON.stringify(item.role)} instead.`);
      }
    }
    case "function_call":
      if (item.call_id === undefined) return missing(`${at}.call_id`);
      if (item.name === undefined) return missing(`${at}.name`);
      if (item.arguments === undefined) return missing(`${at}.arguments`);
      assistant([{ type: "tool-call", id: item.call_id, name: item.name, arguments: item.arguments }]);
      return undefined;
    case "function_call_output": {
      if (item.call_id === undefined) return missing(`${at}.call_id`);
      if (item.output === undefined) return missing(`${at}.output`);
      const content = decodeContent(item.output, `${at}.output`);
      if (!Array.isArray(content)) return content;
      messages.push({ role: "tool", content: [{ type: "tool-result", toolCallId: item.call_id, content }] });
      return undefined;
    }
    case "reasoning": {
      const reasoning = decodeReasoning(item);
      if (reasoning) assistant([reasoning]);
      return undefined;
    }
    default:
      return undefined; // see above
  }
}

/**
 * A reasoning item as one IR part: its summaries joined by a blank line, and the encrypted
 * reasoning as the signature (it is OpenAI's, opaque, and sent back as is). Undefined for an
 * item that carries neither (it means something only to a server that stored it, by its id).
 */
export function decodeReasoning(item: ItemBody): Part | undefined {
  const summary = (item.summary ?? []).map((s) => s.text).join("\n\n");
  if (summary === "" && !item.encrypted_content) return undefined;
  return item.encrypted_content ? { type: "reasoning", text: summary, signature: item.encrypted_content } : { type: "reasoning", text: summary };
}

/** Message content or a function_call_output's output: a string is one text part. */
function decodeContent(content: string | ContentPartBody[], at: string): Array<TextPart | ImagePart> | GatewayError {
  if (typeof content === "string") return [text(content)];
  const out: Array<TextPart | ImagePart> = [];
  for (const [j, part] of content.entries()) {
    const where = `${at}[${j}]`;
    switch (part.type) {
      case "input_text":
      case "output_text":
        if (part.text === undefined) return missing(`${where}.text`);
        out.push(text(part.text));
        break;
      case "refusal":
        if (part.refusal === undefined) return missing(`${where}.refusal`);
        out.push(text(part.refusal));
        break;
      case "input_image": {
        if (part.image_url == null) {
          if (part.file_id != null) break; // a stored file: see above
          return missing(`${where}.image_url`);
        }
        const image: ImagePart = { type: "image", source: imageSource(part.image_url) };
        if (part.detail !== undefined && DETAILS.has(part.detail)) image.detail = part.detail as NonNullable<ImagePart["detail"]>;
        out.push(image);
        break;
      }
      default:
        break; // input_file, input_audio, …: see above
    }
  }
  return out;
}

/** Function tools go to the IR; hosted tools (web_search, file_search, mcp, …) to `extra.tools`. */
function decodeTools(body: RequestBody, extra: Record<string, unknown>): ToolDefinition[] | GatewayError {
  const tools: ToolDefinition[] = [];
  const hosted: unknown[] = [];
  for (const [i, tool] of (body.tools ?? []).entries()) {
    if (tool.type !== "function") {
      hosted.push(tool);
      continue;
    }
    if (tool.name === undefined) return missing(`tools[${i}].name`);
    const definition: ToolDefinition = { name: tool.name, parameters: tool.parameters ?? { type: "object", properties: {} } };
    if (tool.description != null) definition.description = tool.description;
    if (tool.strict != null) definition.strict = tool.strict;
    tools.push(definition);
  }
  if (hosted.length > 0) extra.tools = hosted;
  return tools;
}

/** `keep`: a choice the IR cannot say (a hosted tool, allowed_tools), kept in `extra`. */
function decodeToolChoice(choice: NonNullable<RequestBody["tool_choice"]>): ToolChoice | { type: "keep" } | GatewayError {
  if (typeof choice === "string") return { type: choice };
  if (choice.type !== "function") return { type: "keep" };
  return choice.name === undefined ? missing("tool_choice.name") : { type: "tool", name: choice.name };
}

function decodeFormat(format: NonNullable<NonNullable<RequestBody["text"]>["format"]>): ResponseFormat | GatewayError {
  switch (format.type) {
    case "text": return { type: "text" };
    case "json_object": return { type: "json" };
    case "json_schema": {
      if (format.name === undefined) return missing("text.format.name");
      if (format.schema === undefined) return missing("text.format.schema");
      const out: ResponseFormat = { type: "json-schema", name: format.name, schema: format.schema };
      if (format.strict != null) out.strict = format.strict;
      return out;
    }
    default:
      return invalid("text.format.type", `Invalid value for 'text.format.type': expected "text", "json_object" or "json_schema", but got ${JSON.stringify(format.type)} instead.`);
  }
}

const text = (value: string): TextPart => ({ type: "text", text: value });
