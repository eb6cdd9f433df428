import type { CompressorPlugin, IR } from "../../core/plugins/hooks.ts";

// A compressor that rewrites text: the shape every built-in compressor has. `compressText` gets
// one text (a tool result's, or the user's when the compressor touches user text) and returns a
// shorter one, or undefined to leave it. It must be deterministic (the same text, the same
// result) and keep every error message, file path, line number and failing test name.

export type TextCompressor = (text: string) => string | undefined;

export function textCompressor(name: string, touches: CompressorPlugin["touches"], compressText: TextCompressor): CompressorPlugin {
  const users = touches.includes("user-text");
  const tools = touches.includes("tool-results");
  const apply = (text: string): string => {
    const out = compressText(text);
    return out !== undefined && out.length < text.length ? out : text;
  };
  return {
    hook: "compressor",
    name,
    touches,
    compress(request: IR.Request) {
      let changed = false;
      const messages = request.messages.map((message) => {
        const content = message.content.map((part) => {
          if (part.type === "text" && users && message.role === "user") {
            const text = apply(part.text);
            if (text === part.text) return part;
            changed = true;
            return { ...part, text };
          }
          if (part.type === "tool-result" && tools) {
            let partChanged = false;
            const inner = part.content.map((c) => {
              if (c.type !== "text") return c;
              const text = apply(c.text);
              if (text === c.text) return c;
              partChanged = true;
              return { ...c, text };
            });
            if (!partChanged) return part;
            changed = true;
            return { ...part, content: inner };
          }
          return part;
        });
        return content === message.content ? message : { ...message, content };
      });
      return changed ? { ...request, messages } : undefined;
    },
  };
}
