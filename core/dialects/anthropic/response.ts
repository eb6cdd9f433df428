import { TypeCompiler } from "@sinclair/typebox/compiler";
import { gatewayError, type GatewayError } from "../../errors.ts";
import type { FinishReason, Part, Response, Usage } from "../../ir.ts";
import { ResponseSchema, type ContentBlockBody, type UsageBody } from "../../../schemas/anthropic.ts";
import { paramOf } from "../schema-error.ts";

// Anthropic message ⇄ IR. Stop reasons, usage, ids and assistant blocks are shared with the
// request and stream codecs.

const check = TypeCompiler.Compile(ResponseSchema);

export function decodeResponse(body: unknown): Response | GatewayError {
  if (!check.Check(body)) {
    const first = check.Errors(body).First();
    const where = first && first.path !== "" ? ` at '${paramOf(first.path)}'` : "";
    return gatewayError("upstream_invalid", `upstream response is not an Anthropic message${where}: ${first?.message ?? "unreadable"}`);
  }
  const response: Response = {
    id: body.id ?? "",
    model: body.model ?? "",
    created: nowSeconds(), // Anthropic messages carry no timestamp
    content: body.content.flatMap(decodeAssistantBlock),
    finishReason: decodeStopReason(body.stop_reason),
  };
  if (body.usage) response.usage = decodeUsage(body.usage);
  return response;
}

export function encodeResponse(ir: Response, model: string): Record<string, unknown> {
  return {
    id: messageId(ir.id),
    type: "message",
    role: "assistant",
    model,
    content: assistantBlocks(ir.content, false),
    stop_reason: encodeStopReason(ir.finishReason),
    // The IR does not keep which stop sequence matched.
    stop_sequence: null,
    usage: encodeUsage(ir.usage ?? { inputTokens: 0, outputTokens: 0 }),
  };
}

/**
 * An assistant block as IR parts. Server-tool blocks (server_tool_use, web_search_tool_result, …)
 * are results the provider already acted on; the IR has no part for them, so they are left out.
 */
export function decodeAssistantBlock(block: ContentBlockBody): Part[] {
  switch (block.type) {
    case "text":
      return block.text ? [{ type: "text", text: block.text }] : [];
    case "tool_use":
      // The input is a parsed object on this wire; the IR keeps arguments as JSON text.
      return [{ type: "tool-call", id: block.id ?? "", name: block.name ?? "", arguments: JSON.stringify(block.input ?? {}) }];
    case "thinking":
      return [block.signature ? { type: "reasoning", text: block.thinking ?? "", signature: block.signature } : { type: "reasoning", text: block.thinking ?? "" }];
    case "redacted_thinking":
      return [{ type: "reasoning", text: "", redacted: block.data ?? "" }];
    default:
      return [];
  }
}

/**
 * IR parts as assistant blocks. Toward an upstream (`forUpstream`), reasoning without a signature
 * is dropped: Anthropic rejects a thinking block it cannot verify, and unsigned reasoning came
 * from another provider. Toward a client it goes out with `signature: ""`, so it can be shown.
 * Empty text is dropped: Anthropic rejects empty text blocks.
 */
export function assistantBlocks(parts: Part[], forUpstream: boolean): Array<Record<string, unknown>> {
  const blocks: Array<Record<string, unknown>> = [];
  for (const part of parts) {
    switch (part.type) {
      case "text":
        if (part.text !== "") blocks.push(cacheMarked({ type: "text", text: part.text }, part, forUpstream));
        break;
      case "tool-call":
        blocks.push(cacheMarked({ type: "tool_use", id: part.id, name: part.name, input: toolInput(part.arguments) }, part, forUpstream));
        break;
      case "reasoning":
        if (part.redacted !== undefined) blocks.push({ type: "redacted_thinking", data: part.redacted });
        else if (part.signature || !forUpstream) blocks.push({ type: "thinking", thinking: part.text, signature: part.signature ?? "" });
        break;
      case "image":
      case "tool-result":
        break; // an assistant turn cannot carry them in this dialect
      default: {
        const unreachable: never = part;
        throw new Error(`unknown part ${JSON.stringify(unreachable)}`);
      }
    }
  }
  return blocks;
}

/** A request's block with the part's cache breakpoint (an answer to a client never carries one). */
function cacheMarked(block: Record<string, unknown>, part: { cacheControl?: Record<string, unknown> }, forUpstream: boolean): Record<string, unknown> {
  if (forUpstream && part.cacheControl) block.cache_control = part.cacheControl;
  return block;
}

/**
 * IR tool arguments (JSON text) as Anthropic's `input` object. Arguments that are not a JSON
 * object (a model cut off mid-call by max_tokens, or none at all) become `{}`: Anthropic requires
 * an object here, and a request that fails outright would lose the whole conversation.
 */
export function toolInput(args: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(args);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // not JSON: fall through to the empty object
  }
  return {};
}

/** refusal is Anthropic's content filter; model_context_window_exceeded is a length stop. */
export function decodeStopReason(reason: string | null | undefined): FinishReason {
  switch (reason) {
    case "end_turn":
    case "stop_sequence": return "stop";
    case "max_tokens":
    case "model_context_window_exceeded": return "length";
    case "tool_use": return "tool-calls";
    case "refusal": return "content-filter";
    default: return "other"; // pause_turn, and reasons newer than this codec
  }
}

/**
 * "other" and "error" go out as end_turn, not pause_turn: clients answer pause_turn by sending the
 * turn again to let a server tool continue, which would loop on another provider's odd finish.
 */
export function encodeStopReason(reason: FinishReason): string {
  switch (reason) {
    case "stop": return "end_turn";
    case "length": return "max_tokens";
    case "tool-calls": return "tool_use";
    case "content-filter": return "refusal";
    case "error":
    case "other": return "end_turn";
  }
}

/**
 * Anthropic's input_tokens counts only the uncached part of the prompt; cache reads and writes are
 * reported beside it. The IR's inputTokens is the whole prompt, cache included, so they are added
 * here (and taken out again in encodeUsage): mixing the two bills cached tokens twice, or not at all.
 */
export function decodeUsage(wire: UsageBody): Usage {
  const read = wire.cache_read_input_tokens ?? 0;
  const written = wire.cache_creation_input_tokens ?? 0;
  const usage: Usage = { inputTokens: (wire.input_tokens ?? 0) + read + written, outputTokens: wire.output_tokens ?? 0 };
  if (wire.cache_read_input_tokens != null) usage.cachedInputTokens = read;
  if (wire.cache_creation_input_tokens != null) usage.cacheWriteTokens = written;
  return usage;
}

/** The IR's inclusive count back to Anthropic's exclusive one; reasoning tokens are part of output_tokens already. */
export function encodeUsage(usage: Usage): Record<string, number> {
  const read = usage.cachedInputTokens ?? 0;
  const written = usage.cacheWriteTokens ?? 0;
  return {
    input_tokens: Math.max(0, usage.inputTokens - read - written),
    cache_creation_input_tokens: written,
    cache_read_input_tokens: read,
    output_tokens: usage.outputTokens,
  };
}

/** The upstream's id when there is one (so logs on both sides match), else a fresh Anthropic-style one. */
export function messageId(id: string): string {
  return id !== "" ? id : `msg_${crypto.randomUUID().replaceAll("-", "")}`;
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);
