import type { PassthroughBody } from "../codec.ts";

/**
 * The client's body for a Gemini upstream, unchanged: the model travels in the URL (the executor
 * builds it from the routed model), and Gemini streams report usage without being asked.
 */
export function passthroughRequest(
  raw: string,
  _model: string,
  _options: { stream: boolean; clientAskedUsage: boolean; wantUsage: boolean },
): PassthroughBody {
  return { body: raw, injectedUsage: false };
}
