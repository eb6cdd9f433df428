import { TypeCompiler } from "@sinclair/typebox/compiler";
import type { GatewayError } from "../../errors.ts";
import type { ImagePart, Message, Request, TextPart, ToolDefinition, ToolResultPart } from "../../ir.ts";
import {
  GeminiRequestSchema, type GeminiContentBody, type GeminiPartBody, type GeminiRequestBody,
} from "../../../schemas/gemini.ts";
import { invalid, schemaError } from "../schema-error.ts";
import { decodeGenerationConfig, decodeToolChoice, encodeToolConfig, sameJson } from "./config.ts";
import { fromGeminiSchema } from "./json-schema.ts";
import { decodeMedia, decodeModelParts, syntheticId } from "./parts.ts";
import { camelCaseBody } from "./wire-case.ts";

export { encodeRequest } from "./request-encode.ts";

// Client body → IR.
//
// A Gemini body has no model: it travels in the URL (`models/{model}:generateContent`). The
// server route adds two top-level fields to the parsed body before calling decodeRequest:
// `model` (string, from the path) and `stream` (true for :streamGenerateContent). They are read
// here and are not Gemini's; encodeRequest leaves both out, since the executor builds the URL
// from ir.model and ir.stream.
//
// Function calls and results. Older Gemini versions send calls without an id; such a call gets
// `call_<n>` (n counts every call of the request, in order), which is stable across decodes of the
// same history. A functionResponse links to its call by `id` when it has one, else to the first
// call of that name still waiting for a result (preferring calls that came without an id). A
// response with no such call keeps its function name as its tool-call id (as OpenAI's legacy
// function messages do); an upstream of another dialect may then reject the orphan result,
// which is the client's history to fix.

const check = TypeCompiler.Compile(GeminiRequestSchema);

/** Fields the IR carries; everything else at the top level goes to `extra` verbatim. */
const KNOWN = new Set(["model", "stream", "contents", "systemInstruction", "tools", "toolConfig", "generationConfig"]);
/** Part kinds with no IR meaning: dropped rather than refused, so a same-dialect request still passes. */
const DROPPED = ["executableCode", "codeExecutionResult", "toolCall", "toolResponse"];
const EMPTY_PARAMETERS = { type: "object", properties: {} };

export function decodeRequest(raw: unknown): Request | GatewayError {
  const body = camelCaseBody(raw);
  if (!check.Check(body)) {
    return schemaError(check, body, "The request body must be a JSON object with 'contents'.");
  }
  const system = decodeSystem(body);
  if (!Array.isArray(system)) return system;
  const messages = decodeContents(body.contents);
  if (!Array.isArray(messages)) return messages;
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) if (!KNOWN.has(key)) extra[key] = value;
  const request: Request = { model: body.model, system, messages, tools: decodeTools(body, extra), stream: body.stream ?? false, extra };
  const untranslated = DROPPED.filter((kind) => body.contents.some((content) => (content.parts ?? []).some((part) => part != null && kind in part)));
  if (untranslated.length > 0) request.untranslated = untranslated.sort();
  // Gemini streams always report usage; the client expects it.
  if (request.stream) request.streamUsage = true;
  const choice = decodeToolChoice(body.toolConfig);
  if (choice) request.toolChoice = choice;
  if (body.toolConfig !== undefined && !sameJson(encodeToolConfig(choice, undefined), body.toolConfig)) extra.toolConfig = body.toolConfig;
  if (body.generationConfig) {
    const { options, rest } = decodeGenerationConfig(body.generationConfig);
    Object.assign(request, options);
    if (Object.keys(rest).length > 0) extra.generationConfig = rest;
  }
  return request;
}

function decodeSystem(body: GeminiRequestBody): TextPart[] | GatewayError {
  const out: TextPart[] = [];
  for (const [j, part] of (body.systemInstruction?.parts ?? []).entries()) {
    if (part.text === undefined) return invalid(`systemInstruction.parts[${j}]`, `Invalid part at 'systemInstruction.parts[${j}]': a system instruction takes text parts only.`);
    out.push({ type: "text", text: part.text });
  }
  return out;
}

