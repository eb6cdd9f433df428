import { TypeCompiler } from "@sinclair/typebox/compiler";
import { gatewayError, type GatewayError } from "../../errors.ts";
import type { FinishReason, Response, Usage } from "../../ir.ts";
import { GeminiResponseSchema, type GeminiResponseBody, type GeminiUsageBody } from "../../../schemas/gemini.ts";
import { paramOf } from "../schema-error.ts";
import { decodeModelParts, encodeModelParts, syntheticId } from "./parts.ts";

// GenerateContentResponse ⇄ IR. Finish reasons and usage are shared with the stream codec.
// Only the first candidate is read: the IR has one answer.

const check = TypeCompiler.Compile(GeminiResponseSchema);

export function decodeResponse(body: unknown): Response | GatewayError {
  if (!check.Check(body)) {
    const first = check.Errors(body).First();
    const where = first && first.path !== "" ? ` at '${paramOf(first.path)}'` : "";
    return gatewayError("upstream_invalid", `upstream response is not a GenerateContentResponse${where}: ${first?.message ?? "unreadable"}`);
  }
  const candidate = firstCandidate(body);
  let calls = 0;
  const content = decodeModelParts(candidate?.content?.parts ?? [], (id) => id ?? syntheticId(calls++));
  const hasToolCalls = content.some((part) => part.type === "tool-call");
  const response: Response = {
    id: body.responseId ?? "",
    model: body.modelVersion ?? "",
    created: createdOf(body),
    content,
    finishReason: candidate ? decodeFinishReason(candidate.finishReason, hasToolCalls) : blockedOrOther(body),
  };
  if (body.usageMetadata) response.usage = decodeUsage(body.usageMetadata);
  return response;
}

export function encodeResponse(ir: Response, model: string): Record<string, unknown> {
  const body: Record<string, unknown> = {
    candidates: [{
      content: { parts: encodeModelParts(ir.content, false), role: "model" },
      finishReason: encodeFinishReason(ir.finishReason),
      index: 0,
    }],
  };
  if (ir.usage) body.usageMetadata = encodeUsage(ir.usage);
  body.modelVersion = model;
  if (ir.id !== "") body.responseId = ir.id;
  return body;
}

export function firstCandidate(body: GeminiResponseBody) {
  return body.candidates?.find((c) => (c.index ?? 0) === 0) ?? body.candidates?.[0];
}

/** A prompt Gemini refused outright comes with no candidates and a promptFeedback.blockReason. */
export function blockedOrOther(body: GeminiResponseBody): FinishReason {
  return body.promptFeedback?.blockReason ? "content-filter" : "other";
}

/** Vertex AI stamps createTime; the Gemini API sends no time at all. */
export function createdOf(body: GeminiResponseBody): number {
  const at = body.createTime ? Date.parse(body.createTime) : NaN;
  return Number.isNaN(at) ? nowSeconds() : Math.floor(at / 1000);
}

const FILTERED = new Set([
  "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
  "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION",
]);

/** Gemini has no tool-call finish: a turn with function calls ends with STOP, and is a tool-call finish. */
export function decodeFinishReason(reason: string | undefined, hasToolCalls: boolean): FinishReason {
  if (reason === "STOP") return hasToolCalls ? "tool-calls" : "stop";
  if (reason === "MAX_TOKENS") return "length";
  if (reason !== undefined && FILTERED.has(reason)) return "content-filter";
  return "other";
}

export function encodeFinishReason(reason: FinishReason): string {
  switch (reason) {
    case "stop":
    case "tool-calls": return "STOP";
    case "length": return "MAX_TOKENS";
    case "content-filter": return "SAFETY";
    case "error":
    case "other": return "OTHER";
  }
}

/**
 * promptTokenCount already includes cachedContentTokenCount (Google: "when cached_content is set,
 * this also includes the number of tokens in the cached content"); toolUsePromptTokenCount is
 * input too and is added. candidatesTokenCount does NOT include thoughtsTokenCount (totalTokenCount
 * = prompt + toolUsePrompt + candidates + thoughts), so output is their sum and reasoning is the thoughts.
 */
export function decodeUsage(wire: GeminiUsageBody): Usage {
  const usage: Usage = {
    inputTokens: (wire.promptTokenCount ?? 0) + (wire.toolUsePromptTokenCount ?? 0),
    outputTokens: (wire.candidatesTokenCount ?? 0) + (wire.thoughtsTokenCount ?? 0),
  };
  if (wire.cachedContentTokenCount !== undefined) usage.cachedInputTokens = wire.cachedContentTokenCount;
  if (wire.thoughtsTokenCount !== undefined) usage.reasoningTokens = wire.thoughtsTokenCount;
  return usage;
}

/** Cache writes have no Gemini field; they stay part of promptTokenCount. */
export function encodeUsage(usage: Usage): Record<string, unknown> {
  const wire: Record<string, unknown> = {
    promptTokenCount: usage.inputTokens,
    candidatesTokenCount: usage.outputTokens - (usage.reasoningTokens ?? 0),
    totalTokenCount: usage.inputTokens + usage.outputTokens,
  };
  if (usage.cachedInputTokens !== undefined) wire.cachedContentTokenCount = usage.cachedInputTokens;
  if (usage.reasoningTokens !== undefined) wire.thoughtsTokenCount = usage.reasoningTokens;
  return wire;
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);
