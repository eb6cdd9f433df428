import { assistantMessage } from "./assistant.ts";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { gatewayError, type GatewayError } from "../../errors.ts";
import type { FinishReason, Part, Response, Usage } from "../../ir.ts";
import { ChatResponseSchema, type ChatUsageBody } from "../../../schemas/openai-chat.ts";
import { paramOf } from "../schema-error.ts";

// chat.completion ⇄ IR. Finish reasons, usage and ids are shared with the stream codec.

const check = TypeCompiler.Compile(ChatResponseSchema);

export function decodeResponse(body: unknown): Response | GatewayError {
  if (!check.Check(body)) {
    const first = check.Errors(body).First();
    const where = first && first.path !== "" ? ` at '${paramOf(first.path)}'` : "";
    return gatewayError("upstream_invalid", `upstream response is not a chat.completion${where}: ${first?.message ?? "unreadable"}`);
  }
  const choice = body.choices.find((c) => (c.index ?? 0) === 0) ?? body.choices[0]!;
  const message = choice.message;
  const content: Part[] = [];
  const reasoning = message.reasoning_content || message.reasoning;
  if (reasoning) content.push({ type: "reasoning", text: reasoning });
  if (message.content) content.push({ type: "text", text: message.content });
  // A refusal is what the model said instead of an answer; the IR has no refusal part, so it is text.
  if (message.refusal) content.push({ type: "text", text: message.refusal });
  for (const call of message.tool_calls ?? []) {
    content.push({ type: "tool-call", id: call.id, name: call.function.name, arguments: call.function.arguments });
  }
  if (message.function_call) {
    const { name, arguments: args } = message.function_call;
    content.push({ type: "tool-call", id: name, name, arguments: args });
  }
  const hasToolCalls = content.some((part) => part.type === "tool-call");
  const response: Response = {
    id: body.id ?? "",
    model: body.model ?? "",
    created: body.created ?? nowSeconds(),
    content,
    finishReason: decodeFinishReason(choice.finish_reason, hasToolCalls),
  };
  if (body.usage) response.usage = decodeUsage(body.usage);
  return response;
}

export function encodeResponse(ir: Response, model: string): Record<string, unknown> {
  const message = assistantMessage(ir.content, true);
  message.refusal = null;
  message.annotations = [];
  const body: Record<string, unknown> = {
    id: completionId(ir.id),
    object: "chat.completion",
    created: ir.created,
    model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: encodeFinishReason(ir.finishReason) }],
  };
  if (ir.usage) body.usage = encodeUsage(ir.usage);
  return body;
}

/**
 * Unknown reasons become "other". Some compatible servers end a tool call with "stop";
 * when the turn holds tool calls, it is a tool-call finish whatever the server said.
 */
export function decodeFinishReason(reason: string | null | undefined, hasToolCalls: boolean): FinishReason {
  switch (reason) {
    case "stop": return hasToolCalls ? "tool-calls" : "stop";
    case "length": return "length";
    case "tool_calls":
    case "function_call": return "tool-calls";
    case "content_filter": return "content-filter";
    default: return "other";
  }
}

/** OpenAI has no finish reason for an error or an unknown end; "stop" is what clients handle. */
export function encodeFinishReason(reason: FinishReason): string {
  switch (reason) {
    case "stop": return "stop";
    case "length": return "length";
    case "tool-calls": return "tool_calls";
    case "content-filter": return "content_filter";
    case "error":
    case "other": return "stop";
  }
}

export function decodeUsage(wire: ChatUsageBody): Usage {
  const usage: Usage = { inputTokens: wire.prompt_tokens, outputTokens: wire.completion_tokens };
  const cached = wire.prompt_tokens_details?.cached_tokens;
  if (cached != null) usage.cachedInputTokens = cached;
  const reasoning = wire.completion_tokens_details?.reasoning_tokens;
  if (reasoning != null) usage.reasoningTokens = reasoning;
  return usage;
}

/** Cache writes have no OpenAI field and are left out; they are still part of prompt_tokens. */
export function encodeUsage(usage: Usage): Record<string, unknown> {
  const wire: Record<string, unknown> = {
    prompt_tokens: usage.inputTokens,
    completion_tokens: usage.outputTokens,
    total_tokens: usage.inputTokens + usage.outputTokens,
  };
  if (usage.cachedInputTokens !== undefined) wire.prompt_tokens_details = { cached_tokens: usage.cachedInputTokens };
  if (usage.reasoningTokens !== undefined) wire.completion_tokens_details = { reasoning_tokens: usage.reasoningTokens };
  return wire;
}

/** The upstream's id when there is one (so logs on both sides match), else a fresh OpenAI-style one. */
export function completionId(id: string): string {
  return id !== "" ? id : `chatcmpl-${crypto.randomUUID().replaceAll("-", "")}`;
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);
