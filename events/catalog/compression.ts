import { Type } from "@sinclair/typebox";
import { defineEvent } from "../define.ts";

// What a compressor saved on one request: input tokens of the part it was allowed to change
// (the newest turn), before and after, counted with Sluice's tokenizer.

export const CompressionApplied = defineEvent("compression.applied", Type.Object({
  request: Type.String(),
  compressor: Type.String(),
  tokens_before: Type.Integer({ minimum: 0 }),
  tokens_after: Type.Integer({ minimum: 0 }),
}));
