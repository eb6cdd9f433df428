import { defaultBehaviour, type Behaviour, type Seen } from "./fake-upstream.ts";

// One fake upstream that answers in the dialect its path asks for: OpenAI chat completions,
// Anthropic messages (/v1/messages) or Gemini (models/{model}:generateContent). Each echoes the
// last user text, or calls the first tool offered when the text says "use the tool".
// The shapes follow the vendors' API references.

/** A 1×1 PNG, 68 bytes. */
export const PNG_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAAC0lEQVR42mNk+M8AAAMBAQDJ/pLvAAAAAElFTkSuQmCC";
export const IMAGE_URL = "https://example.com/cat.png";
/** The JSON answer a fake gives when it received the schema in its own dialect's mechanism. */
export const JSON_ANSWER = '{"city":"Paris","temp":21.5}';
export const REASONING = "pondering the matrix";
export const SIG_ANTHROPIC = "EqQBCkYIBxgCKkB+sig/anthropic==";
export const SIG_GEMINI = "Z2VtaW5pLXRob3VnaHQtc2ln";

/**
 * What the request's last user turn holds besides text, described in the echo ("saw image/png 68
 * bytes, url …"), each read from the vendor's own shape: an image in another shape is not seen.
 */
function imagesSeen(seen: Seen): string {
  const json = seen.json as Record<string, any>;
  const found: string[] = [];
  const bytes = (data: string) => Buffer.from(data, "base64").length;
  if (Array.isArray(json.contents)) {
    const user = [...json.contents].reverse().find((c: any) => c.role !== "model");
    for (const p of user?.parts ?? []) {
      if (p.inlineData) found.push(`saw ${p.inlineData.mimeType} ${bytes(p.inlineData.data)} bytes`);
      if (p.fileData) found.push(`url ${p.fileData.fileUri}`);
    }
  } else {
    const message = [...(json.messages ?? [])].reverse().find((m: any) => m.role === "user");
    for (const p of Array.isArray(message?.content) ? message.content : []) {
      if (p.type === "image" && p.source?.type === "base64") found.push(`saw ${p.source.media_type} ${bytes(p.source.data)} bytes`);
      if (p.type === "image" && p.source?.type === "url") found.push(`url ${p.source.url}`);
      if (p.type === "image_url") {
        const m = /^data:([^;]+);base64,(.*)$/.exec(p.image_url.url);
        found.push(m ? `saw ${m[1]} ${bytes(m[2]!)} bytes` : `url ${p.image_url.url}`);
      }
    }
  }
  return found.length > 0 ? ` [${found.join(", ")}]` : "";
}

/** Whether the request carries the matrix's JSON schema in this vendor's own structured-output mechanism. */
function schemaSeen(seen: Seen): boolean {
  const json = seen.json as Record<string, any>;
  const fits = (schema: any) => schema && schema.type?.toString().toLowerCase() === "object" &&
    Object.keys(schema.properties ?? {}).join(",") === "city,temp" && (schema.required ?? []).join(",") === "city,temp";
  if (json.contents) {
    const config = json.generationConfig ?? {};
    return config.responseMimeType === "application/json" && fits(config.responseJsonSchema ?? config.responseSchema);
  }
  if (json.output_config) return json.output_config.format?.type === "json_schema" && fits(json.output_config.format.schema);
  const format = json.response_format;
  return format?.type === "json_schema" && fits(format.json_schema?.schema);
}

/** The answer text: JSON when the schema was seen, else the echo (with what images were seen). */
function answerText(seen: Seen): string {
  const said = lastUserText(seen);
  if (/give json/.test(said) && schemaSeen(seen)) return JSON_ANSWER;
  return `echo: ${said}${imagesSeen(seen)}`;
}

const wantsThinking = (seen: Seen) => /think first/.test(lastUserText(seen));

export const TOOL_ARGS = '{"city":"Paris","units":"celsius","note":"a \\"quoted\\" café"}';

function lastUserText(seen: Seen): string {
  const json = seen.json as Record<string, any>;
  if (Array.isArray(json.contents)) {
    const user = [...json.contents].reverse().find((c: any) => c.role !== "model");
    return (user?.parts ?? []).map((p: any) => p.text ?? "").join("");
  }
  const message = [...(json.messages ?? [])].reverse().find((m: any) => m.role === "user");
  const content = message?.content;
  if (typeof content === "string") return content;
  return (content ?? []).map((p: any) => (p.type === "text" ? p.text : "")).join("");
}

