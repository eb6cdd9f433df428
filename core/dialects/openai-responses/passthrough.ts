import type { PassthroughBody } from "../codec.ts";
import { withTopLevelValue } from "../json-span.ts";

/**
 * The client's body for a Responses upstream, byte for byte but the model name. Nothing is
 * injected: Responses streams always carry usage (in response.completed), so there is no usage
 * to ask for and no usage-only event to drop.
 */
export function passthroughRequest(
  raw: string,
  model: string,
  _options: { stream: boolean; clientAskedUsage: boolean; wantUsage: boolean },
): PassthroughBody {
  return { body: withTopLevelValue(raw, "model", JSON.stringify(model)), injectedUsage: false };
}
