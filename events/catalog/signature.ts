import { Type } from "@sinclair/typebox";
import { defineEvent } from "../define.ts";

// Reasoning signatures (Anthropic thinking, Gemini thought signatures) of answers that went to a
// client whose dialect cannot carry them (e.g. OpenAI Chat). Kept so that when the client sends
// the same assistant turn back and it goes to the provider that made them, they are re-attached
// byte-exact; another provider never sees them.

export const SignatureStored = defineEvent("signature.stored", Type.Object({
  request: Type.String(),
  /** The provider id whose model produced the signatures. */
  provider: Type.String(),
  /** Digest of the assistant turn as the client will send it back (text and tool calls). */
  key: Type.String(),
  /** IR reasoning parts carrying a signature or redacted data, in order. */
  reasoning: Type.Array(Type.Unknown()),
  /** Tool-call id → signature (Gemini's thoughtSignature on a function call). */
  calls: Type.Record(Type.String(), Type.String()),
}));