function toolName(seen: Seen): string | undefined {
  const json = seen.json as Record<string, any>;
  const tool = json.tools?.[0];
  return tool?.name ?? tool?.function?.name ?? tool?.functionDeclarations?.[0]?.name;
}

const sse = (event: string | undefined, data: unknown) => `${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`;
const eventStream = (text: string) => new Response(text, { headers: { "content-type": "text/event-stream" } });

function anthropic(seen: Seen): Response {
  const json = seen.json as { model: string; stream?: boolean; thinking?: { type?: string } };
  const text = answerText(seen);
  const tool = /use the tool/.test(text) ? toolName(seen) : undefined;
  // Anthropic thinks only when asked (thinking: enabled), and signs its thinking.
  const think = wantsThinking(seen) && json.thinking?.type === "enabled";
  const usage = { input_tokens: 13, output_tokens: 9, cache_read_input_tokens: 4, cache_creation_input_tokens: 0 };
  if (!json.stream) {
    const content = tool
      ? [{ type: "tool_use", id: "toolu_01A", name: tool, input: JSON.parse(TOOL_ARGS) }]
      : [...(think ? [{ type: "thinking", thinking: REASONING, signature: SIG_ANTHROPIC }] : []), { type: "text", text }];
    return Response.json({
      id: "msg_01", type: "message", role: "assistant", model: json.model, content,
      stop_reason: tool ? "tool_use" : "end_turn", stop_sequence: null, usage,
    });
  }
  let out = sse("message_start", { type: "message_start", message: { id: "msg_01", type: "message", role: "assistant", content: [], model: json.model, stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } });
  if (tool) {
    out += sse("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "tool_use", id: "toolu_01A", name: tool, input: {} } });
    for (const piece of TOOL_ARGS.match(/.{1,7}/gs)!) out += sse("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "input_json_delta", partial_json: piece } });
  } else {
    let index = 0;
    if (think) {
      out += sse("content_block_start", { type: "content_block_start", index, content_block: { type: "thinking", thinking: "", signature: "" } });
      for (const piece of REASONING.match(/.{1,6}/gs)!) out += sse("content_block_delta", { type: "content_block_delta", index, delta: { type: "thinking_delta", thinking: piece } });
      out += sse("content_block_delta", { type: "content_block_delta", index, delta: { type: "signature_delta", signature: SIG_ANTHROPIC } });
      out += sse("content_block_stop", { type: "content_block_stop", index });
      index++;
    }
    out += sse("content_block_start", { type: "content_block_start", index, content_block: { type: "text", text: "" } });
    out += sse("ping", { type: "ping" });
    for (const piece of text.match(/.{1,4}/gs)!) out += sse("content_block_delta", { type: "content_block_delta", index, delta: { type: "text_delta", text: piece } });
    out += sse("content_block_stop", { type: "content_block_stop", index });
  }
  if (tool) out += sse("content_block_stop", { type: "content_block_stop", index: 0 });
  out += sse("message_delta", { type: "message_delta", delta: { stop_reason: tool ? "tool_use" : "end_turn", stop_sequence: null }, usage: { output_tokens: 9 } });
  out += sse("message_stop", { type: "message_stop" });
  return eventStream(out);
}

function gemini(seen: Seen): Response {
  const model = /models\/([^:]+):/.exec(seen.path)?.[1] ?? "gemini";
  const stream = seen.path.includes(":streamGenerateContent");
  const text = answerText(seen);
  const tool = /use the tool/.test(text) ? toolName(seen) : undefined;
  // Gemini returns thoughts only with includeThoughts; the signature rides on the thought part.
  const config = (seen.json as Record<string, any>).generationConfig ?? {};
  const thought = wantsThinking(seen) && config.thinkingConfig?.includeThoughts === true
    ? [{ text: REASONING, thought: true, thoughtSignature: SIG_GEMINI }] : [];
  const usageMetadata = { promptTokenCount: 13, candidatesTokenCount: 9, totalTokenCount: 22 };
  const response = (parts: unknown[], finish?: string, usage = false) => ({
    candidates: [{ content: { parts, role: "model" }, index: 0, ...(finish ? { finishReason: finish } : {}) }],
    ...(usage ? { usageMetadata } : {}),
    modelVersion: decodeURIComponent(model),
  });
  const parts = tool ? [{ functionCall: { name: tool, args: JSON.parse(TOOL_ARGS) } }] : [...thought, { text }];
  if (!stream) return Response.json(response(parts, "STOP", true));
  if (tool) return eventStream(`data: ${JSON.stringify(response(parts, "STOP", true))}\r\n\r\n`);
  const pieces = text.match(/.{1,4}/gs)!;
  let out = thought.length > 0 ? `data: ${JSON.stringify(response(thought))}\r\n\r\n` : "";
  pieces.forEach((piece, i) => {
    const last = i === pieces.length - 1;
    out += `data: ${JSON.stringify(response([{ text: piece }], last ? "STOP" : undefined, last))}\r\n\r\n`;
  });
  return eventStream(out);
}

function openai(seen: Seen, request: Request): Response | Promise<Response> {
  const text = answerText(seen);
  const tool = /use the tool/.test(text) ? toolName(seen) : undefined;
  const json = seen.json as { model: string; stream?: boolean };
  if (!tool && (text !== `echo: ${lastUserText(seen)}` || wantsThinking(seen))) return openaiAnswer(json, text, wantsThinking(seen));
  if (!tool) return defaultBehaviour(seen, request);
  const call = { id: "call_01", type: "function", function: { name: tool, arguments: TOOL_ARGS } };
  if (!json.stream) {
    return Response.json({
      id: "chatcmpl-1", object: "chat.completion", created: 1, model: json.model,
      choices: [{ index: 0, message: { role: "assistant", content: null, tool_calls: [call] }, finish_reason: "tool_calls" }],
      usage: { prompt_tokens: 13, completion_tokens: 9, total_tokens: 22 },
    });
  }
  const chunk = (delta: unknown, finish: string | null, extra = {}) => sse(undefined, { id: "chatcmpl-1", object: "chat.completion.chunk", created: 1, model: json.model, choices: [{ index: 0, delta, finish_reason: finish }], ...extra });
  let out = chunk({ role: "assistant", content: null, tool_calls: [{ index: 0, ...call, function: { name: tool, arguments: "" } }] }, null);
  for (const piece of TOOL_ARGS.match(/.{1,7}/gs)!) out += chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] }, null);
  out += chunk({}, "tool_calls");
  out += sse(undefined, { id: "chatcmpl-1", object: "chat.completion.chunk", created: 1, model: json.model, choices: [], usage: { prompt_tokens: 13, completion_tokens: 9, total_tokens: 22 } });
  return eventStream(`${out}data: [DONE]\n\n`);
}

