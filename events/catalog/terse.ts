import { Type } from "@sinclair/typebox";
import { defineEvent } from "../define.ts";

// Terse output mode (a route's `terse`, or the header `x-sluice-terse: on`): which arm a request
// was in. `terse` got the instruction appended to its system prompt; `control` is the route's
// holdout, sent without it, so that the instruction's effect on output tokens is measured;
// `forced` got the instruction because its header asked (it chose itself, so it is left out of
// the comparison).

export const TerseApplied = defineEvent("terse.applied", Type.Object({
  request: Type.String(),
  arm: Type.Union([Type.Literal("terse"), Type.Literal("control"), Type.Literal("forced")]),
}));
