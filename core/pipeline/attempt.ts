import type { Codec } from "../dialects/codec.ts";
import { gatewayError, isGatewayError, type GatewayError } from "../errors.ts";
import { redact, type Gateway } from "../gateway.ts";
import { cleanUsage, type Part, type Request, type Response, type StreamEvent } from "../ir.ts";
import type { ExecutorPlugin } from "../plugins/hooks.ts";
import { errorText } from "../plugins/host.ts";
import type { Target } from "../routing/resolve.ts";
import type { Config, RouteConfig, Timeouts } from "../../schemas/config.ts";
import { modelInfo } from "../models/catalog.ts";
import { resolveProvider, VaultError } from "../vault/index.ts";
import { signaturesFor } from "./signatures.ts";
import { decodeSse, openStream, type OpenedBody } from "./stream.ts";
import { AttemptSignal, fetchUpstream, readCapped } from "./upstream.ts";

// One attempt: one target, one executor call. It ends when the upstream has answered well
// enough to start replying to the client (headers of a stream, or a whole JSON body).

export interface RequestContext {
  gw: Gateway;
  id: string;
  /** The client's dialect. */
  codec: Codec;
  ir: Request;
  /** The client's body as sent, for the same-dialect path. */
  raw: string;
  /** A plugin changed the request, so it is encoded from the IR rather than passed through. */
  modified: boolean;
  signal: AbortSignal;
  /** Date.now() after which no attempt may run (total deadline). */
  deadlineAt: number;
  /** The route the request named, if any (its timeouts apply). */
  route?: RouteConfig;
  /** Input tokens the compressors saved on this request (priced on request.completed). */
  tokensSaved?: number;
  /** The id the client sees for the answer, where the gateway names it (Responses API). */
  responseId?: string;
  /** Called with the answer's content before its terminal event commits (to store the turn). */
  answered?: (content: Part[]) => void;
  /**
   * Called with a whole answer that went well, before its terminal event commits (the route's
   * response cache keeps it). `raw` is the upstream's own JSON body of a passthrough answer.
   */
  keep?: (answer: { response: Response; raw?: string }, target: Target) => void;
  /** Called once the terminal event is on record: gives back the caller key's admission. */
  settle?: (outputTokens?: number) => void;
  /** For a caller key with a budget: the error to end a stream with once the budget runs out. */
  overBudget?: (outputChars: number) => GatewayError | undefined;
}

/** What a successful attempt hands to the response side. */
export type Source =
  | { kind: "raw-json"; text: string; response: Response }
  | { kind: "raw-sse"; body: OpenedBody; codec: Codec; injectedUsage: boolean }
  | { kind: "ir"; response: Response }
  | { kind: "ir-stream"; events: AsyncIterable<StreamEvent> };

export type Outcome =
  | { ok: true; source: Source; signal: AttemptSignal; status: number; adjustments: string[] }
  | { ok: false; error: GatewayError; status: number; adjustments?: string[] };

const RESPONSE_MAX = 64 * 1024 * 1024;

/** An attempt's limits: the global ones, then the route's, then the provider's own. */
export function timeoutsFor(config: Config, route: RouteConfig | undefined, target: Target): Timeouts {
  return { ...config.timeouts, ...route?.timeouts, ...target.provider.timeouts };
}

/** When a request must be over, all attempts together. */
export function deadlineFor(config: Config, route: RouteConfig | undefined): number {
  return Date.now() + (route?.timeouts?.total_ms ?? config.timeouts.total_ms);
}

/**
 * The target with its provider's `vault:NAME` references decrypted: secrets exist in plain text
 * only in this copy, for this call. A vault that fails (altered, key gone) fails the attempt.
 */
export function withSecrets(gw: Gateway, target: Target): Target | GatewayError {
  try {
    const provider = resolveProvider(target.provider, gw.vault);
    return provider === target.provider ? target : { ...target, provider };
  } catch (error) {
    return gatewayError("upstream_error", error instanceof VaultError ? error.message : "the vault could not be read");
  }
}