function decodeContents(contents: GeminiContentBody[]): Message[] | GatewayError {
  const messages: Message[] = [];
  let calls = 0;
  const waiting: Array<{ id: string; name: string; wireId: boolean }> = []; // calls without a result yet
  const link = (id: string | undefined, name: string): string => {
    // An id-less response prefers an id-less call of its name: a call with an id may yet be answered by it.
    let at = waiting.findIndex((call) => (id !== undefined ? call.id === id : call.name === name && !call.wireId));
    if (at < 0 && id === undefined) at = waiting.findIndex((call) => call.name === name);
    const found = at >= 0 ? waiting.splice(at, 1)[0]!.id : undefined;
    return id ?? found ?? name;
  };

  for (const [i, content] of contents.entries()) {
    const at = `contents[${i}]`;
    if (content.role === "model") {
      const wrong = content.parts.findIndex((part) => part.functionResponse);
      if (wrong >= 0) return invalid(`${at}.parts[${wrong}].functionResponse`, `Invalid part at '${at}.parts[${wrong}]': function responses belong in a "user" turn, not a "model" one.`);
      const wireIds = new Set<string>();
      const parts = decodeModelParts(content.parts, (id) => {
        const n = calls++;
        if (id !== undefined) wireIds.add(id);
        return id ?? syntheticId(n);
      });
      for (const part of parts) if (part.type === "tool-call") waiting.push({ id: part.id, name: part.name, wireId: wireIds.has(part.id) });
      messages.push({ role: "assistant", content: parts });
      continue;
    }
    const results: ToolResultPart[] = [];
    const rest: Array<TextPart | ImagePart> = [];
    for (const [j, part] of content.parts.entries()) {
      const where = `${at}.parts[${j}]`;
      if (part.functionCall) return invalid(`${where}.functionCall`, `Invalid part at '${where}': function calls belong in a "model" turn.`);
      if (part.functionResponse) {
        const { id, name, response } = part.functionResponse;
        results.push(decodeResult(link(id, name), response ?? {}));
        continue;
      }
      const media = decodeMedia(part);
      if (media) rest.push(media);
      else if (part.text !== undefined) rest.push({ type: "text", text: part.text });
      else if (!DROPPED.some((key) => key in part)) return unknownPart(part, where);
    }
    if (results.length > 0) messages.push({ role: "tool", content: results });
    if (rest.length > 0 || results.length === 0) messages.push({ role: "user", content: rest });
  }
  return messages;
}

/**
 * A function's response is an object; the IR's result is text. `{"output": "…"}` (the Gemini docs'
 * convention for a plain result) is that text, `{"error": …}` is an error result, and any other
 * object is its JSON. request-encode.ts inverts exactly this.
 */
function decodeResult(toolCallId: string, response: Record<string, unknown>): ToolResultPart {
  const keys = Object.keys(response);
  const only = keys.length === 1 ? keys[0] : undefined;
  if (only === "error") {
    const error = response.error;
    return { type: "tool-result", toolCallId, content: [{ type: "text", text: typeof error === "string" ? error : JSON.stringify(error) }], isError: true };
  }
  const text = only === "output" && typeof response.output === "string" ? response.output : JSON.stringify(response);
  return { type: "tool-result", toolCallId, content: [{ type: "text", text }] };
}

/**
 * Function declarations become IR tools (Gemini Schema read as JSON Schema). Other tools
 * (googleSearch, codeExecution, …) have no IR meaning: kept in `extra.tools` for a Gemini upstream.
 */
function decodeTools(body: GeminiRequestBody, extra: Record<string, unknown>): ToolDefinition[] {
  const tools: ToolDefinition[] = [];
  const others: Array<Record<string, unknown>> = [];
  for (const tool of body.tools ?? []) {
    const { functionDeclarations, ...rest } = tool;
    for (const fn of functionDeclarations ?? []) {
      const parameters = fn.parameters ? fromGeminiSchema(fn.parameters) : fn.parametersJsonSchema ?? EMPTY_PARAMETERS;
      tools.push(fn.description !== undefined ? { name: fn.name, description: fn.description, parameters } : { name: fn.name, parameters });
    }
    if (Object.keys(rest).length > 0) others.push(rest);
  }
  if (others.length > 0) extra.tools = others;
  return tools;
}

function unknownPart(part: GeminiPartBody, at: string): GatewayError {
  const keys = Object.keys(part);
  const named = keys.length > 0 ? ` (it has ${keys.map((k) => `'${k}'`).join(", ")})` : "";
  return invalid(at, `Invalid part at '${at}': expected one of text, inlineData, fileData, functionCall or functionResponse${named}.`);
}
