import type { ImagePart, Part, ToolCallPart } from "../../ir.ts";
import type { GeminiPartBody } from "../../../schemas/gemini.ts";

// Parts of a model turn ⇄ IR parts, shared by requests (history), responses and streams.
//
// Thought signatures. Gemini puts `thoughtSignature` on whichever part follows its thinking:
//   a thought part (`thought: true`)  → a reasoning part with that signature;
//   a function call                   → the tool-call part's own `signature`;
//   any other part (answer text)      → a reasoning part with empty text and the signature, just
//                                       before it; on the way out it is put back on the next part.
// Signatures go back byte for byte: Gemini 3 rejects a function call in the current turn whose
// signature is missing. Calls from another provider have none, so the first call of a model turn
// gets Google's documented placeholder, which tells Gemini to skip the check (and is dropped again
// when read back).

export const SKIP_SIGNATURE = "skip_thought_signature_validator";

/** Gemini function calls often come without an id; ours are `call_<n>`, numbered in order of appearance. */
export const syntheticId = (n: number) => `call_${n}`;
const SYNTHETIC = /^call_\d+$/;
/** Whether to send an id to Gemini: ids we made up mean nothing to it. */
export const sendableId = (id: string) => !SYNTHETIC.test(id);

/** A model turn's parts as IR parts; `idFor` turns a call's wire id (or its absence) into the IR id. */
export function decodeModelParts(parts: GeminiPartBody[], idFor: (id: string | undefined) => string): Part[] {
  const out: Part[] = [];
  for (const part of parts) {
    const signature = part.thoughtSignature !== undefined && part.thoughtSignature !== SKIP_SIGNATURE ? part.thoughtSignature : undefined;
    if (part.functionCall) {
      const { id, name, args } = part.functionCall;
      const call: ToolCallPart = { type: "tool-call", id: idFor(id), name, arguments: JSON.stringify(args ?? {}) };
      if (signature !== undefined) call.signature = signature;
      out.push(call);
      continue;
    }
    if (part.thought && part.text !== undefined) {
      out.push(signature !== undefined ? { type: "reasoning", text: part.text, signature } : { type: "reasoning", text: part.text });
      continue;
    }
    if (signature !== undefined) out.push({ type: "reasoning", text: "", signature });
    const media = decodeMedia(part);
    if (media) out.push(media);
    else if (part.text) out.push({ type: "text", text: part.text });
    // executableCode, codeExecutionResult and the like have no IR meaning: dropped.
  }
  return out;
}

export function decodeMedia(part: GeminiPartBody): ImagePart | undefined {
  // The IR has images only; other media (PDF, audio) travel as images of their own MIME type.
  if (part.inlineData) return { type: "image", source: { kind: "base64", mediaType: part.inlineData.mimeType, data: part.inlineData.data } };
  if (part.fileData) return { type: "image", source: { kind: "url", url: part.fileData.fileUri } };
  return undefined;
}

export function encodeMedia(part: ImagePart): Record<string, unknown> {
  if (part.source.kind === "base64") return { inlineData: { mimeType: part.source.mediaType, data: part.source.data } };
  const mimeType = mimeOf(part.source.url);
  return { fileData: mimeType ? { mimeType, fileUri: part.source.url } : { fileUri: part.source.url } };
}

const MIME: Record<string, string> = {
  jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", webp: "image/webp", gif: "image/gif",
  heic: "image/heic", heif: "image/heif", pdf: "application/pdf",
};

/** A URL's MIME type by its extension; unknown (a Files API URI) leaves it to Gemini. */
function mimeOf(url: string): string | undefined {
  const path = url.split(/[?#]/)[0]!;
  const ext = /\.([a-z0-9]+)$/i.exec(path)?.[1]?.toLowerCase();
  return ext ? MIME[ext] : undefined;
}

/**
 * IR parts of an assistant turn as Gemini parts (tool results are skipped). `placeholder`: give an
 * unsigned first call the skip-validation signature (requests only; a client never needs it).
 */
export function encodeModelParts(parts: Part[], placeholder: boolean): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  let pending: string | undefined; // a signature waiting for the part it belongs on
  let firstCall = true;
  const signed = (wire: Record<string, unknown>, signature = pending) => {
    pending = undefined;
    out.push(signature !== undefined ? { ...wire, thoughtSignature: signature } : wire);
  };
  const flush = () => {
    if (pending !== undefined) signed({ text: "" });
  };
  for (const part of parts) {
    switch (part.type) {
      case "reasoning":
        if (part.text === "" && part.signature !== undefined) {
          flush();
          pending = part.signature;
        } else {
          flush();
          signed({ text: part.text, thought: true }, part.signature);
        }
        break;
      case "text":
        signed({ text: part.text });
        break;
      case "image":
        signed(encodeMedia(part));
        break;
      case "tool-call": {
        const call: Record<string, unknown> = { name: part.name, args: parseArguments(part.arguments) };
        if (sendableId(part.id)) call.id = part.id;
        const own = part.signature ?? pending;
        signed({ functionCall: call }, own ?? (firstCall && placeholder ? SKIP_SIGNATURE : undefined));
        firstCall = false;
        break;
      }
      case "tool-result":
        break; // a model turn cannot carry one
      default: {
        const unreachable: never = part;
        throw new Error(`unknown part ${JSON.stringify(unreachable)}`);
      }
    }
  }
  flush();
  return out;
}

/** Gemini takes arguments as an object; text that is not a JSON object (a model's broken output) becomes `{}`. */
export function parseArguments(text: string): Record<string, unknown> {
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  return {};
}
