import { gatewayError, type GatewayError } from "../errors.ts";
import type { Gateway } from "../gateway.ts";
import type { Request } from "../ir.ts";
import type { AuthInput, HookContext } from "../plugins/hooks.ts";

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

export async function authenticate(gw: Gateway, http: globalThis.Request): Promise<{ caller?: string } | { deny: GatewayError }> {
  const plugins = gw.plugins.auth();
  if (plugins.length === 0) return {}; // open mode; the server refuses to bind beyond loopback without auth
  const input: AuthInput = { credential: credentialOf(http), headers: Object.fromEntries(http.headers) };
  for (const plugin of plugins) {
    try {
      const decision = await plugin.authenticate(input);
      if (!decision) continue;
      if ("deny" in decision) return { deny: decision.deny };
      return { caller: decision.caller };
    } catch (error) {
      gw.plugins.failed(plugin, error);
      return { deny: gatewayError("unavailable", "authentication is unavailable", { retryAfter: 1 }) };
    }
  }
  return { deny: gatewayError("authentication", "invalid or missing API key") };
}

/** Cloak, then compressors, in order. `modified` says whether anything changed the request. */
export async function runRequestPlugins(gw: Gateway, request: Request, ctx: HookContext): Promise<{ request: Request; modified: boolean } | { error: GatewayError }> {
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
  for (const compressor of gw.plugins.compressors()) {
    try {
      const next = await compressor.compress(current, ctx);
      if (next && next !== current) {
        current = next;
        modified = true;
      }
    } catch (error) {
      gw.plugins.failed(compressor, error, ctx.request);
    }
  }
  return { request: current, modified };
}
