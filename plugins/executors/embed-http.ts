import { kindOfUpstreamStatus } from "../../core/errors.ts";
import type { ExecuteContext, GatewayError } from "../../core/plugins/hooks.ts";

// The one HTTP call of a built-in executor's `embed()`: POST JSON, read JSON. A non-2xx answer
// becomes a GatewayError of the kind its status means (as for generation); an abort is thrown,
// so the pipeline reports the limit that fired. The provider's key never reaches a message.

const ERROR_BODY_MAX = 64 * 1024;

export async function postJson(
  label: string, url: string, headers: Record<string, string | undefined>, body: unknown, ctx: ExecuteContext,
): Promise<{ ok: true; json: unknown } | { ok: false; error: GatewayError }> {
  const sent: Record<string, string> = { "content-type": "application/json", accept: "application/json", ...ctx.provider.headers };
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) sent[name] = value;
  const scrub = (text: string) => (ctx.provider.api_key ? text.split(ctx.provider.api_key).join("[redacted]") : text);
  let response: globalThis.Response;
  try {
    response = await fetch(url, {
      method: "POST", headers: sent, body: JSON.stringify(body), signal: ctx.signal,
      // Provider credentials must never follow a redirect to another host.
      redirect: "manual",
    });
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    return { ok: false, error: { kind: "upstream_unreachable", message: scrub(`${label}: upstream unreachable: ${error instanceof Error ? error.message : String(error)}`) } };
  }
  if (response.status < 200 || response.status >= 300) {
    const text = (await response.text().catch(() => "")).slice(0, ERROR_BODY_MAX);
    const kind = response.status >= 300 && response.status < 400 ? "upstream_error" : kindOfUpstreamStatus(response.status);
    if (kind === "upstream_auth") return { ok: false, error: { kind, message: `${label}: upstream rejected the gateway's credentials (HTTP ${response.status})` } };
    let said: string | undefined;
    try {
      const error = (JSON.parse(text) as { error?: unknown }).error;
      said = typeof error === "string" ? error
        : typeof error === "object" && error !== null && typeof (error as { message?: unknown }).message === "string" ? (error as { message: string }).message
        : undefined;
    } catch {
      said = undefined;
    }
    const passOn = kind === "invalid_request" || kind === "payload_too_large" || kind === "rate_limited";
    return {
      ok: false,
      error: {
        kind, message: scrub(`${label}: ${said ? `upstream: ${said}` : `upstream returned HTTP ${response.status}`}`).slice(0, 2000),
        ...(passOn ? { status: response.status } : {}),
      },
    };
  }
  try {
    return { ok: true, json: await response.json() };
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    return { ok: false, error: { kind: "upstream_invalid", message: `${label}: upstream sent a body that is not valid JSON` } };
  }
}

const isVector = (value: unknown): value is number[] => Array.isArray(value) && value.every((n) => typeof n === "number");

/** Checks `vectors` is one number array per input; the error names the upstream. */
export function checkVectors(label: string, vectors: unknown, count: number): number[][] | GatewayError {
  if (!Array.isArray(vectors) || !vectors.every(isVector)) return { kind: "upstream_invalid", message: `${label}: the answer holds no embedding vectors` };
  if (vectors.length !== count) return { kind: "upstream_invalid", message: `${label}: asked for ${count} embeddings, got ${vectors.length}` };
  return vectors;
}
