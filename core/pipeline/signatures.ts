import { createHash } from "node:crypto";
import { SignatureStored } from "../../events/catalog/signature.ts";
import type { Gateway } from "../gateway.ts";
import type { Message, Part, ReasoningPart, Request } from "../ir.ts";

// Signatures across dialects. An answer whose reasoning carries a provider's signature is
// remembered by a digest of the assistant turn. When that turn comes back without them (the
// client's dialect dropped them) and goes to the same provider, they are put back byte-exact
// (Claude and Gemini 3 reject a tool-use continuation without them); when it comes back with
// them and goes to another provider, they are taken out (it would reject them).

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

/**
 * The request as `provider` should see it: remembered signatures it made put back into the
 * assistant turns that lost them, and signatures another provider made taken out (a provider
 * rejects a signature it did not make, e.g. Claude after Gemini answered a turn).
 */
export function signaturesFor(gw: Gateway, request: Request, provider: string): Request {
  const { byKey, owner, order } = gw.projections.get("signatures");
  if (order.length === 0) return request; // the common case, on every attempt: nothing remembered
  const foreign = (signature: string | undefined) => signature !== undefined && owner[signature] !== undefined && owner[signature] !== provider;
  let changed = false;
  const messages = request.messages.map((message): Message => {
    if (message.role !== "assistant") return message;
    if (message.content.some((p) => signed(p) || (p.type === "tool-call" && p.signature))) {
      // The client kept signatures: drop the ones this provider did not make.
      if (!message.content.some((p) => (p.type === "reasoning" || p.type === "tool-call") && foreign(p.signature))) return message;
      changed = true;
      const content = message.content.flatMap((p): Part[] => {
        if (p.type === "reasoning" && foreign(p.signature)) return [];
        if (p.type === "tool-call" && foreign(p.signature)) {
          const { signature: _dropped, ...call } = p;
          return [call];
        }
        return [p];
      });
      return { ...message, content };
    }
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