/** A chat completion of `text`, after DeepSeek-style `reasoning_content` when `think` (OpenAI-compatible reasoners send it unasked). */
function openaiAnswer(json: { model: string; stream?: boolean }, text: string, think: boolean): Response {
  const usage = { prompt_tokens: 13, completion_tokens: 9, total_tokens: 22 };
  if (!json.stream) {
    return Response.json({
      id: "chatcmpl-1", object: "chat.completion", created: 1, model: json.model,
      choices: [{ index: 0, message: { role: "assistant", content: text, ...(think ? { reasoning_content: REASONING } : {}) }, finish_reason: "stop" }],
      usage,
    });
  }
  const chunk = (delta: unknown, finish: string | null) => sse(undefined, { id: "chatcmpl-1", object: "chat.completion.chunk", created: 1, model: json.model, choices: [{ index: 0, delta, finish_reason: finish }] });
  let out = chunk({ role: "assistant", content: "" }, null);
  if (think) for (const piece of REASONING.match(/.{1,6}/gs)!) out += chunk({ reasoning_content: piece }, null);
  for (const piece of text.match(/.{1,4}/gs)!) out += chunk({ content: piece }, null);
  out += chunk({}, "stop");
  out += sse(undefined, { id: "chatcmpl-1", object: "chat.completion.chunk", created: 1, model: json.model, choices: [], usage });
  return eventStream(`${out}data: [DONE]\n\n`);
}

/** Answers in whichever dialect the request's path speaks. */
export const vendorBehaviour: Behaviour = (seen, request) => {
  if (seen.path.endsWith("/v1/messages")) return anthropic(seen);
  if (/:(stream)?[gG]enerateContent$/.test(seen.path) || seen.path.includes(":generateContent") || seen.path.includes(":streamGenerateContent")) return gemini(seen);
  return openai(seen, request);
};
