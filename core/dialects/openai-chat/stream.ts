import { TypeCompiler } from "@sinclair/typebox/compiler";
import { gatewayError, type GatewayError } from "../../errors.ts";
import type { StreamEvent, Usage } from "../../ir.ts";
import type { SseEvent, StreamDecoder, StreamEncoder, StreamEncoderOptions } from "../codec.ts";
import { ChatChunkSchema, type ChatChunkBody } from "../../../schemas/openai-chat.ts";
import { encodeStreamError, errorMessage } from "./error.ts";
import {
  completionId, decodeFinishReason, decodeUsage, encodeFinishReason, encodeUsage, nowSeconds,
} from "./response.ts";

// chat.completion.chunk SSE ⇄ IR stream events. Only choice 0 is read: the IR has one answer.

const check = TypeCompiler.Compile(ChatChunkSchema);

type ChunkDelta = NonNullable<NonNullable<ChatChunkBody["choices"]>[number]["delta"]>;
type WireToolCall = NonNullable<ChunkDelta["tool_calls"]>[number];

export function streamDecoder(): StreamDecoder {
  let started = false;
  let finished = false;
  let closed = false; // after [DONE] or an error, nothing more is read
  let errored = false;
  let sawToolCall = false;
  // Wire tool-call index → the call open there. Some servers (Ollama) reuse index 0 for every
  // call of a parallel batch and tell them apart only by id, so a new id opens a new IR index.
  const open = new Map<number, { index: number; id: string }>();
  let nextIndex = 0;

  function toolCall(wire: WireToolCall, position: number, out: StreamEvent[]): void {
    const wireIndex = wire.index ?? position;
    let call = open.get(wireIndex);
    if (!call || (wire.id && wire.id !== call.id)) {
      call = { index: nextIndex++, id: wire.id || `call_${wireIndex}` };
      open.set(wireIndex, call);
      sawToolCall = true;
      out.push({ type: "tool-call-start", index: call.index, id: call.id, name: wire.function?.name ?? "" });
    }
    const fragment = wire.function?.arguments;
    if (fragment) out.push({ type: "tool-call-delta", index: call.index, argumentsDelta: fragment });
  }

  function chunk(body: ChatChunkBody): StreamEvent[] {
    const out: StreamEvent[] = [];
    if (!started) {
      started = true;
      out.push({ type: "start", id: body.id ?? "", model: body.model ?? "", created: body.created ?? nowSeconds() });
    }
    const choice = body.choices?.find((c) => (c.index ?? 0) === 0);
    const delta = choice?.delta;
    if (delta) {
      // DeepSeek says reasoning_content; OpenRouter and vLLM say reasoning.
      const reasoning = delta.reasoning_content || delta.reasoning;
      if (reasoning) out.push({ type: "reasoning-delta", text: reasoning });
      if (delta.content) out.push({ type: "text-delta", text: delta.content });
      if (delta.refusal) out.push({ type: "text-delta", text: delta.refusal });
      (delta.tool_calls ?? []).forEach((call, position) => toolCall(call, position, out));
    }
    if (choice?.finish_reason && !finished) {
      finished = true;
      out.push({ type: "finish", finishReason: decodeFinishReason(choice.finish_reason, sawToolCall) });
    }
    // OpenAI sends usage in its own chunk (choices: []), DeepSeek on the finish chunk: both end up here.
    if (body.usage) out.push({ type: "usage", usage: decodeUsage(body.usage) });
    return out;
  }

  return {
    push(event: SseEvent): StreamEvent[] {
      if (closed) return [];
      const fail = (error: GatewayError): StreamEvent[] => {
        closed = errored = true;
        return [{ type: "error", error }];
      };
      const data = event.data.trim();
      if (data === "") return []; // an empty data line some servers send to keep the connection up
      if (data === "[DONE]") {
        closed = true;
        return [];
      }
      let body: unknown;
      try {
        body = JSON.parse(event.data);
      } catch {
        return fail(gatewayError("upstream_invalid", `upstream sent a chunk that is not JSON: ${event.data.slice(0, 200)}`));
      }
      if (typeof body === "object" && body !== null && "error" in body && body.error != null) {
        const code = (body.error as { code?: unknown } | null)?.code;
        const extra = typeof code === "string" ? { code } : {};
        return fail(gatewayError("upstream_error", errorMessage(body) ?? "upstream stream failed", extra));
      }
      if (!check.Check(body)) {
        const first = check.Errors(body).First();
        return fail(gatewayError("upstream_invalid", `upstream sent a chunk that is not a chat.completion.chunk: ${first?.message ?? "unreadable"}`));
      }
      return chunk(body);
    },
    end(): StreamEvent[] {
      if (finished || errored) return [];
      closed = errored = true;
      return [{ type: "error", error: gatewayError("upstream_invalid", "stream ended before it finished") }];
    },
  };
}

export function streamEncoder({ model, includeUsage }: StreamEncoderOptions): StreamEncoder {
  let id = "";
  let created = 0;
  let started = false;
  let usage: Usage | undefined;
  // IR indices may skip numbers (another dialect counts every content block); OpenAI clients
  // place tool calls by index into an array, so they are renumbered 0, 1, … in order of appearance.
  const wireIndex = new Map<number, number>();

  const sse = (body: Record<string, unknown>) => `data: ${JSON.stringify(body)}\n\n`;
  // With include_usage, OpenAI puts `usage: null` on every chunk but the usage chunk.
  const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) => sse({
    id, object: "chat.completion.chunk", created, model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...(includeUsage ? { usage: null } : {}),
  });

  function begin(startId: string, startCreated: number): string {
    started = true;
    id = completionId(startId);
    created = startCreated;
    return chunk({ role: "assistant", content: "", refusal: null });
  }

  function body(event: StreamEvent): string {
    switch (event.type) {
      case "start":
        return ""; // handled in encode
      case "text-delta":
        return chunk({ content: event.text });
      case "reasoning-delta":
        return chunk({ reasoning_content: event.text });
      case "tool-call-start": {
        const index = wireIndex.size;
        wireIndex.set(event.index, index);
        return chunk({ tool_calls: [{ index, id: event.id, type: "function", function: { name: event.name, arguments: "" } }] });
      }
      case "tool-call-delta":
        return chunk({ tool_calls: [{ index: wireIndex.get(event.index) ?? event.index, function: { arguments: event.argumentsDelta } }] });
      case "finish":
        return chunk({}, encodeFinishReason(event.finishReason));
      case "usage":
        // Held for end(): OpenAI sends one usage chunk, last, and some dialects report usage twice.
        usage = event.usage;
        return "";
      case "error":
        return encodeStreamError(event.error);
    }
  }

  return {
    encode(event: StreamEvent): string {
      if (event.type === "start") return started ? "" : begin(event.id, event.created);
      const needsRole = !started && event.type !== "error" && event.type !== "usage";
      return (needsRole ? begin("", nowSeconds()) : "") + body(event);
    },
    end(): string {
      const usageChunk = includeUsage && usage
        ? sse({ id, object: "chat.completion.chunk", created, model, choices: [], usage: encodeUsage(usage) })
        : "";
      return `${usageChunk}data: [DONE]\n\n`;
    },
  };
}
