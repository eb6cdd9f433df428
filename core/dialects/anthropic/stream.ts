import { TypeCompiler } from "@sinclair/typebox/compiler";
import { gatewayError, type GatewayError } from "../../errors.ts";
import type { StreamEvent } from "../../ir.ts";
import type { SseEvent, StreamDecoder } from "../codec.ts";
import { StreamEventSchema, type ContentBlockBody, type StreamEventBody, type UsageBody } from "../../../schemas/anthropic.ts";
import { decodeStreamError } from "./error.ts";
import { decodeStopReason, decodeUsage, nowSeconds } from "./response.ts";

export { streamEncoder } from "./stream-encode.ts";

// Anthropic message stream SSE → IR stream events. Each event's data carries its own `type`
// (the SSE `event:` line repeats it), so the data is what is read.

const check = TypeCompiler.Compile(StreamEventSchema);

type Delta = NonNullable<StreamEventBody["delta"]>;

export function streamDecoder(): StreamDecoder {
  let started = false;
  let closed = false; // after message_stop or an error, nothing more is read
  // message_start reports the prompt; message_delta the output (and, on newer servers, the
  // prompt again): the usage of the stream is message_start's, overwritten by what message_delta says.
  let usage: UsageBody = {};
  // Content block index → IR tool index: tool calls are numbered 0, 1, … among the blocks.
  const tools = new Map<number, number>();

  const start = (id = "", model = ""): StreamEvent[] => {
    started = true;
    return [{ type: "start", id, model, created: nowSeconds() }];
  };

  function blockStart(index: number, block: ContentBlockBody): StreamEvent[] {
    switch (block.type) {
      case "text":
        return block.text ? [{ type: "text-delta", text: block.text }] : [];
      case "tool_use": {
        const tool = tools.size;
        tools.set(index, tool);
        const out: StreamEvent[] = [{ type: "tool-call-start", index: tool, id: block.id ?? "", name: block.name ?? "" }];
        // Anthropic starts with `input: {}` and streams the JSON; a server that sends it whole is read too.
        if (block.input && Object.keys(block.input).length > 0) {
          out.push({ type: "tool-call-delta", index: tool, argumentsDelta: JSON.stringify(block.input) });
        }
        return out;
      }
      case "thinking": {
        const out: StreamEvent[] = [];
        if (block.thinking) out.push({ type: "reasoning-delta", text: block.thinking });
        if (block.signature) out.push({ type: "reasoning-delta", text: "", signature: block.signature });
        return out;
      }
      case "redacted_thinking":
        return [{ type: "reasoning-delta", text: "", redacted: block.data ?? "" }];
      default:
        return []; // server tool blocks: the IR has no part for them
    }
  }

  function blockDelta(index: number, delta: Delta): StreamEvent[] {
    switch (delta.type) {
      case "text_delta":
        return delta.text ? [{ type: "text-delta", text: delta.text }] : [];
      case "input_json_delta": {
        const tool = tools.get(index);
        // Fragments go on byte for byte; they may end anywhere, inside a string escape too.
        if (tool === undefined || !delta.partial_json) return [];
        return [{ type: "tool-call-delta", index: tool, argumentsDelta: delta.partial_json }];
      }
      case "thinking_delta":
        return delta.thinking ? [{ type: "reasoning-delta", text: delta.thinking }] : [];
      case "signature_delta":
        return delta.signature ? [{ type: "reasoning-delta", text: "", signature: delta.signature }] : [];
      default:
        return []; // citations_delta and deltas newer than this codec
    }
  }

  function messageDelta(body: StreamEventBody): StreamEvent[] {
    const out: StreamEvent[] = [];
    if (body.delta?.stop_reason) out.push({ type: "finish", finishReason: decodeStopReason(body.delta.stop_reason) });
    if (body.usage) {
      const merged: UsageBody = { ...usage };
      for (const [key, value] of Object.entries(body.usage)) if (value != null) merged[key as keyof UsageBody] = value;
      usage = merged;
      out.push({ type: "usage", usage: decodeUsage(usage) });
    }
    return out;
  }

  function read(body: StreamEventBody): StreamEvent[] {
    if (body.type === "message_start") {
      if (started) return [];
      const message = body.message ?? {};
      const out = start(message.id, message.model);
      if (message.usage) {
        usage = message.usage;
        // Sent now so a stream cut short still counts its prompt; message_delta's usage replaces it.
        out.push({ type: "usage", usage: decodeUsage(usage) });
      }
      return out;
    }
    // Some servers skip message_start; the IR stream always opens with a start.
    const out = started || body.type === "ping" ? [] : start();
    switch (body.type) {
      case "content_block_start":
        return body.content_block ? out.concat(blockStart(body.index ?? 0, body.content_block)) : out;
      case "content_block_delta":
        return body.delta ? out.concat(blockDelta(body.index ?? 0, body.delta)) : out;
      case "message_delta":
        return out.concat(messageDelta(body));
      case "message_stop":
        closed = true;
        return out;
      default:
        return out; // content_block_stop, ping, and events newer than this codec
    }
  }

  return {
    push(event: SseEvent): StreamEvent[] {
      if (closed) return [];
      const fail = (error: GatewayError): StreamEvent[] => {
        closed = true;
        return [{ type: "error", error }];
      };
      if (event.data.trim() === "") return [];
      let body: unknown;
      try {
        body = JSON.parse(event.data);
      } catch {
        return fail(gatewayError("upstream_invalid", `upstream sent an event that is not JSON: ${event.data.slice(0, 200)}`));
      }
      if (!check.Check(body)) {
        return fail(gatewayError("upstream_invalid", `upstream sent an event that is not an Anthropic stream event: ${event.data.slice(0, 200)}`));
      }
      if (body.type === "error") return fail(decodeStreamError(body.error));
      return read(body);
    },
    end(): StreamEvent[] {
      if (closed) return [];
      closed = true;
      // Without message_stop the stream was cut short, even after a stop reason.
      return [{ type: "error", error: gatewayError("upstream_invalid", "stream ended before it finished") }];
    },
  };
}
