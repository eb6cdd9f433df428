import { TokensEstimated } from "../../events/catalog/tokens.ts";
import type { Usage } from "../ir.ts";
import type { Target } from "../routing/resolve.ts";
import { countTokens } from "../tokens/count.ts";
import type { RequestContext } from "./attempt.ts";

// For a sample of answered requests, count the input with Sluice's own tokenizer and put it on
// record beside what the upstream reported (the tokenAccuracy projection). Counting a long
// prompt takes milliseconds, so it runs after the answer has gone out, and only for a sample.

export function sampleEstimate(ctx: RequestContext, target: Target, usage: Usage | undefined): void {
  const rate = ctx.gw.config.tokens.estimate_sample;
  if (!usage || usage.inputTokens <= 0 || rate <= 0 || Math.random() >= rate) return;
  setTimeout(() => {
    try {
      const estimated = countTokens(ctx.ir).total;
      ctx.gw.log.append(TokensEstimated, { request: ctx.id, target: target.id, estimated, reported: usage.inputTokens }).catch(() => {});
    } catch (error) {
      ctx.gw.logger.warn({ request: ctx.id, err: error instanceof Error ? error.message : String(error) }, "token estimate failed");
    }
  }, 0);
}
