// The one page a plugin author reads: every hook, its input and its output.
// A plugin is one module whose default export is one of these objects:
//
//   import type { ExecutorPlugin } from "sluice";
//   export default { hook: "executor", kind: "acme", dialect: "openai-chat",
//     request: (ir, provider) => ({ url: `${provider.base_url}/chat`, headers: {} }) } satisfies ExecutorPlugin;
//
// Plugins are isolated: a plugin that throws on load or on a call is logged, recorded as a
// `plugin.failed` event, and skipped; requests that do not need it keep working.

import type { DialectId } from "../dialects/codec.ts";
import type { GatewayError } from "../errors.ts";
import type { EmbeddingRequest, EmbeddingResponse, Request, Response, StreamEvent } from "../ir.ts";
import type { ProviderConfig } from "../../schemas/config.ts";

export type { DialectId } from "../dialects/codec.ts";
export type { GatewayError, ErrorKind } from "../errors.ts";
export type * as IR from "../ir.ts";
export type { EmbeddingRequest, EmbeddingResponse } from "../ir.ts";
export type { ProviderConfig } from "../../schemas/config.ts";

/** What an executor's `request()` returns: where and how to call the upstream. */
export interface UpstreamRequest {
  url: string;
  /** Headers for the upstream; provider auth goes here (undefined values are left out).
   *  Caller headers are never forwarded. */
  headers?: Record<string, string | undefined>;
  /** The body to send; by default the dialect codec's encoding of the IR request. */
  body?: Record<string, unknown>;
}

export interface ExecuteContext {
  /** The gateway's request id. */
  request: string;
  provider: ProviderConfig;
  /** Aborted when the client leaves or a deadline passes: pass it to every fetch. */
  signal: AbortSignal;
}

/**
 * Calls one kind of upstream. The short form names a `dialect` (a wire format Sluice already
 * has a codec for) and says in `request()` where to send it; Sluice does the rest, including
 * byte-for-byte passthrough when the client speaks the same dialect. The long form overrides
 * `execute()` and returns an IR response, or an async iterable of IR stream events when
 * `ir.stream` is true; it may also return a GatewayError value to fail the attempt.
 * `embed()` serves embeddings (`/v1/embeddings`, Gemini's `:embedContent`); an executor
 * without it is skipped for embeddings requests.
 */
export interface ExecutorPlugin {
  hook: "executor";
  /** Used as `kind:` in sluice.yaml. */
  kind: string;
  dialect?: DialectId;
  request?(ir: Request, provider: ProviderConfig): UpstreamRequest | Promise<UpstreamRequest>;
  execute?(ir: Request, ctx: ExecuteContext): Promise<Response | AsyncIterable<StreamEvent> | GatewayError>;
  /**
   * One vector per input, in order, or a GatewayError value to fail the attempt (a thrown error
   * fails it too). `request.model` is the upstream's model name; pass `ctx.signal` to every fetch.
   */
  embed?(request: EmbeddingRequest, ctx: ExecuteContext): Promise<EmbeddingResponse | GatewayError>;
}

export interface HookContext {
  request: string;
  /** The public model name the client asked for. */
  model: string;
}

/**
 * Rewrites the request before it goes upstream (the token saver). Return a new request, or
 * nothing to leave it as it is. A compressor that throws is skipped for that request.
 */
export interface CompressorPlugin {
  hook: "compressor";
  name: string;
  /** What it may change, for operators and for cache-prefix safety. */
  touches: Array<"tool-results" | "user-text" | "system">;
  compress(request: Request, ctx: HookContext): Request | undefined | void | Promise<Request | undefined | void>;
}

/**
 * The privacy cloak: hides the user's secrets from the upstream. `redact` rewrites the request
 * before it leaves. A cloak that throws stops the request (fails closed).
 */
export interface CloakPlugin {
  hook: "cloak";
  name: string;
  redact(request: Request, ctx: HookContext): Request | undefined | void;
}

/** What an auth plugin sees of the caller: never the raw headers object of the server. */
export interface AuthInput {
  /** The credential the client sent (Bearer, x-api-key, x-goog-api-key or ?key=), if any. */
  credential?: string;
  headers: Record<string, string>;
  /** The peer address, when known. */
  ip?: string;
}

/** A decision: `caller` names who it is (a key id, never the key); `deny` refuses. */
export type AuthDecision = { caller: string } | { deny: GatewayError } | undefined;

/** Decides who is calling. The first plugin that returns a decision wins. */
export interface AuthPlugin {
  hook: "auth";
  name: string;
  authenticate(input: AuthInput): AuthDecision | Promise<AuthDecision>;
}

export type Plugin = ExecutorPlugin | CompressorPlugin | CloakPlugin | AuthPlugin;
export type HookName = Plugin["hook"];

/** The name a plugin is known by in logs and events. */
export function pluginName(plugin: Plugin): string {
  return plugin.hook === "executor" ? `executor:${plugin.kind}` : `${plugin.hook}:${plugin.name}`;
}
