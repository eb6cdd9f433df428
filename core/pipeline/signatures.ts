import { createHash } from "node:crypto";
import { SignatureStored } from "../../events/catalog/signature.ts";
import type { Gateway } from "../gateway.ts";
import type { Message, Part, ReasoningPart, Request } from "../ir.ts";

// Signatures across dialects. An answer whose reasoning carries a provider's signature, sent to
// a client whose dialect drops it, is remembered by a digest of the assistant turn; when that
// turn comes back and goes to the same provider, the signatures are put back byte-exact (Claude
// and Gemini 3 reject a tool-use continuation without them). Another provider never gets them.

/** The assistant turn as a client echoes it: its text and its tool calls (arguments normalised). */
function keyOf(parts: Part[]): string | undefined {
  const text = parts.filter((p) => p.type === "text").map((p) => p.text).join("").trim();
  const calls = parts.flatMap((p) => (p.type === "tool-call" ? [[p.id, p.name, normalised(p.arguments)]] : []));
  if (!text && calls.length === 0) return undefined;
  return createHash("sha256").update(JSON.stringify({ text, calls })).digest("base64url");
}

function normalised(args: string): string {
  try {
    return JSON.stringify(JSON.parse(args));
  } catch {
    return args;
  }
}

const signed = (part: Part): part is ReasoningPart => part.type === "reasoning" && (part.signature !== undefined || part.redacted !== undefined);

/** Remember the signatures of an answer served by `provider` (no-op when it has none). */
export function rememberSignatures(gw: Gateway, request: string, provider: string, content: Part[]): void {
  const reasoning = content.filter(signed);
  const calls = Object.fromEntries(content.flatMap((p) => (p.type === "tool-call" && p.signature ? [[p.id, p.signature]] : [])));
  if (reasoning.length === 0 && Object.keys(calls).length === 0) return;
  const key = keyOf(content);
  if (!key) return;
  void gw.log.append(SignatureStored, { request, provider, key, reasoning, calls });
}

/** The request with remembered signatures put back into assistant turns bound for `provider`. */
export function attachSignatures(gw: Gateway, request: Request, provider: string): Request {
  const { byKey } = gw.projections.get("signatures");
  if (Object.keys(byKey).length === 0) return request;
  let changed = false;
  const messages = request.messages.map((message): Message => {
    if (message.role !== "assistant" || message.content.some((p) => signed(p) || (p.type === "tool-call" && p.signature))) return message;
    const key = keyOf(message.content);
    const stored = key ? byKey[key] : undefined;
    if (!stored || stored.provider !== provider) return message;
    changed = true;
    const content = message.content
      .filter((p) => p.type !== "reasoning")
      .map((p) => (p.type === "tool-call" && stored.calls[p.id] ? { ...p, signature: stored.calls[p.id]! } : p));
    return { ...message, content: [...(stored.reasoning as Part[]), ...content] };
  });
  return changed ? { ...request, messages } : request;
}
