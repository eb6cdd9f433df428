import { checkOutbound } from "../../core/pipeline/outbound.ts";
import { scrub } from "../../core/gateway.ts";
import { ERROR_BODY_MAX, readCapped, upstreamError } from "../../core/pipeline/upstream.ts";
import type { ExecuteContext, GatewayError } from "../../core/plugins/hooks.ts";

// The one HTTP call of a built-in executor's `embed()`: POST JSON, read JSON. A non-2xx answer
// becomes the same GatewayError generation gives (pipeline/upstream.ts); an abort is thrown,
// so the pipeline reports the limit that fired. The provider's key never reaches a message.

/** `{"error": "…"}` (Ollama) or `{"error": {"message": "…"}}` (OpenAI, Gemini). */
function messageOf(parsed: unknown): string | undefined {
  const error = (parsed as { error?: unknown } | undefined)?.error;
  if (typeof error === "string") return error;
  const message = (error as { message?: unknown } | undefined)?.message;
  return typeof message === "string" ? message : undefined;
}

export async function postJson(
  label: string, url: string, headers: Record<string, string | undefined>, body: unknown, ctx: ExecuteContext,
): Promise<{ ok: true; json: unknown } | { ok: false; error: GatewayError }> {
  const sent: Record<string, string> = { "content-type": "application/json", accept: "application/json", ...ctx.provider.headers };
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) sent[name] = value;
  const secrets = ctx.provider.api_key ? [ctx.provider.api_key] : [];
  const refused = await checkOutbound(url);
  if (refused) return { ok: false, error: refused };
  let response: globalThis.Response;
  try {
    response = await fetch(url, {
      method: "POST", headers: sent, body: JSON.stringify(body), signal: ctx.signal,
      // Provider credentials must never follow a redirect to another host.
      redirect: "manual",
    });
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    return { ok: false, error: { kind: "upstream_unreachable", message: scrub(`${label}: upstream unreachable: ${error instanceof Error ? error.message : String(error)}`, secrets) } };
  }
  if (response.status < 200 || response.status >= 300) {
    const text = await readCapped(response, ERROR_BODY_MAX).catch(() => "");
    const error = upstreamError(response.status, response.headers, text, messageOf, secrets);
    return { ok: false, error: { ...error, message: `${label}: ${error.message}` } };
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