/** Whether the request goes upstream as the client's own bytes. */
export function isPassthrough(ctx: RequestContext, executor: ExecutorPlugin): boolean {
  return !executor.execute && executor.dialect === ctx.codec.id && !ctx.modified;
}

/**
 * The request as this target gets it: signatures only for the provider that made them, and
 * max_tokens within the model's output limit. What changed is said in `adjustments`
 * (the client sees them in x-sluice-adjustments).
 */
export function forTarget(requestCtx: RequestContext, target: Target): { ctx: RequestContext; adjustments: string[] } {
  const adjustments: string[] = [];
  let ir = signaturesFor(requestCtx.gw, requestCtx.ir, target.provider.id);
  const limit = modelInfo(target.provider, target.model).maxOutput;
  if (limit !== undefined && ir.maxTokens !== undefined && ir.maxTokens > limit) {
    adjustments.push(`max_tokens=${limit} (asked ${ir.maxTokens}, above ${target.id}'s output limit)`);
    ir = { ...ir, maxTokens: limit };
  }
  return { ctx: ir === requestCtx.ir ? requestCtx : { ...requestCtx, ir, modified: true }, adjustments };
}

/**
 * `prepared` is forTarget's result for this target when the caller already made it (for the
 * passthrough flag on attempt.started), so it is not made twice. It is made from the configured
 * target, whose provider object the model-facts cache knows; secrets go only into the copy the
 * executor gets.
 */
export async function runAttempt(
  requestCtx: RequestContext, configured: Target, executor: ExecutorPlugin, prepared = forTarget(requestCtx, configured),
): Promise<Outcome> {
  const target = withSecrets(requestCtx.gw, configured);
  if (isGatewayError(target)) return { ok: false, error: target, status: 0, adjustments: [] };
  const ctx = prepared.ctx;
  const adjustments = [...prepared.adjustments];
  const signal = new AttemptSignal(ctx.signal, ctx.deadlineAt, timeoutsFor(ctx.gw.config, ctx.route, target));
  const ir: Request = { ...ctx.ir, model: target.model };
  try {
    const outcome = executor.execute
      ? await viaExecute(ctx, ir, target, executor, signal)
      : await viaDialect(ctx, ir, target, executor, signal, adjustments);
    if (!outcome.ok) signal.dispose();
    return { ...outcome, adjustments };
  } catch (error) {
    signal.dispose();
    if (signal.aborted) return { ok: false, error: signal.error(), status: 0, adjustments };
    ctx.gw.plugins.failed(executor, error, ctx.id);
    // Its own words, with secrets and anything shaped like a credential (or a URL holding one) taken out.
    return { ok: false, error: gatewayError("upstream_error", `executor ${executor.kind} failed: ${redact(errorText(error), ctx.gw.secrets)}`), status: 0, adjustments };
  }
}

type Attempted = { ok: true; source: Source; signal: AttemptSignal; status: number } | { ok: false; error: GatewayError; status: number };

async function viaExecute(ctx: RequestContext, ir: Request, target: Target, executor: ExecutorPlugin, signal: AttemptSignal): Promise<Attempted> {
  signal.arm("first_byte");
  const result = await executor.execute!(ir, { request: ctx.id, provider: target.provider, signal: signal.signal });
  signal.disarm();
  if (signal.aborted) return { ok: false, error: signal.error(), status: 0 };
  if (isGatewayError(result)) return { ok: false, error: result, status: 0 };
  if (typeof result === "object" && result !== null && Symbol.asyncIterator in result) {
    return { ok: true, source: { kind: "ir-stream", events: result }, signal, status: 200 };
  }
  const response = result as Partial<Response> | null | undefined;
  if (!response || !Array.isArray(response.content) || typeof response.finishReason !== "string") {
    throw new Error("execute() returned neither a response, a stream of events, nor an error");
  }
  return { ok: true, source: { kind: "ir", response: withCleanUsage(result as Response) }, signal, status: 200 };
}

