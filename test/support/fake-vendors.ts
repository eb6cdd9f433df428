import { defaultBehaviour, type Behaviour, type Seen } from "./fake-upstream.ts";

// One fake upstream that answers in the dialect its path asks for: OpenAI chat completions,
// Anthropic messages (/v1/messages) or Gemini (models/{model}:generateContent). Each echoes the
// last user text, or calls the first tool offered when the text says "use the tool".
// The shapes follow the vendors' API references.

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
  const json = seen.json as { model: string; stream?: boolean };
  const text = `echo: ${lastUserText(seen)}`;
  const tool = /use the tool/.test(text) ? toolName(seen) : undefined;
  const usage = { input_tokens: 13, output_tokens: 9, cache_read_input_tokens: 4, cache_creation_input_tokens: 0 };
  if (!json.stream) {
    const content = tool
      ? [{ type: "tool_use", id: "toolu_01A", name: tool, input: JSON.parse(TOOL_ARGS) }]
      : [{ type: "text", text }];
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
    out += sse("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } });
    out += sse("ping", { type: "ping" });
    for (const piece of text.match(/.{1,4}/gs)!) out += sse("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: piece } });
  }
  out += sse("content_block_stop", { type: "content_block_stop", index: 0 });
  out += sse("message_delta", { type: "message_delta", delta: { stop_reason: tool ? "tool_use" : "end_turn", stop_sequence: null }, usage: { output_tokens: 9 } });
  out += sse("message_stop", { type: "message_stop" });
  return eventStream(out);
}

function gemini(seen: Seen): Response {
  const model = /models\/([^:]+):/.exec(seen.path)?.[1] ?? "gemini";
  const stream = seen.path.includes(":streamGenerateContent");
  const text = `echo: ${lastUserText(seen)}`;
  const tool = /use the tool/.test(text) ? toolName(seen) : undefined;
  const usageMetadata = { promptTokenCount: 13, candidatesTokenCount: 9, totalTokenCount: 22 };
  const response = (parts: unknown[], finish?: string, usage = false) => ({
    candidates: [{ content: { parts, role: "model" }, index: 0, ...(finish ? { finishReason: finish } : {}) }],
    ...(usage ? { usageMetadata } : {}),
    modelVersion: decodeURIComponent(model),
  });
  const parts = tool ? [{ functionCall: { name: tool, args: JSON.parse(TOOL_ARGS) } }] : [{ text }];
  if (!stream) return Response.json(response(parts, "STOP", true));
  if (tool) return eventStream(`data: ${JSON.stringify(response(parts, "STOP", true))}\r\n\r\n`);
  const pieces = text.match(/.{1,4}/gs)!;
  let out = "";
  pieces.forEach((piece, i) => {
    const last = i === pieces.length - 1;
    out += `data: ${JSON.stringify(response([{ text: piece }], last ? "STOP" : undefined, last))}\r\n\r\n`;
  });
  return eventStream(out);
}

function openai(seen: Seen, request: Request): Response | Promise<Response> {
  const text = `echo: ${lastUserText(seen)}`;
  const tool = /use the tool/.test(text) ? toolName(seen) : undefined;
  const json = seen.json as { model: string; stream?: boolean };
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

/** Answers in whichever dialect the request's path speaks. */
export const vendorBehaviour: Behaviour = (seen, request) => {
  if (seen.path.endsWith("/v1/messages")) return anthropic(seen);
  if (/:(stream)?[gG]enerateContent$/.test(seen.path) || seen.path.includes(":generateContent") || seen.path.includes(":streamGenerateContent")) return gemini(seen);
  return openai(seen, request);
};
