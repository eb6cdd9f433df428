import { RequestCancelled, RequestCompleted, RequestFailed, RequestReceived } from "../catalog/request.ts";
import { isEvent, type EventRecord } from "../define.ts";
import type { Projection } from "./projection.ts";

// Request counts and token usage per model. The public model (what the client asked for)
// is counted on arrival; outcomes and tokens are counted against the upstream model that served.

export interface ModelUsage {
  requests: number;
  completed: number;
  failed: number;
  cancelled: number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  reasoningTokens: number;
}

export interface UsageState {
  /** Requests received per requested model name. */
  received: Record<string, number>;
  /** Outcomes and tokens per served target ("provider/model"). */
  byTarget: Record<string, ModelUsage>;
  totals: { requests: number; completed: number; failed: number; cancelled: number };
}

const emptyUsage = (): ModelUsage => ({
  requests: 0, completed: 0, failed: 0, cancelled: 0,
  inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, reasoningTokens: 0,
});

type Outcome = "completed" | "failed" | "cancelled";

function count(state: UsageState, target: string | undefined, outcome: Outcome, usage?: {
  input_tokens: number; output_tokens: number; cached_input_tokens?: number; reasoning_tokens?: number;
}): UsageState {
  const totals = { ...state.totals, [outcome]: state.totals[outcome] + 1 };
  if (target === undefined) return { ...state, totals };
  const before = state.byTarget[target] ?? emptyUsage();
  const after: ModelUsage = {
    ...before,
    requests: before.requests + 1,
    [outcome]: before[outcome] + 1,
    inputTokens: before.inputTokens + (usage?.input_tokens ?? 0),
    outputTokens: before.outputTokens + (usage?.output_tokens ?? 0),
    cachedInputTokens: before.cachedInputTokens + (usage?.cached_input_tokens ?? 0),
    reasoningTokens: before.reasoningTokens + (usage?.reasoning_tokens ?? 0),
  };
  return { ...state, totals, byTarget: { ...state.byTarget, [target]: after } };
}

export const usage: Projection<UsageState> = {
  name: "usage",
  initial: () => ({ received: {}, byTarget: {}, totals: { requests: 0, completed: 0, failed: 0, cancelled: 0 } }),
  evolve(state, event: EventRecord) {
    if (isEvent(event, RequestReceived)) {
      const model = event.data.model;
      return {
        ...state,
        received: { ...state.received, [model]: (Object.hasOwn(state.received, model) ? state.received[model]! : 0) + 1 },
        totals: { ...state.totals, requests: state.totals.requests + 1 },
      };
    }
    if (isEvent(event, RequestCompleted)) return count(state, event.data.target, "completed", event.data.usage);
    if (isEvent(event, RequestFailed)) return count(state, event.data.target, "failed", event.data.usage);
    if (isEvent(event, RequestCancelled)) return count(state, event.data.target, "cancelled", event.data.usage);
    return state;
  },
};
