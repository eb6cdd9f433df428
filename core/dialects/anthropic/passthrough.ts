import type { PassthroughBody } from "../codec.ts";
import { withTopLevelValue } from "../json-span.ts";

/**
 * The client's body for an Anthropic upstream, byte for byte but the model name. Nothing is
 * injected: Anthropic streams always carry usage (message_start and message_delta), so there
 * is no usage to ask for and no usage-only event to drop.
 */
export function passthroughRequest(
  raw: string,
  model: string,
  _options: { stream: boolean; clientAskedUsage: boolean; wantUsage: boolean },
): PassthroughBody {
  return { body: withTopLevelValue(raw, "model", JSON.stringify(model)), injectedUsage: false };
}
