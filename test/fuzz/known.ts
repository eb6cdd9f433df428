import type { Case, Endpoint } from "./arbitraries.ts";
import type { Outcome } from "./http.ts";

// Bugs the fuzzer found in code it may not change, each with a reproduction. While one is open,
// the fuzzer counts its cases instead of failing on them (the summary says how many);
// FUZZ_STRICT=1 turns every waiver off. Delete an entry once its bug is fixed.

export const STRICT = process.env.FUZZ_STRICT === "1";

export interface Known {
  id: string;
  /** What is wrong, and a request that shows it. */
  description: string;
  /** A case not to send at all (it would block the gateway for seconds or more). */
  skip?(endpoint: Endpoint, c: Case): boolean;
  /** A reply (or a failed exchange) to count instead of failing on. */
  waive?(endpoint: Endpoint, c: Case, outcome: Outcome): boolean;
}

// All five bugs this list held were fixed (prototype-named models, bad percent-encoding in a
// Gemini path, control characters in a model name, embeddings on a kind without them, and the
// tokenizer's quadratic time on long runs); the fuzzer now fails on any of them.
export const KNOWN: Known[] = [];

/** The model a case asks for: Gemini's from the path, else the body's (the last `model`, as JSON.parse reads it). */
function modelOf(endpoint: Endpoint, c: Case): string | undefined {
  if (endpoint.dialect === "gemini" && endpoint.kind !== "embeddings") {
    const segment = /\/models\/([^:?]+):/.exec(c.path)?.[1];
    try {
      return segment === undefined ? undefined : decodeURIComponent(segment);
    } catch {
      return undefined;
    }
  }
  try {
    const model = (JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(c.bytes)) as { model?: unknown }).model;
    return typeof model === "string" ? model : undefined;
  } catch {
    return undefined;
  }
}

/** The model path segment of a Gemini case, still percent-encoded. */
const segmentOf = (c: Case) => /\/models\/([^:?]*):/.exec(c.path)?.[1];

function decodes(text: string): boolean {
  try {
    decodeURIComponent(text);
    return true;
  } catch {
    return false;
  }
}

export const waived = new Map<string, number>();
/** Request ids of waived replies: their event-log records carry the same bug (see fuzz.test.ts). */
export const waivedRequests = new Set<string>();

function note(id: string): true {
  waived.set(id, (waived.get(id) ?? 0) + 1);
  return true;
}

export function skipKnown(endpoint: Endpoint, c: Case): boolean {
  if (STRICT) return false;
  const known = KNOWN.find((k) => k.skip?.(endpoint, c));
  return known ? note(known.id) : false;
}

export function waiveKnown(endpoint: Endpoint, c: Case, outcome: Outcome): boolean {
  if (STRICT) return false;
  const known = KNOWN.find((k) => k.waive?.(endpoint, c, outcome));
  if (!known) return false;
  if ("reply" in outcome && outcome.reply.requestId) waivedRequests.add(outcome.reply.requestId);
  return note(known.id);
}
