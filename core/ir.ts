// The internal representation: the hub every dialect codec maps to and from.
// A dialect is a codec (wire ⇄ IR) for requests, responses, stream events and errors,
// so N dialects need N codecs, not N².

export type Role = "user" | "assistant" | "tool";

export type ImageSource =
  | { kind: "url"; url: string }
  | { kind: "base64"; mediaType: string; data: string };

/**
 * Anthropic's prompt-cache breakpoint (`cache_control`) on a block, kept so that a request Sluice
 * rewrites (compressed, terse) still carries the client's breakpoints; other dialects leave it out.
 */
type CacheMark = { cacheControl?: Record<string, unknown> };

export type TextPart = { type: "text"; text: string } & CacheMark;
export type ImagePart = { type: "image"; source: ImageSource; detail?: "auto" | "low" | "high" } & CacheMark;
/**
 * `arguments` is the raw JSON text exactly as the model produced it (never re-serialised).
 * `signature` is an opaque provider token on the call itself (Gemini's `thoughtSignature`), kept byte-exact.
 */
export type ToolCallPart = { type: "tool-call"; id: string; name: string; arguments: string; signature?: string } & CacheMark;
export type ToolResultPart = {
  type: "tool-result";
  toolCallId: string;
  content: Array<TextPart | ImagePart>;
  isError?: boolean;
} & CacheMark;
/**
 * Reasoning kept byte-exact; `signature` belongs to the provider that produced it.
 * `redacted` is reasoning the provider encrypted (Anthropic `redacted_thinking.data`): opaque, sent back as is.
 */
export type ReasoningPart = { type: "reasoning"; text: string; signature?: string; redacted?: string };

export type Part = TextPart | ImagePart | ToolCallPart | ToolResultPart | ReasoningPart;

export interface Message {
  role: Role;
  content: Part[];
  name?: string;
}

export interface ToolDefinition {
  name: string;
  description?: string;
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>;
  strict?: boolean;
  /** Anthropic's `cache_control` on the tool (see CacheMark). */
  cacheControl?: Record<string, unknown>;
}

export type ToolChoice =
  | { type: "auto" }
  | { type: "none" }
  | { type: "required" }
  | { type: "tool"; name: string };

export type ResponseFormat =
  | { type: "text" }
  | { type: "json" }
  | { type: "json-schema"; name: string; schema: Record<string, unknown>; strict?: boolean };

export interface Request {
  /** The model name the upstream should see (after routing), or the public name before it. */
  model: string;
  system: TextPart[];
  messages: Message[];
  tools: ToolDefinition[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
  responseFormat?: ResponseFormat;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  stop?: string[];
  seed?: number;
  reasoningEffort?: "minimal" | "low" | "medium" | "high";
  stream: boolean;
  /** The client asked for usage in the stream (OpenAI `stream_options.include_usage`). */
  streamUsage?: boolean;
  user?: string;
  /** Fields of the client's dialect that have no IR meaning, kept for the same-dialect path. */
  extra: Record<string, unknown>;
  /**
   * Content of the client's request that the IR has no place for (Anthropic document or server
   * tool blocks, citations; Gemini executableCode …), by kind. The same-dialect path still sends
   * it (the client's own bytes), but a rewritten request would lose it, so nothing that rewrites
   * a request (compressors, terse mode) runs on one that has it.
   */
  untranslated?: string[];
}

/**
 * The `untranslated` kind of a system or developer message after the conversation began (OpenAI
 * chat and Responses): the IR's one system prompt has no place for it, so a rewrite would move it.
 */
export const MID_CONVERSATION_SYSTEM = "system-message-mid-conversation";

export type FinishReason = "stop" | "length" | "tool-calls" | "content-filter" | "error" | "other";

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  /** Part of inputTokens that was read from the provider's prompt cache. */
  cachedInputTokens?: number;
  /** Part of inputTokens written to the provider's prompt cache. */
  cacheWriteTokens?: number;
  /** Part of outputTokens spent on reasoning. */
  reasoningTokens?: number;
}

const COUNT_FIELDS = ["inputTokens", "outputTokens", "cachedInputTokens", "cacheWriteTokens", "reasoningTokens"] as const;

/** A token count an upstream reported, as a count: a finite number ≥ 0, whole (anything else is not one). */
function count(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 && value <= Number.MAX_SAFE_INTEGER ? Math.round(value) : undefined;
}

/**
 * Usage as an upstream reported it, made safe to count: token counts that are negative, not
 * whole, not finite or absurdly large are dropped (input and output become 0), so limits,
 * budgets, costs and the event log only ever see counts. Undefined stays undefined.
 */
export function cleanUsage(usage: Usage | undefined): Usage | undefined {
  if (usage === undefined) return undefined;
  if (COUNT_FIELDS.every((field) => usage[field] === undefined || (Number.isSafeInteger(usage[field]) && usage[field]! >= 0))) return usage;
  const clean: Usage = { inputTokens: count(usage.inputTokens) ?? 0, outputTokens: count(usage.outputTokens) ?? 0 };
  for (const field of ["cachedInputTokens", "cacheWriteTokens", "reasoningTokens"] as const) {
    const n = count(usage[field]);
    if (n !== undefined) clean[field] = n;
  }
  return clean;
}

export interface Response {
  id: string;
  model: string;
  created: number;
  content: Part[];
  finishReason: FinishReason;
  usage?: Usage;
}

/** Stream events: one discriminated union; every codec switches over it exhaustively. */
export type StreamEvent =
  | { type: "start"; id: string; model: string; created: number }
  | { type: "text-delta"; text: string }
  | { type: "reasoning-delta"; text: string; signature?: string; redacted?: string }
  | { type: "tool-call-start"; index: number; id: string; name: string; signature?: string }
  | { type: "tool-call-delta"; index: number; argumentsDelta: string }
  | { type: "finish"; finishReason: FinishReason }
  | { type: "usage"; usage: Usage }
  | { type: "error"; error: import("./errors.ts").GatewayError };

export function emptyRequest(model: string): Request {
  return { model, system: [], messages: [], tools: [], stream: false, extra: {} };
}

/** An embeddings request: one vector per input text, in order. */
export interface EmbeddingRequest {
  /** The model name the upstream should see (after routing), or the public name before it. */
  model: string;
  inputs: string[];
  /** Length of each vector, for models that can shorten them (OpenAI `dimensions`, Gemini `outputDimensionality`). */
  dimensions?: number;
}

export interface EmbeddingResponse {
  model: string;
  /** One vector per input, in the order of `inputs`. */
  vectors: number[][];
  usage?: { inputTokens: number };
}
