import type { FinishReason, StreamEvent, Usage } from "../../ir.ts";
import type { StreamEncoder, StreamEncoderOptions } from "../codec.ts";
import { streamErrorData } from "./error.ts";
import {
  encodeStatus, encodeUsage, functionCallItem, itemId, messageItem, nowSeconds, reasoningItem, responseId,
} from "./response.ts";

// IR stream events → Responses API SSE, the sequence the official SDK's stream helper
// assembles: response.created and .in_progress, then per output item .added, its parts and
// deltas, their .done events and .done for the item, and last response.completed (or
// .incomplete) holding the whole response with usage. Every event has a running sequence_number.
//
// A message or reasoning item closes when anything else opens. Function calls stay open until a
// message or reasoning item opens or the stream finishes, so deltas of calls an upstream
// interleaves still find their item. Usage and the finish are held for the terminal event.

type Item =
  | { kind: "message"; id: string; index: number; text: string }
  | { kind: "reasoning"; id: string; index: number; text: string; part: boolean; encrypted?: string }
  | { kind: "call"; id: string; index: number; callId: string; name: string; args: string };

export function streamEncoder({ model }: StreamEncoderOptions): StreamEncoder {
  let id = "";
  let created = 0;
  let begun = false; // the IR start (or any event) was seen
  let started = false; // response.created was sent
  let done = false; // a terminal event was sent
  let sequence = 0;
  let usage: Usage | undefined;
  let finish: FinishReason | undefined;
  let open: Extract<Item, { kind: "message" | "reasoning" }> | undefined;
  const calls = new Map<number, Extract<Item, { kind: "call" }>>(); // IR tool index → open call
  const output: Array<Record<string, unknown>> = []; // finished items, by output index

  const sse = (type: string, data: Record<string, unknown>) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, ...data, sequence_number: sequence++ })}\n\n`;

  const snapshot = (status: string, extra: Record<string, unknown> = {}) => ({
    id, object: "response", created_at: created, status, error: null, incomplete_details: null, model,
    output: output.filter(Boolean), usage: null, ...extra,
  });

  function begin(): string {
    if (started) return "";
    started = true;
    id = responseId(id);
    if (!created) created = nowSeconds();
    const response = snapshot("in_progress");
    return sse("response.created", { response }) + sse("response.in_progress", { response });
  }

  function add(item: Record<string, unknown>, index: number): string {
    return sse("response.output_item.added", { output_index: index, item });
  }

  function finishItem(item: Record<string, unknown>, index: number): string {
    output[index] = item;
    return sse("response.output_item.done", { output_index: index, item });
  }

  function closeOpen(): string {
    const item = open;
    if (!item) return "";
    open = undefined;
    const at = { item_id: item.id, output_index: item.index };
    if (item.kind === "message") {
      const part = { type: "output_text", text: item.text, annotations: [] };
      return sse("response.output_text.done", { ...at, content_index: 0, text: item.text, logprobs: [] }) +
        sse("response.content_part.done", { ...at, content_index: 0, part }) +
        finishItem(messageItem(item.id, item.text, "completed"), item.index);
    }
    const summary = { type: "summary_text", text: item.text };
    const parts = item.part
      ? sse("response.reasoning_summary_text.done", { ...at, summary_index: 0, text: item.text }) +
        sse("response.reasoning_summary_part.done", { ...at, summary_index: 0, part: summary })
      : "";
    return parts + finishItem(reasoningItem(item.id, item.text, item.encrypted), item.index);
  }

  function closeCalls(): string {
    let out = "";
    for (const call of calls.values()) {
      const at = { item_id: call.id, output_index: call.index };
      out += sse("response.function_call_arguments.done", { ...at, name: call.name, arguments: call.args }) +
        finishItem(functionCallItem(call.id, call.callId, call.name, call.args, "completed"), call.index);
    }
    calls.clear();
    return out;
  }

  const nextIndex = () => output.length;

  function text(delta: string): string {
    if (delta === "") return "";
    let out = "";
    if (open?.kind !== "message") {
      out += closeOpen() + closeCalls();
      open = { kind: "message", id: itemId("msg"), index: nextIndex(), text: "" };
      output.length++; // reserve the index
      const at = { item_id: open.id, output_index: open.index };
      out += add({ id: open.id, type: "message", status: "in_progress", role: "assistant", content: [] }, open.index) +
        sse("response.content_part.added", { ...at, content_index: 0, part: { type: "output_text", text: "", annotations: [] } });
    }
    open.text += delta;
    return out + sse("response.output_text.delta", { item_id: open.id, output_index: open.index, content_index: 0, delta, logprobs: [] });
  }

  function reasoning(event: Extract<StreamEvent, { type: "reasoning-delta" }>): string {
    const encrypted = event.signature ?? event.redacted;
    if (event.text === "" && encrypted === undefined) return "";
    let out = "";
    // Encrypted reasoning finishes its item: reasoning after it is a new item.
    if (open?.kind !== "reasoning" || open.encrypted !== undefined) {
      out += closeOpen() + closeCalls();
      open = { kind: "reasoning", id: itemId("rs"), index: nextIndex(), text: "", part: false };
      output.length++;
      out += add({ id: open.id, type: "reasoning", summary: [] }, open.index);
    }
    const item = open;
    if (event.text !== "") {
      const at = { item_id: item.id, output_index: item.index, summary_index: 0 };
      if (!item.part) {
        item.part = true;
        out += sse("response.reasoning_summary_part.added", { ...at, part: { type: "summary_text", text: "" } });
      }
      item.text += event.text;
      out += sse("response.reasoning_summary_text.delta", { ...at, delta: event.text });
    }
    if (encrypted !== undefined) item.encrypted = encrypted;
    return out;
  }

  function body(event: Exclude<StreamEvent, { type: "start" | "usage" | "error" }>): string {
    switch (event.type) {
      case "text-delta":
        return text(event.text);
      case "reasoning-delta":
        return reasoning(event);
      case "tool-call-start": {
        const out = closeOpen();
        const call = { kind: "call" as const, id: itemId("fc"), index: nextIndex(), callId: event.id, name: event.name, args: "" };
        output.length++;
        calls.set(event.index, call);
        return out + add(functionCallItem(call.id, call.callId, call.name, "", "in_progress"), call.index);
      }
      case "tool-call-delta": {
        const call = calls.get(event.index);
        if (!call || event.argumentsDelta === "") return "";
        call.args += event.argumentsDelta;
        return sse("response.function_call_arguments.delta", { item_id: call.id, output_index: call.index, delta: event.argumentsDelta });
      }
      case "finish":
        finish = event.finishReason;
        return closeOpen() + closeCalls();
    }
  }

  function last(): string {
    done = true;
    const out = closeOpen() + closeCalls();
    const status = encodeStatus(finish ?? "stop");
    const wireUsage = usage ? encodeUsage(usage) : null;
    if (status.status === "failed") {
      const error = { code: "server_error", message: "The model failed to generate a response." };
      return out + sse("response.failed", { response: snapshot("failed", { error, usage: wireUsage }) });
    }
    const type = status.status === "completed" ? "response.completed" : "response.incomplete";
    const details = status.reason ? { reason: status.reason } : null;
    return out + sse(type, { response: snapshot(status.status, { incomplete_details: details, usage: wireUsage }) });
  }

  return {
    encode(event: StreamEvent): string {
      if (done) return "";
      switch (event.type) {
        case "start":
          if (!begun) {
            id = event.id;
            created = event.created;
          }
          begun = true;
          return "";
        case "usage":
          usage = event.usage;
          begun = true;
          return "";
        case "error": {
          // The error event, then response.failed so a client waiting for a terminal event gets one.
          done = true;
          const head = begin();
          const failed = { code: streamErrorData(event.error, 0).code, message: event.error.message };
          const errorEvent = `event: error\ndata: ${JSON.stringify(streamErrorData(event.error, sequence++))}\n\n`;
          return head + errorEvent + sse("response.failed", { response: snapshot("failed", { error: failed, usage: usage ? encodeUsage(usage) : null }) });
        }
        default:
          begun = true;
          return begin() + body(event);
      }
    },
    end(): string {
      // An encoder that saw nothing writes nothing: the same-dialect path forwards the
      // upstream's own terminal event and asks end() only for what is left.
      if (done || !begun) return "";
      return begin() + last();
    },
  };
}
