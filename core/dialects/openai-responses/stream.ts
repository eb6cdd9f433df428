import { TypeCompiler } from "@sinclair/typebox/compiler";
import { gatewayError, type GatewayError } from "../../errors.ts";
import type { StreamEvent } from "../../ir.ts";
import type { SseEvent, StreamDecoder } from "../codec.ts";
import { StreamEventSchema, type ItemBody, type StreamEventBody } from "../../../schemas/openai-responses.ts";
import { decodeStreamError } from "./error.ts";
import { decodeFinish, decodeUsage, nowSeconds } from "./response.ts";

export { streamEncoder } from "./stream-encode.ts";

// Responses API SSE → IR stream events. Each event's data carries its own `type` (the SSE
// `event:` line repeats it), so the data is what is read. The terminal events (completed,
// incomplete, failed) carry the whole response: the finish and the usage are read from it, not
// from state built along the way, because the same-dialect path decodes only those events.

const check = TypeCompiler.Compile(StreamEventSchema);

type Call = { index: number; streamed: boolean };

export function streamDecoder(): StreamDecoder {
  let started = false;
  let closed = false; // after a terminal event or an error, nothing more is read
  // output_index → the IR tool call there; calls are numbered 0, 1, … among the output items.
  const calls = new Map<number, Call>();
  // output_index → the summary index whose text is being read (a new one is set off by a blank line).
  const summaries = new Map<number, number>();

  function start(body: StreamEventBody): StreamEvent[] {
    if (started) return [];
    started = true;
    const response = body.response ?? {};
    return [{ type: "start", id: response.id ?? "", model: response.model ?? "", created: response.created_at ?? nowSeconds() }];
  }

  function openCall(outputIndex: number, item: ItemBody, out: StreamEvent[]): Call {
    const call = { index: calls.size, streamed: false };
    calls.set(outputIndex, call);
    out.push({ type: "tool-call-start", index: call.index, id: item.call_id ?? item.id ?? "", name: item.name ?? "" });
    return call;
  }

  /** Arguments sent whole (on the item, or only in .done) by a server that does not stream them. */
  function whole(call: Call, args: string | undefined, out: StreamEvent[]): void {
    if (call.streamed || !args) return;
    call.streamed = true;
    out.push({ type: "tool-call-delta", index: call.index, argumentsDelta: args });
  }

  function terminal(body: StreamEventBody): StreamEvent[] {
    closed = true;
    const response = body.response ?? {};
    const out: StreamEvent[] = [];
    const usage = response.usage ? [{ type: "usage", usage: decodeUsage(response.usage) } as const] : [];
    if (body.type === "response.failed") {
      const error = decodeStreamError(response.error);
      return [...usage, { type: "error", error }];
    }
    const hasToolCalls = calls.size > 0 || (response.output ?? []).some((item) => item.type === "function_call");
    const status = body.type === "response.completed" ? "completed" : "incomplete";
    out.push({ type: "finish", finishReason: decodeFinish(status, response.incomplete_details?.reason, hasToolCalls) });
    return [...out, ...usage];
  }

  function read(body: StreamEventBody): StreamEvent[] {
    const out = start(body);
    const outputIndex = body.output_index ?? 0;
    switch (body.type) {
      case "response.completed":
      case "response.incomplete":
      case "response.failed":
        return out.concat(terminal(body));
      case "response.output_text.delta":
      case "response.refusal.delta":
        if (body.delta) out.push({ type: "text-delta", text: body.delta });
        return out;
      case "response.reasoning_summary_text.delta": {
        if (!body.delta) return out;
        const index = body.summary_index ?? 0;
        const previous = summaries.get(outputIndex);
        summaries.set(outputIndex, index);
        const gap = previous !== undefined && previous !== index ? "\n\n" : "";
        out.push({ type: "reasoning-delta", text: gap + body.delta });
        return out;
      }
      case "response.reasoning_text.delta":
        if (body.delta) out.push({ type: "reasoning-delta", text: body.delta });
        return out;
      case "response.output_item.added":
        if (body.item?.type === "function_call" && !calls.has(outputIndex)) {
          whole(openCall(outputIndex, body.item, out), body.item.arguments, out);
        }
        return out;
      case "response.function_call_arguments.delta": {
        const call = calls.get(outputIndex);
        // Fragments go on byte for byte; they may end anywhere, inside a string escape too.
        if (call && body.delta) {
          call.streamed = true;
          out.push({ type: "tool-call-delta", index: call.index, argumentsDelta: body.delta });
        }
        return out;
      }
      case "response.function_call_arguments.done": {
        const call = calls.get(outputIndex);
        if (call) whole(call, body.arguments, out);
        return out;
      }
      case "response.output_item.done": {
        const item = body.item;
        if (item?.type === "function_call") whole(calls.get(outputIndex) ?? openCall(outputIndex, item, out), item.arguments, out);
        // The encrypted reasoning comes whole on the finished item: it signs what came before.
        if (item?.type === "reasoning" && item.encrypted_content) {
          out.push({ type: "reasoning-delta", text: "", signature: item.encrypted_content });
        }
        return out;
      }
      default:
        return out; // lifecycle, part and .done events, hosted tools, and events newer than this codec
    }
  }

  return {
    push(event: SseEvent): StreamEvent[] {
      if (closed) return [];
      const fail = (error: GatewayError): StreamEvent[] => {
        closed = true;
        return [{ type: "error", error }];
      };
      const data = event.data.trim();
      if (data === "" || data === "[DONE]") return [];
      let body: unknown;
      try {
        body = JSON.parse(event.data);
      } catch {
        return fail(gatewayError("upstream_invalid", `upstream sent an event that is not JSON: ${event.data.slice(0, 200)}`));
      }
      if (!check.Check(body)) {
        return fail(gatewayError("upstream_invalid", `upstream sent an event that is not a Responses stream event: ${event.data.slice(0, 200)}`));
      }
      if (body.type === "error") return fail(decodeStreamError(body, body.error));
      return read(body);
    },
    end(): StreamEvent[] {
      if (closed) return [];
      closed = true;
      return [{ type: "error", error: gatewayError("upstream_invalid", "stream ended before it finished") }];
    },
  };
}
