import { gatewayError, type GatewayError } from "../errors.ts";
import type { Gateway } from "../gateway.ts";
import type { Request } from "../ir.ts";
import type { AuthInput, CompressorPlugin, HookContext } from "../plugins/hooks.ts";
import { CompressionApplied } from "../../events/catalog/compression.ts";
import type { RouteConfig } from "../../schemas/config.ts";
import { textTokens } from "../tokens/count.ts";
import type { CallerKey } from "../../events/projections/keys.ts";
import { checkKey, keysInUse } from "../keys/keys.ts";

// The request-side plugin hooks, each isolated and recorded when it fails. A compressor that
// throws is skipped for this request; an auth or cloak plugin that throws fails closed, since
// going on without it would let a stranger in or a secret out.

/** The credential a client sent, in whichever style its SDK uses. */
export function credentialOf(http: globalThis.Request): string | undefined {
  const authorization = http.headers.get("authorization");
  if (authorization) {
    const match = /^Bearer\s+(.+)$/i.exec(authorization);
    return match ? match[1]!.trim() : authorization.trim();
  }
  const key = http.headers.get("x-api-key") ?? http.headers.get("x-goog-api-key");
  if (key) return key.trim();
  const url = new URL(http.url);
  return url.searchParams.get("key") ?? undefined;
}

/** Whether callers must authenticate: caller keys exist, or an auth plugin is loaded. */
export function callersAuthenticated(gw: Gateway): boolean {
  return keysInUse(gw.projections.get("keys")) || gw.plugins.auth().length > 0;
}

/** One answer for every bad credential: it says nothing of which keys exist or why one failed. */
const DENIED = gatewayError("authentication", "invalid or missing API key");

/**
 * Who is calling: a caller key (checked first), else the first auth plugin that decides. With
 * neither keys nor plugins the gateway is open (loopback only; the server refuses to bind wider).
 */
/** How long an auth plugin may take to decide: past it, the request is refused as unavailable (fail closed). */
export const AUTH_DEADLINE_MS = 5000;

