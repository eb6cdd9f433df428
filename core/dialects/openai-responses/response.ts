import { TypeCompiler } from "@sinclair/typebox/compiler";
import { gatewayError, type GatewayError } from "../../errors.ts";
import type { FinishReason, Part, Response, Usage } from "../../ir.ts";
import { ResponseSchema, type ItemBody, type UsageBody } from "../../../schemas/openai-responses.ts";
import { paramOf } from "../schema-error.ts";
import { decodeReasoning } from "./request.ts";

// The `response` object ⇄ IR. Output items, finish, usage and ids are shared with the stream codec.

const check = TypeCompiler.Compile(ResponseSchema);

export function decodeResponse(body: unknown): Response | GatewayError {
  if (!check.Check(body)) {
    const first = check.Errors(body).First();
    const where = first && first.path !== "" ? ` at '${paramOf(first.path)}'` : "";
    return gatewayError("upstream_invalid", `upstream response is not a response object${where}: ${first?.message ?? "unreadable"}`);
  }
  const content = decodeOutput(body.output);
  const response: Response = {
    id: body.id ?? "",
    model: body.model ?? "",
    created: body.created_at ?? nowSeconds(),
    content,
    finishReason: decodeFinish(body.status, body.incomplete_details?.reason, content.some((p) => p.type === "tool-call")),
  };
  if (body.usage) response.usage = decodeUsage(body.usage);
  return response;
}

/** Output items as IR parts, in order; hosted tool calls (web_search_call, …) have none. */
export function decodeOutput(output: ItemBody[]): Part[] {
  const parts: Part[] = [];
  for (const item of output) {
    switch (item.type) {
      case "message":
        for (const part of typeof item.content === "string" ? [{ type: "output_text", text: item.content }] : item.content ?? []) {
          // A refusal is what the model said instead of an answer; the IR has no refusal part.
          const text = part.type === "output_text" ? part.text : part.type === "refusal" ? part.refusal : undefined;
          if (text) parts.push({ type: "text", text });
        }
        break;
      case "function_call":
        parts.push({ type: "tool-call", id: item.call_id ?? item.id ?? "", name: item.name ?? "", arguments: item.arguments ?? "" });
        break;
      case "reasoning": {
        const reasoning = decodeReasoning(item);
        if (reasoning) parts.push(reasoning);
        break;
      }
      default:
        break;
    }
  }
  return parts;
}

export function encodeResponse(ir: Response, model: string): Record<string, unknown> {
  const status = encodeStatus(ir.finishReason);
  return {
    id: responseId(ir.id),
    object: "response",
    created_at: ir.created,
    status: status.status,
    error: status.status === "failed" ? { code: "server_error", message: "The model failed to generate a response." } : null,
    incomplete_details: status.reason ? { reason: status.reason } : null,
    model,
    output: encodeOutput(ir.content),
    usage: ir.usage ? encodeUsage(ir.usage) : null,
  };
}

/** IR parts as output items: text in a row is one message, each reasoning part one reasoning item. */
export function encodeOutput(parts: Part[]): Array<Record<string, unknown>> {
  const items: Array<Record<string, unknown>> = [];
  let text: string | undefined;
  const flush = () => {
    if (text !== undefined) items.push(messageItem(itemId("msg"), text, "completed"));
    text = undefined;
  };
  for (const part of parts) {
    if (part.type === "text") text = (text ?? "") + part.text;
    else if (part.type === "tool-call") {
      flush();
      items.push(functionCallItem(itemId("fc"), part.id, part.name, part.arguments, "completed"));
    } else if (part.type === "reasoning") {
      flush();
      items.push(reasoningItem(itemId("rs"), part.text, part.signature ?? part.redacted));
    }
  }
  flush();
  return items;
}

export const messageItem = (id: string, text: string, status: string) => ({
  id, type: "message", status, role: "assistant", content: [{ type: "output_text", text, annotations: [] }],
});

export const functionCallItem = (id: string, callId: string, name: string, args: string, status: string) => ({
  id, type: "function_call", status, call_id: callId, name, arguments: args,
});

export function reasoningItem(id: string, text: string, encrypted: string | undefined): Record<string, unknown> {
  const item: Record<string, unknown> = { id, type: "reasoning", summary: text === "" ? [] : [{ type: "summary_text", text }] };
  if (encrypted !== undefined) item.encrypted_content = encrypted;
  return item;
}

/**
 * `completed` with function calls is a tool-calls finish (Responses has no such status);
 * `incomplete` says why in incomplete_details; `failed` is an error. Unknown ends are "other".
 */
export function decodeFinish(status: string | null | undefined, reason: string | null | undefined, hasToolCalls: boolean): FinishReason {
  switch (status) {
    case "completed": return hasToolCalls ? "tool-calls" : "stop";
    case "incomplete": return reason === "max_output_tokens" ? "length" : reason === "content_filter" ? "content-filter" : "other";
    case "failed": return "error";
    default: return "other";
  }
}

export function encodeStatus(reason: FinishReason): { status: string; reason?: string } {
  switch (reason) {
    case "length": return { status: "incomplete", reason: "max_output_tokens" };
    case "content-filter": return { status: "incomplete", reason: "content_filter" };
    case "error": return { status: "failed" };
    default: return { status: "completed" };
  }
}

/** input_tokens include the cached ones and output_tokens the reasoning ones, as the IR's do. */
export function decodeUsage(wire: UsageBody): Usage {
  const usage: Usage = { inputTokens: wire.input_tokens, outputTokens: wire.output_tokens };
  const cached = wire.input_tokens_details?.cached_tokens;
  if (cached != null) usage.cachedInputTokens = cached;
  const reasoning = wire.output_tokens_details?.reasoning_tokens;
  if (reasoning != null) usage.reasoningTokens = reasoning;
  return usage;
}

/** Both details objects are always there (as OpenAI sends them); cache writes have no field. */
export function encodeUsage(usage: Usage): Record<string, unknown> {
  return {
    input_tokens: usage.inputTokens,
    input_tokens_details: { cached_tokens: usage.cachedInputTokens ?? 0 },
    output_tokens: usage.outputTokens,
    output_tokens_details: { reasoning_tokens: usage.reasoningTokens ?? 0 },
    total_tokens: usage.inputTokens + usage.outputTokens,
  };
}

/** The upstream's id when it is a Responses one (so logs on both sides match), else a fresh one. */
export function responseId(id: string): string {
  return id.startsWith("resp_") ? id : `resp_${hex()}`;
}

export const itemId = (prefix: string) => `${prefix}_${hex()}`;

const hex = () => crypto.randomUUID().replaceAll("-", "");

export const nowSeconds = () => Math.floor(Date.now() / 1000);
