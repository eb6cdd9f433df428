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
  order: string[];
}

export const signatures: Projection<SignaturesState> = {
  name: "signatures",
  initial: () => ({ byKey: {}, order: [] }),
  evolve(state, event) {
    if (!isEvent(event, SignatureStored)) return state;
    const { key, provider, reasoning, calls } = event.data;
    if (!(key in state.byKey)) state.order.push(key);
    state.byKey[key] = { provider, reasoning, calls };
    while (state.order.length > MAX_SIGNATURES) delete state.byKey[state.order.shift()!];
    return state;
  },
};