/** The response with its usage made safe to count (see cleanUsage). */
function withCleanUsage(response: Response): Response {
  const usage = cleanUsage(response.usage);
  if (usage === response.usage) return response;
  const { usage: _dropped, ...rest } = response;
  return usage ? { ...rest, usage } : rest;
}

async function viaDialect(
  ctx: RequestContext, ir: Request, target: Target, executor: ExecutorPlugin, signal: AttemptSignal, adjustments: string[],
): Promise<Attempted> {
  const codec = ctx.gw.codecs.get(executor.dialect ?? "openai-chat");
  if (!codec || !executor.request) {
    return { ok: false, error: gatewayError("upstream_error", `executor ${executor.kind} names no usable dialect`), status: 0 };
  }
  const upstream = await executor.request(ir, target.provider);
  const passthrough = isPassthrough(ctx, executor) && !upstream.body;
  let body: string;
  let injectedUsage = false;
  if (upstream.body) body = JSON.stringify(upstream.body);
  else if (passthrough) {
    const rewritten = codec.passthroughRequest(ctx.raw, target.model, {
      stream: ir.stream, clientAskedUsage: ir.streamUsage === true, wantUsage: target.provider.stream_usage,
    });
    body = rewritten.body;
    injectedUsage = rewritten.injectedUsage;
  } else {
    // `extra` holds the client dialect's own fields: they mean nothing to another dialect.
    body = JSON.stringify(codec.encodeRequest(codec.id === ctx.codec.id ? ir : { ...ir, extra: {} }, (note) => adjustments.push(note)));
  }

  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: ir.stream ? "text/event-stream" : "application/json",
    ...target.provider.headers,
  };
  for (const [name, value] of Object.entries(upstream.headers ?? {})) if (value !== undefined) headers[name] = value;
  const result = await fetchUpstream(upstream.url, { headers, body }, signal, codec, ctx.gw.secrets);
  if (!result.ok) return result;
  const response = result.response;
  const sameDialect = codec.id === ctx.codec.id;
  const isSse = (response.headers.get("content-type") ?? "").includes("text/event-stream");

  if (ir.stream && isSse && response.body) {
    // The first event within the first-byte limit, and not an error: else the next target may answer.
    signal.arm("first_byte");
    const opened = await openStream(response.body, codec, signal);
    signal.disarm();
    if (!opened.ok) return { ok: false, error: opened.error, status: response.status };
    const source: Source = sameDialect
      ? { kind: "raw-sse", body: opened.body, codec, injectedUsage }
      : { kind: "ir-stream", events: decodeSse(opened.body, codec.streamDecoder(), codec.streamEnds) };
    return { ok: true, source, signal, status: response.status };
  }

  // A whole JSON body (asked for, or an upstream that ignored `stream`): read it within the attempt,
  // so a broken body can still fall back to the next target.
  signal.arm("idle");
  let text: string;
  try {
    text = await readCapped(response, RESPONSE_MAX);
  } catch {
    // The upstream's fault, not the executor's (a body cut short, a length that lied).
    signal.disarm();
    if (signal.aborted) return { ok: false, error: signal.error(), status: 0 };
    return { ok: false, error: gatewayError("upstream_error", "upstream body broke off before its end"), status: response.status };
  }
  signal.disarm();
  if (signal.aborted) return { ok: false, error: signal.error(), status: 0 };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, error: gatewayError("upstream_invalid", "upstream sent a body that is not valid JSON"), status: response.status };
  }
  const parsed = codec.decodeResponse(json);
  if (isGatewayError(parsed)) return { ok: false, error: parsed, status: response.status };
  const decoded = withCleanUsage(parsed);
  const source: Source = sameDialect && !ir.stream ? { kind: "raw-json", text, response: decoded } : { kind: "ir", response: decoded };
  return { ok: true, source, signal, status: response.status };
}
