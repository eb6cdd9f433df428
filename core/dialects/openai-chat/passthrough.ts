import type { PassthroughBody } from "../codec.ts";
import { topLevelValueSpan, withTopLevelValue } from "../json-span.ts";

/**
 * The client's body for an OpenAI-compatible upstream, byte for byte but the model name, and
 * `stream_options.include_usage` on streams: without it OpenAI-compatible servers report no
 * usage in streams, and every streamed request would count 0 tokens.
 */
export function passthroughRequest(
  raw: string,
  model: string,
  options: { stream: boolean; clientAskedUsage: boolean; wantUsage: boolean },
): PassthroughBody {
  let body = withTopLevelValue(raw, "model", JSON.stringify(model));
  const inject = options.stream && options.wantUsage && !options.clientAskedUsage;
  if (!inject) return { body, injectedUsage: false };
  const span = topLevelValueSpan(body, "stream_options");
  let streamOptions: Record<string, unknown> = {};
  if (span) {
    try {
      const parsed = JSON.parse(body.slice(span[0], span[1])) as unknown;
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) streamOptions = parsed as Record<string, unknown>;
    } catch {
      // the decoder validated the body already; an odd value is simply replaced
    }
  }
  body = withTopLevelValue(body, "stream_options", JSON.stringify({ ...streamOptions, include_usage: true }));
  return { body, injectedUsage: true };
}
