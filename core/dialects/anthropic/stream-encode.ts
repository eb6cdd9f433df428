import type { FinishReason, StreamEvent, Usage } from "../../ir.ts";
import type { StreamEncoder, StreamEncoderOptions } from "../codec.ts";
import { encodeStreamError } from "./error.ts";
import { encodeStopReason, encodeUsage, messageId } from "./response.ts";

// IR stream events → Anthropic message stream SSE. Anthropic streams are a sequence of content
// blocks, one open at a time: a block is opened when the kind of event changes (text, thinking,
// a tool call) and closed before the next one opens, with indices 0, 1, … as clients expect.
//
// Usage: Anthropic streams always carry it, so `includeUsage` is moot here. message_start goes
// out with the first event after the IR start that is not usage, so it carries the prompt's
// tokens when the upstream reported them first (an Anthropic upstream does); otherwise it says 0,
// and the full usage (prompt, cache, output) goes in message_delta, whose counts clients take as
// the totals. The finish is held until a usage event follows it or the stream ends, because
// message_delta carries both.

type Block = { kind: "text" | "thinking" | "tool"; index: number; signed?: boolean };

export function streamEncoder({ model }: StreamEncoderOptions): StreamEncoder {
  let id = "";
  let begun = false; // the IR start was seen
  let started = false; // message_start was sent
  let done = false; // the message was closed (message_delta sent) or an error was sent
  let stopOwed = false; // message_delta went out: message_stop is end()'s
  let usage: Usage | undefined;
  let finish: FinishReason | undefined;
  let open: Block | undefined;
  let blocks = 0;
  const toolBlocks = new Map<number, number>(); // IR tool index → block index

  const sse = (type: string, data: Record<string, unknown> = {}) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

  function messageStart(): string {
    if (started) return "";
    started = true;
    return sse("message_start", {
      message: {
        id: messageId(id), type: "message", role: "assistant", model, content: [],
        stop_reason: null, stop_sequence: null, usage: encodeUsage(usage ?? { inputTokens: 0, outputTokens: 0 }),
      },
    });
  }

  function close(): string {
    if (!open) return "";
    const index = open.index;
    open = undefined;
    return sse("content_block_stop", { index });
  }

  function openBlock(kind: Block["kind"], contentBlock: Record<string, unknown>): string {
    const text = close();
    open = { kind, index: blocks++ };
    return text + sse("content_block_start", { index: open.index, content_block: contentBlock });
  }

  const delta = (index: number, body: Record<string, unknown>) => sse("content_block_delta", { index, delta: body });

  function reasoning(event: Extract<StreamEvent, { type: "reasoning-delta" }>): string {
    if (event.redacted !== undefined) {
      return openBlock("thinking", { type: "redacted_thinking", data: event.redacted }) + close();
    }
    if (event.text === "" && !event.signature) return "";
    // A signature ends its thinking block: reasoning after it is a new block.
    let out = open?.kind === "thinking" && !open.signed ? "" : openBlock("thinking", { type: "thinking", thinking: "", signature: "" });
    const block = open!;
    if (event.text !== "") out += delta(block.index, { type: "thinking_delta", thinking: event.text });
    if (event.signature) {
      out += delta(block.index, { type: "signature_delta", signature: event.signature });
      block.signed = true;
    }
    return out;
  }

  /**
   * Close the message: message_delta now; message_stop, which clients take as the whole answer,
   * only from end(), which the gateway calls after the request's terminal event is on record.
   */
  function last(): string {
    done = true;
    stopOwed = true;
    const stop = sse("message_delta", {
      delta: { stop_reason: encodeStopReason(finish ?? "stop"), stop_sequence: null },
      usage: encodeUsage(usage ?? { inputTokens: 0, outputTokens: 0 }),
    });
    return close() + stop;
  }

  function body(event: Exclude<StreamEvent, { type: "start" | "usage" | "error" }>): string {
    switch (event.type) {
      case "text-delta":
        if (event.text === "") return "";
        return (open?.kind === "text" ? "" : openBlock("text", { type: "text", text: "" })) +
          delta(open!.index, { type: "text_delta", text: event.text });
      case "reasoning-delta":
        return reasoning(event);
      case "tool-call-start": {
        const text = openBlock("tool", { type: "tool_use", id: event.id, name: event.name, input: {} });
        toolBlocks.set(event.index, open!.index);
        return text;
      }
      case "tool-call-delta": {
        // A delta for a call whose block is closed (an upstream that interleaves parallel calls)
        // still goes to that call's index: clients of this dialect assemble input by index.
        const index = toolBlocks.get(event.index);
        if (index === undefined || event.argumentsDelta === "") return "";
        return delta(index, { type: "input_json_delta", partial_json: event.argumentsDelta });
      }
      case "finish":
        finish = event.finishReason;
        return close();
    }
  }

  return {
    encode(event: StreamEvent): string {
      if (done) return "";
      switch (event.type) {
        case "start":
          if (!begun) id = event.id;
          begun = true;
          return "";
        case "usage":
          usage = event.usage;
          // A finish waits for the usage after it (OpenAI and Gemini report usage last).
          return finish !== undefined && started ? last() : "";
        case "error":
          done = true;
          return encodeStreamError(event.error);
        default:
          return messageStart() + body(event);
      }
    },
    end(): string {
      if (stopOwed) {
        stopOwed = false;
        return sse("message_stop");
      }
      // An encoder that saw nothing writes nothing: the same-dialect path forwards the
      // upstream's own message_stop and asks end() only for what is left.
      if (done || (!begun && !started)) return "";
      const closing = messageStart() + last();
      stopOwed = false;
      return closing + sse("message_stop");
    },
  };
}
