import { describe, expect, it } from "vitest";
import { encodeRequest } from "../../../core/dialects/anthropic/request.ts";
import { emptyRequest, type Message, type Request } from "../../../core/ir.ts";

// With thinking on, Anthropic rejects a tool-use continuation whose assistant turn has no thinking
// block of its own (a turn another provider answered, whose reasoning cannot be signed for Claude).
// Such a request goes without thinking, and the encoder says so (→ x-sluice-adjustments).

const toolLoop = (assistant: Message["content"]): Message[] => [
  { role: "user", content: [{ type: "text", text: "weather in Paris?" }] },
  { role: "assistant", content: assistant },
  { role: "tool", content: [{ type: "tool-result", toolCallId: "call_1", content: [{ type: "text", text: "21C" }] }] },
];
const call = { type: "tool-call" as const, id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' };

function encode(ir: Request) {
  const notes: string[] = [];
  const body = encodeRequest(ir, (note) => notes.push(note));
  return { body, notes };
}

describe("anthropic encodeRequest: thinking on a tool-use continuation", () => {
  it("an unsigned tool turn (another provider's) goes without thinking, with a note", () => {
    const { body, notes } = encode({ ...emptyRequest("claude-x"), reasoningEffort: "medium", messages: toolLoop([call]) });
    expect(body.thinking).toBeUndefined();
    expect(notes).toEqual(["thinking=off (the tool-use turn being continued has no Claude thinking block: another provider answered it)"]);
  });

  it("the same holds for thinking a Messages client asked for itself", () => {
    const { body, notes } = encode({
      ...emptyRequest("claude-x"), maxTokens: 4000, extra: { thinking: { type: "enabled", budget_tokens: 2000 } },
      messages: toolLoop([{ type: "reasoning", text: "made elsewhere" }, call]),
    });
    expect(body.thinking).toBeUndefined();
    expect(notes).toHaveLength(1);
  });

  it("a signed tool turn keeps its thinking and thinking stays on", () => {
    const { body, notes } = encode({
      ...emptyRequest("claude-x"), reasoningEffort: "medium",
      messages: toolLoop([{ type: "reasoning", text: "let me check", signature: "sig==" }, call]),
    });
    expect(body.thinking).toEqual({ type: "enabled", budget_tokens: 8192 });
    expect((body.messages as Array<{ content: Array<{ type: string }> }>)[1]!.content[0]!.type).toBe("thinking");
    expect(notes).toEqual([]);
  });

  it("a conversation without a pending tool turn keeps thinking", () => {
    const ir: Request = {
      ...emptyRequest("claude-x"), reasoningEffort: "low",
      messages: [
        { role: "user", content: [{ type: "text", text: "hi" }] },
        { role: "assistant", content: [{ type: "text", text: "hello" }] },
        { role: "user", content: [{ type: "text", text: "and?" }] },
      ],
    };
    const { body, notes } = encode(ir);
    expect(body.thinking).toEqual({ type: "enabled", budget_tokens: 2048 });
    expect(notes).toEqual([]);
  });
});
