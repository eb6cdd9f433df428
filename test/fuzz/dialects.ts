import { parseSse } from "../support/sse.ts";

// Small, exact schema checks of what each dialect answers (SPEC §3): the error body of a 4xx, the
// success body of a 2xx, and a stream's events. Each returns undefined when the reply fits, else
// what is wrong with it.

export type Dialect = "openai" | "anthropic" | "gemini";

/** What a reply's body is for: which endpoint it came from. */
export type Kind =
  | "chat" | "responses" | "embeddings"
  | "messages" | "count_tokens"
  | "generate" | "stream" | "count" | "embed" | "batch_embed";

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const keysAre = (v: Record<string, unknown>, required: string[], optional: string[] = []) => {
  const keys = Object.keys(v);
  const missing = required.filter((k) => !keys.includes(k));
  const extra = keys.filter((k) => !required.includes(k) && !optional.includes(k));
  return missing.length === 0 && extra.length === 0 ? undefined : `keys ${JSON.stringify(keys)} (missing ${missing.join(",") || "-"}, extra ${extra.join(",") || "-"})`;
};
const stringOrNull = (v: unknown) => typeof v === "string" || v === null;

/** OpenAI's `type` for a 4xx status (core/dialects/openai-chat/error.ts, after OpenAI's API). */
const OPENAI_TYPE: Record<number, string[]> = {
  400: ["invalid_request_error"], 401: ["authentication_error"], 403: ["permission_error"],
  404: ["invalid_request_error"], 413: ["invalid_request_error"], 429: ["rate_limit_exceeded"], 499: ["invalid_request_error"],
};
const ANTHROPIC_TYPE: Record<number, string[]> = {
  400: ["invalid_request_error"], 401: ["authentication_error"], 403: ["permission_error"],
  404: ["not_found_error"], 413: ["request_too_large"], 429: ["rate_limit_error"], 499: ["invalid_request_error"],
};
const GEMINI_STATUS: Record<number, string[]> = {
  400: ["INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE"], 401: ["UNAUTHENTICATED"], 403: ["PERMISSION_DENIED"],
  404: ["NOT_FOUND"], 413: ["INVALID_ARGUMENT"], 429: ["RESOURCE_EXHAUSTED"], 499: ["CANCELLED"],
};

/** Whether `body` is exactly the dialect's error body for an HTTP `status` (a 4xx). */
export function errorShape(dialect: Dialect, status: number, body: unknown): string | undefined {
  if (!isObject(body)) return "error body is not a JSON object";
  if (dialect === "openai") {
    const top = keysAre(body, ["error"]);
    if (top) return `openai error: ${top}`;
    const error = body.error;
    if (!isObject(error)) return "openai error: `error` is not an object";
    const inner = keysAre(error, ["message", "type", "param", "code"]);
    if (inner) return `openai error.error: ${inner}`;
    if (typeof error.message !== "string" || error.message === "") return "openai error: message is not a non-empty string";
    if (typeof error.type !== "string") return "openai error: type is not a string";
    if (!stringOrNull(error.param) || !stringOrNull(error.code)) return "openai error: param/code not string|null";
    const types = OPENAI_TYPE[status];
    if (types && !types.includes(error.type)) return `openai error: type ${error.type} for status ${status}`;
    return undefined;
  }
  if (dialect === "anthropic") {
    const top = keysAre(body, ["type", "error"]);
    if (top) return `anthropic error: ${top}`;
    if (body.type !== "error") return "anthropic error: type is not \"error\"";
    const error = body.error;
    if (!isObject(error)) return "anthropic error: `error` is not an object";
    const inner = keysAre(error, ["type", "message"]);
    if (inner) return `anthropic error.error: ${inner}`;
    if (typeof error.message !== "string" || error.message === "") return "anthropic error: message is not a non-empty string";
    const types = ANTHROPIC_TYPE[status];
    if (typeof error.type !== "string" || (types && !types.includes(error.type))) return `anthropic error: type ${String(error.type)} for status ${status}`;
    return undefined;
  }
  const top = keysAre(body, ["error"]);
  if (top) return `gemini error: ${top}`;
  const error = body.error;
  if (!isObject(error)) return "gemini error: `error` is not an object";
  const inner = keysAre(error, ["code", "message", "status"], ["details"]);
  if (inner) return `gemini error.error: ${inner}`;
  if (error.code !== status) return `gemini error: code ${String(error.code)} is not the HTTP status ${status}`;
  if (typeof error.message !== "string" || error.message === "") return "gemini error: message is not a non-empty string";
  const statuses = GEMINI_STATUS[status];
  if (typeof error.status !== "string" || (statuses && !statuses.includes(error.status))) return `gemini error: status ${String(error.status)} for HTTP ${status}`;
  if (error.details !== undefined && (!Array.isArray(error.details) || !error.details.every((d) => isObject(d) && typeof d["@type"] === "string"))) {
    return "gemini error: details is not a list of typed objects";
  }
  return undefined;
}