/** `work`, or a rejection once `ms` have passed. */
function withinDeadline<T>(work: T | Promise<T>, ms: number): Promise<T> {
  let timer: Timer | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no decision within ${ms} ms`)), ms);
  });
  return Promise.race([Promise.resolve(work), deadline]).finally(() => clearTimeout(timer));
}

export async function authenticate(gw: Gateway, http: globalThis.Request): Promise<{ caller?: string; key?: CallerKey } | { deny: GatewayError }> {
  const plugins = gw.plugins.auth();
  const state = gw.projections.get("keys");
  const withKeys = keysInUse(state);
  if (!withKeys && plugins.length === 0) return {};
  const credential = credentialOf(http);
  const ip = gw.peers.get(http);
  if (withKeys) {
    const check = checkKey(state, credential, Date.now(), ip);
    if (check.ok) return { caller: check.key.id, key: check.key };
  }
  const input: AuthInput = { ...(credential !== undefined ? { credential } : {}), headers: Object.fromEntries(http.headers), ...(ip !== undefined ? { ip } : {}) };
  for (const plugin of plugins) {
    try {
      const decision = await withinDeadline(plugin.authenticate(input), AUTH_DEADLINE_MS);
      if (!decision) continue;
      if ("deny" in decision) return { deny: decision.deny };
      return { caller: decision.caller };
    } catch (error) {
      gw.plugins.failed(plugin, error);
      return { deny: gatewayError("unavailable", "authentication is unavailable", { retryAfter: 1 }) };
    }
  }
  return { deny: DENIED };
}

/**
 * Which compressors may run for a request: all loaded ones, less those its route (`compress`)
 * or its `x-sluice-compress` header (`off`, or `-name,-name`) turns off.
 */
export function compressorsFor(gw: Gateway, route: RouteConfig | undefined, header: string | null): CompressorPlugin[] {
  const all = gw.plugins.compressors();
  if (all.length === 0 || route?.compress === false) return [];
  const value = header?.trim().toLowerCase();
  if (value === "off" || value === "false" || value === "0") return [];
  const skip = new Set([
    ...(typeof route?.compress === "object" ? route.compress.skip : []),
    ...(value ? value.split(",").map((s) => s.trim()).filter((s) => s.startsWith("-")).map((s) => s.slice(1)) : []),
  ]);
  return skip.size === 0 ? all : all.filter((c) => !skip.has(c.name.toLowerCase()) && !skip.has(c.name));
}

/**
 * Where compressors may work: the messages after the last assistant turn — the newest user turn
 * or tool results, which no earlier request of the conversation sent. Everything before it (and
 * the system prompt) stays byte for byte, so the provider's prompt cache keeps matching.
 */
export function freshTail(request: Request): number {
  const last = request.messages.findLastIndex((m) => m.role === "assistant");
  return last + 1;
}

function tailTokens(messages: Request["messages"]): number {
  let n = 0;
  for (const message of messages) {
    for (const part of message.content) {
      if (part.type === "text") n += textTokens(part.text);
      else if (part.type === "tool-result") for (const inner of part.content) if (inner.type === "text") n += textTokens(inner.text);
    }
  }
  return n;
}

/**
 * Run the compressors over the fresh tail only; record what each saved; skip one that throws.
 * `saved` is the sum of what the compression.applied events record (tokens before − after).
 */
async function compress(gw: Gateway, request: Request, ctx: HookContext, compressors: CompressorPlugin[]): Promise<{ request: Request; saved: number }> {
  if (compressors.length === 0) return { request, saved: 0 };
  const from = freshTail(request);
  if (from >= request.messages.length) return { request, saved: 0 };
  const prefix = request.messages.slice(0, from);
  let tail = request.messages.slice(from);
  // What each compressor sees: the request with only its fresh tail (made again only when a compressor changed it).
  let seen: Request = { ...request, messages: tail };
  let changed = false;
  let saved = 0;
  for (const compressor of compressors) {
    try {
      const result = compressor.compress(seen, ctx);
      // Most compressors answer at once: awaiting only a promise saves a turn per compressor.
      const next = typeof (result as PromiseLike<unknown> | undefined)?.then === "function" ? await result : (result as Request | undefined | void);
      if (!next || next.messages === tail) continue;
      const before = tailTokens(tail);
      const after = tailTokens(next.messages);
      tail = next.messages;
      seen = { ...request, messages: tail };
      changed = true;
      saved += before - after;
      void gw.log.append(CompressionApplied, { request: ctx.request, compressor: compressor.name, tokens_before: before, tokens_after: after });
    } catch (error) {
      gw.plugins.failed(compressor, error, ctx.request);
    }
  }
  return { request: changed ? { ...request, messages: [...prefix, ...tail] } : request, saved };
}

/**
 * Cloak, then compressors, in order. `modified` says whether anything changed the request;
 * `tokensSaved` is what the compressors saved, as their compression.applied events record it.
 */
export async function runRequestPlugins(
  gw: Gateway, request: Request, ctx: HookContext, compressors: CompressorPlugin[] = gw.plugins.compressors(),
): Promise<{ request: Request; modified: boolean; tokensSaved: number } | { error: GatewayError }> {
  let current = request;
  let modified = false;
  for (const cloak of gw.plugins.cloaks()) {
    try {
      const next = cloak.redact(current, ctx);
      if (next && next !== current) {
        current = next;
        modified = true;
      }
    } catch (error) {
      gw.plugins.failed(cloak, error, ctx.request);
      return { error: gatewayError("unavailable", "the privacy cloak failed; the request was not sent", { retryAfter: 1 }) };
    }
  }
  const compressed = await compress(gw, current, ctx, compressors);
  if (compressed.request !== current) {
    current = compressed.request;
    modified = true;
  }
  return { request: current, modified, tokensSaved: compressed.saved };
}
