import { SignatureStored } from "../catalog/signature.ts";
import { isEvent } from "../define.ts";
import type { Projection } from "./projection.ts";

// Stored reasoning signatures by assistant-turn digest. Bounded like `conversations`, and updated
// in place for the same reason (the fold owns its state).

export const MAX_SIGNATURES = 10_000;

export interface StoredSignatures {
  provider: string;
  reasoning: unknown[];
  calls: Record<string, string>;
}

export interface SignaturesState {
  byKey: Record<string, StoredSignatures>;
  /** Which provider made each remembered signature. */
  owner: Record<string, string>;
  order: string[];
}

function signaturesOf(stored: { reasoning: unknown[]; calls: Record<string, string> }): string[] {
  const reasoning = stored.reasoning.flatMap((part) => {
    const signature = (part as { signature?: unknown }).signature;
    return typeof signature === "string" && signature !== "" ? [signature] : [];
  });
  return [...reasoning, ...Object.values(stored.calls)];
}

export const signatures: Projection<SignaturesState> = {
  name: "signatures",
  initial: () => ({ byKey: {}, owner: {}, order: [] }),
  evolve(state, event) {
    if (!isEvent(event, SignatureStored)) return state;
    const { key, provider, reasoning, calls } = event.data;
    if (!(key in state.byKey)) state.order.push(key);
    state.byKey[key] = { provider, reasoning, calls };
    for (const signature of signaturesOf(event.data)) state.owner[signature] = provider;
    while (state.order.length > MAX_SIGNATURES) {
      const evicted = state.order.shift()!;
      for (const signature of signaturesOf(state.byKey[evicted]!)) delete state.owner[signature];
      delete state.byKey[evicted];
    }
    return state;
  },
};
