import type { Message, Request, ToolDefinition, ToolResultPart } from "../../ir.ts";
import { encodeGenerationConfig, encodeToolConfig } from "./config.ts";
import { toGeminiParameters } from "./json-schema.ts";
import { encodeMedia, encodeModelParts, sendableId } from "./parts.ts";

// IR → a generateContent body. The body only: no model and no stream flag, since the executor
// puts both in the URL (`models/{model}:streamGenerateContent?alt=sse`). Dropped on purpose, for
// lack of a Gemini field: parallelToolCalls, user, streamUsage (Gemini streams always carry
// usage), images inside tool results, and a tool result's name when no call in the request
// carries its id (see toolName).

type Content = { role: "user" | "model"; parts: Array<Record<string, unknown>> };

export function encodeRequest(ir: Request): Record<string, unknown> {
  const body: Record<string, unknown> = { contents: encodeContents(ir.messages) };
  if (ir.system.length > 0) body.systemInstruction = { parts: ir.system.map((part) => ({ text: part.text })) };
  const tools: unknown[] = ir.tools.length > 0 ? [{ functionDeclarations: ir.tools.map(encodeTool) }] : [];
  if (Array.isArray(ir.extra.tools)) tools.push(...ir.extra.tools);
  if (tools.length > 0) body.tools = tools;
  const toolConfig = encodeToolConfig(ir.toolChoice, ir.extra.toolConfig);
  if (toolConfig) body.toolConfig = toolConfig;
  const generationConfig = encodeGenerationConfig(ir, ir.extra.generationConfig);
  if (generationConfig) body.generationConfig = generationConfig;
  for (const [key, value] of Object.entries(ir.extra)) if (!(key in body) && !HANDLED.has(key)) body[key] = value;
  return body;
}

const HANDLED = new Set(["tools", "toolConfig", "generationConfig"]);

/**
 * Tool results of consecutive tool (or user) messages go out in one user content, which is how
 * Gemini wants the answers to a batch of parallel calls, followed there by any user text that
 * came right after them; other turns map one to one.
 */
function encodeContents(messages: Message[]): Content[] {
  const names = new Map<string, string>();
  for (const message of messages) {
    for (const part of message.content) if (part.type === "tool-call") names.set(part.id, part.name);
  }
  const out: Content[] = [];
  let results: Content | undefined; // the content the last tool results went into
  for (const message of messages) {
    if (message.role === "assistant") {
      out.push({ role: "model", parts: encodeModelParts(message.content, true) });
      results = undefined;
      continue;
    }
    const parts: Array<Record<string, unknown>> = [];
    const answers: Array<Record<string, unknown>> = [];
    for (const part of message.content) {
      switch (part.type) {
        case "text": parts.push({ text: part.text }); break;
        case "image": parts.push(encodeMedia(part)); break;
        case "tool-result": answers.push(encodeResult(part, names)); break;
        case "tool-call":
        case "reasoning":
          break; // not the user's to send
        default: {
          const unreachable: never = part;
          throw new Error(`unknown part ${JSON.stringify(unreachable)}`);
        }
      }
    }
    if (answers.length > 0) {
      if (results) results.parts.push(...answers);
      else out.push(results = { role: "user", parts: answers });
    }
    if (parts.length > 0 && results) results.parts.push(...parts); // the user's words after the answers, as Gemini clients send them
    else if (parts.length > 0 || answers.length === 0) out.push({ role: "user", parts });
    if (parts.length > 0) results = undefined;
  }
  return out;
}

/**
 * The inverse of decodeResult: text that is a JSON object is the response itself, other text is
 * `{"output": text}`, and an error result is `{"error": …}`. Gemini needs the function's name,
 * found from the call with the result's id; with no such call the id stands in for it (the id is
 * the name when it came from OpenAI's legacy function messages).
 */
function encodeResult(part: ToolResultPart, names: Map<string, string>): Record<string, unknown> {
  const text = part.content.flatMap((p) => (p.type === "text" ? [p.text] : [])).join("");
  const object = jsonObject(text);
  const response = part.isError ? { error: object ?? text } : object ?? { output: text };
  const fn: Record<string, unknown> = { name: names.get(part.toolCallId) ?? part.toolCallId, response };
  if (sendableId(part.toolCallId) && names.has(part.toolCallId)) fn.id = part.toolCallId;
  return { functionResponse: fn };
}

function jsonObject(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith("{")) return undefined;
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function encodeTool(tool: ToolDefinition): Record<string, unknown> {
  const fn: Record<string, unknown> = { name: tool.name };
  if (tool.description !== undefined) fn.description = tool.description;
  const parameters = toGeminiParameters(tool.parameters);
  if (parameters) fn.parameters = parameters;
  return fn;
}