/** Whether a 2xx JSON body is the endpoint's success body. */
export function successShape(kind: Kind, body: unknown): string | undefined {
  if (!isObject(body)) return "success body is not a JSON object";
  const ok = (cond: boolean, what: string) => (cond ? undefined : `${kind} success: ${what} in ${JSON.stringify(body).slice(0, 200)}`);
  switch (kind) {
    case "chat": return ok(body.object === "chat.completion" && Array.isArray(body.choices) && body.choices.length > 0, "object/choices");
    case "responses": return ok(body.object === "response" && Array.isArray(body.output) && typeof body.id === "string", "object/output/id");
    case "embeddings": return ok(body.object === "list" && Array.isArray(body.data) && body.data.every((d) => isObject(d) && d.object === "embedding"), "object/data");
    case "messages": return ok(body.type === "message" && body.role === "assistant" && Array.isArray(body.content), "type/role/content");
    case "count_tokens": return ok(keysAre(body, ["input_tokens"]) === undefined && Number.isInteger(body.input_tokens) && (body.input_tokens as number) >= 0, "{input_tokens}");
    case "generate": return ok(Array.isArray(body.candidates) && body.candidates.length > 0, "candidates");
    case "count": return ok(keysAre(body, ["totalTokens"]) === undefined && Number.isInteger(body.totalTokens) && (body.totalTokens as number) >= 0, "{totalTokens}");
    case "embed": return ok(keysAre(body, ["embedding"]) === undefined && isObject(body.embedding) && Array.isArray(body.embedding.values), "{embedding:{values}}");
    case "batch_embed": return ok(keysAre(body, ["embeddings"]) === undefined && Array.isArray(body.embeddings) && body.embeddings.every((e) => isObject(e) && Array.isArray(e.values)), "{embeddings:[{values}]}");
    case "stream": return `${kind} success: a streaming endpoint answered JSON`;
  }
}

/** The kinds that may answer a 200 as server-sent events. */
export const STREAMS: ReadonlySet<Kind> = new Set(["chat", "responses", "messages", "stream"]);

/** Whether an SSE text is a whole, error-free stream of the endpoint's dialect. */
export function streamShape(kind: Kind, text: string): string | undefined {
  if (!STREAMS.has(kind)) return `${kind}: answered a stream, but this endpoint does not stream`;
  const events = parseSse(text);
  if (events.length === 0) return `${kind} stream: no events`;
  const datas: unknown[] = [];
  for (const event of events) {
    if (event.data === "[DONE]" && kind === "chat") continue;
    try {
      datas.push(JSON.parse(event.data));
    } catch {
      return `${kind} stream: data is not JSON: ${event.data.slice(0, 120)}`;
    }
    if (event.event === "error") return `${kind} stream: error event ${event.data.slice(0, 200)}`;
  }
  const last = datas.at(-1);
  const lastText = JSON.stringify(last)?.slice(0, 200);
  if (datas.some((d) => isObject(d) && "error" in d)) return `${kind} stream: error in stream ${JSON.stringify(datas.find((d) => isObject(d) && "error" in d)).slice(0, 200)}`;
  switch (kind) {
    case "chat":
      return events.at(-1)?.data === "[DONE]" ? undefined : `chat stream: does not end with [DONE] (last ${lastText})`;
    case "responses":
      return isObject(last) && last.type === "response.completed" ? undefined : `responses stream: does not end with response.completed (last ${lastText})`;
    case "messages":
      return isObject(last) && last.type === "message_stop" ? undefined : `messages stream: does not end with message_stop (last ${lastText})`;
    default: {
      const candidate = isObject(last) && Array.isArray(last.candidates) ? last.candidates[0] : undefined;
      return isObject(candidate) && typeof candidate.finishReason === "string" ? undefined : `gemini stream: last chunk has no finishReason (last ${lastText})`;
    }
  }
}
