import { TypeCompiler } from "@sinclair/typebox/compiler";
import { gatewayError, kindOfUpstreamStatus, type GatewayError } from "../../errors.ts";
import type { StreamEvent, Usage } from "../../ir.ts";
import type { SseEvent, StreamDecoder, StreamEncoder, StreamEncoderOptions } from "../codec.ts";
import { GeminiErrorSchema, GeminiResponseSchema, type GeminiResponseBody } from "../../../schemas/gemini.ts";
import { encodeStreamError } from "./error.ts";
import { decodeModelParts, parseArguments, sendableId, syntheticId } from "./parts.ts";
import {
  blockedOrOther, createdOf, decodeFinishReason, decodeUsage, encodeFinishReason, encodeUsage, firstCandidate,
} from "./response.ts";

// `:streamGenerateContent?alt=sse` ⇄ IR stream events. Each event is `data: {…}` holding a partial
// GenerateContentResponse: new parts only, a usageMetadata that grows chunk by chunk, and the
// finishReason on the last. There is no terminator: the stream simply ends. Google frames events
// with CRLF (`data: …\r\n\r\n`); the encoder does the same, and every SSE parser reads both.

const check = TypeCompiler.Compile(GeminiResponseSchema);
const checkError = TypeCompiler.Compile(GeminiErrorSchema);

export function streamDecoder(): StreamDecoder {
  let started = false;
  let finished = false;
  let closed = false; // after an error, nothing more is read
  let calls = 0;
  let usage: Usage | undefined;

  function chunk(body: GeminiResponseBody): StreamEvent[] {
    const out: StreamEvent[] = [];
    if (!started) {
      started = true;
      out.push({ type: "start", id: body.responseId ?? "", model: body.modelVersion ?? "", created: createdOf(body) });
    }
    const candidate = firstCandidate(body);
    // A function call arrives whole, in one part: a start and one delta with all its arguments.
    let n = calls;
    for (const part of decodeModelParts(candidate?.content?.parts ?? [], (id) => id ?? syntheticId(n++))) {
      switch (part.type) {
        case "text": out.push({ type: "text-delta", text: part.text }); break;
        case "reasoning": out.push(part.signature !== undefined ? { type: "reasoning-delta", text: part.text, signature: part.signature } : { type: "reasoning-delta", text: part.text }); break;
        case "tool-call": {
          const index = calls++;
          out.push({ type: "tool-call-start", index, id: part.id, name: part.name, ...(part.signature !== undefined ? { signature: part.signature } : {}) });
          out.push({ type: "tool-call-delta", index, argumentsDelta: part.arguments });
          break;
        }
        case "image":
        case "tool-result":
          break; // no stream event carries them
      }
    }
    if (body.usageMetadata) usage = decodeUsage(body.usageMetadata);
    const reason = candidate?.finishReason;
    if ((reason !== undefined || (!candidate && body.promptFeedback?.blockReason)) && !finished) {
      finished = true;
      out.push({ type: "finish", finishReason: reason !== undefined ? decodeFinishReason(reason, calls > 0) : blockedOrOther(body) });
      if (usage) out.push({ type: "usage", usage });
    } else if (finished && body.usageMetadata && usage) {
      out.push({ type: "usage", usage }); // a late count after the finish: the newer one wins
    }
    return out;
  }

  return {
    push(event: SseEvent): StreamEvent[] {
      if (closed) return [];
      const fail = (error: GatewayError): StreamEvent[] => {
        closed = true;
        return [{ type: "error", error }];
      };
      const data = event.data.trim();
      if (data === "") return [];
      let body: unknown;
      try {
        body = JSON.parse(data);
      } catch {
        return fail(gatewayError("upstream_invalid", "upstream sent a stream event that is not JSON"));
      }
      if (checkError.Check(body)) {
        const { code, message } = body.error;
        return fail(gatewayError(code !== undefined ? kindOfUpstreamStatus(code) : "upstream_error", message ?? "upstream stream failed"));
      }
      if (!check.Check(body)) return fail(gatewayError("upstream_invalid", "upstream sent a stream event that is not a GenerateContentResponse"));
      return chunk(body);
    },
    end(): StreamEvent[] {
      if (closed || finished) return [];
      closed = true;
      return [{ type: "error", error: gatewayError("upstream_invalid", "stream ended before it finished") }];
    },
  };
}

/**
 * IR events → Gemini chunks. Gemini sends a function call whole, so a call's deltas are held until
 * it is complete (the next event that is not one of its deltas). The finish is held for the usage
 * that follows it, so both go out in the last chunk, as Gemini sends them; end() writes what is
 * still held. Usage is always sent: Gemini has no way to ask for it, so `includeUsage` is moot here.
 */
export function streamEncoder({ model }: StreamEncoderOptions): StreamEncoder {
  let id = "";
  let pending: string | undefined; // a signature for the next part (see parts.ts)
  let finish: string | undefined;
  let usage: Usage | undefined;
  let done = false;
  const held = new Map<number, { id: string; name: string; arguments: string; signature?: string }>();

  const sse = (candidate: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    const body: Record<string, unknown> = { candidates: [{ ...candidate, index: 0 }], ...extra, modelVersion: model };
    if (id !== "") body.responseId = id;
    return `data: ${JSON.stringify(body)}\r\n\r\n`;
  };
  const parts = (list: Array<Record<string, unknown>>) => sse({ content: { parts: list, role: "model" } });
  const signed = (wire: Record<string, unknown>, signature = pending) => {
    pending = undefined;
    return signature !== undefined ? { ...wire, thoughtSignature: signature } : wire;
  };

  function flushCalls(): string {
    if (held.size === 0) return "";
    const list = [...held.values()].map((call) => {
      const wire: Record<string, unknown> = { name: call.name, args: parseArguments(call.arguments) };
      if (sendableId(call.id)) wire.id = call.id;
      return signed({ functionCall: wire }, call.signature ?? pending);
    });
    held.clear();
    return parts(list);
  }

  function last(): string {
    if (done || finish === undefined) return "";
    done = true;
    const extra = usage ? { usageMetadata: encodeUsage(usage) } : {};
    return sse({ content: { parts: [signed({ text: "" })], role: "model" }, finishReason: finish }, extra);
  }

  function body(event: StreamEvent): string {
    switch (event.type) {
      case "start":
        id = event.id;
        return "";
      case "text-delta":
        return parts([signed({ text: event.text })]);
      case "reasoning-delta":
        if (event.text === "" && event.signature !== undefined) {
          const orphan = pending !== undefined ? parts([signed({ text: "" })]) : "";
          pending = event.signature;
          return orphan;
        }
        return parts([signed({ text: event.text, thought: true }, event.signature)]);
      case "tool-call-start":
        held.set(event.index, { id: event.id, name: event.name, arguments: "", ...(event.signature !== undefined ? { signature: event.signature } : {}) });
        return "";
      case "tool-call-delta": {
        const call = held.get(event.index);
        if (call) call.arguments += event.argumentsDelta;
        return "";
      }
      case "finish":
        finish = encodeFinishReason(event.finishReason);
        return usage ? last() : "";
      case "usage":
        usage = event.usage;
        return finish !== undefined ? last() : "";
      case "error":
        done = true;
        return encodeStreamError(event.error);
    }
  }

  return {
    encode(event: StreamEvent): string {
      const keepsCalls = event.type === "tool-call-start" || event.type === "tool-call-delta" || event.type === "start";
      return (keepsCalls ? "" : flushCalls()) + body(event);
    },
    end(): string {
      return flushCalls() + last();
    },
  };
}
