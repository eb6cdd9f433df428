import type { Part } from "../../ir.ts";

/**
 * An assistant turn as an OpenAI chat message: text, tool calls and reasoning. Reasoning goes
 * out as DeepSeek's `reasoning_content` (OpenAI clients ignore it, reasoning-aware ones read it).
 * `keepSigned: false` drops signed reasoning: it belongs to another provider and means nothing
 * to a server of this dialect.
 */
export function assistantMessage(parts: Part[], keepSigned: boolean): Record<string, unknown> {
  let text = "";
  let reasoning = "";
  const toolCalls: Array<Record<string, unknown>> = [];
  for (const part of parts) {
    switch (part.type) {
      case "text":
        text += part.text;
        break;
      case "tool-call":
        toolCalls.push({ id: part.id, type: "function", function: { name: part.name, arguments: part.arguments } });
        break;
      case "reasoning":
        if (keepSigned || part.signature === undefined) reasoning += part.text;
        break;
      case "image":
      case "tool-result":
        break; // an assistant message has no place for them in this dialect
      default: {
        const unreachable: never = part;
        throw new Error(`unknown part ${JSON.stringify(unreachable)}`);
      }
    }
  }
  const message: Record<string, unknown> = { role: "assistant", content: text === "" && toolCalls.length > 0 ? null : text };
  if (reasoning !== "") message.reasoning_content = reasoning;
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return message;
}
