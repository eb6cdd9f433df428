import type { Codec } from "../dialects/codec.ts";
import { gatewayError } from "../errors.ts";
import type { Gateway } from "../gateway.ts";
import { callersAuthenticated } from "../pipeline/plugins.ts";
import { errorResponse } from "../pipeline/respond.ts";

// While Sluice serves loopback callers without keys (SPEC §3), anything that can make a request
// to 127.0.0.1 can spend the user's provider keys — including a web page, through DNS rebinding
// (its own host name resolved to 127.0.0.1) or a cross-site form. So in that mode only loopback
// host names, and only loopback browser origins, are served (RELIABILITY T24).

const LOOPBACK_NAME = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|::1)$/i;

function loopbackOrigin(origin: string): boolean {
  try {
    const url = new URL(origin);
    return (url.protocol === "http:" || url.protocol === "https:") && LOOPBACK_NAME.test(url.hostname);
  } catch {
    return false;
  }
}

/**
 * The host name the client asked for, or undefined when the Host header is not a valid one.
 * Bun builds request.url from the Host header; for some values ("", "a, b", "x@y") it leaves a
 * bare path, for others ("localhost:abc", "127.999.999.999") a URL that does not parse.
 */
export function requestHost(request: Request): string | undefined {
  try {
    return new URL(request.url).hostname;
  } catch {
    return undefined;
  }
}

/** The check to run on every request: a refusal in the path's dialect, or undefined to go on. */
export function loopbackGuard(gw: Gateway, codecFor: (request: Request) => Codec) {
  return (request: Request, asked: string | undefined = requestHost(request)): Response | undefined => {
    // With caller keys (an auth plugin) or `auth.open`, callers are the operator's business.
    if (gw.config.auth.open || callersAuthenticated(gw)) return undefined;
    // Bun builds the URL from the Host header, so its host name is the one the client asked for.
    // One that does not parse is not a loopback name.
    const host = asked ?? "";
    if (!LOOPBACK_NAME.test(host)) {
      return errorResponse(codecFor(request), gatewayError("permission", `host "${host.slice(0, 100)}" is not served: without caller keys Sluice answers loopback names only (localhost, 127.0.0.1, [::1])`));
    }
    // A page's origin (or "null" from a sandboxed frame or a file) must be loopback too.
    const origin = request.headers.get("origin");
    if (origin !== null && !loopbackOrigin(origin)) {
      return errorResponse(codecFor(request), gatewayError("permission", "cross-origin requests are not served without caller keys"));
    }
    return undefined;
  };
}
