import { AttemptFailed, AttemptSucceeded } from "../catalog/request.ts";
import { isEvent } from "../define.ts";
import type { Projection } from "./projection.ts";

// Upstream health per provider, from attempt outcomes: the input routing reads.

export interface ProviderHealth {
  lastSuccessAt?: number;
  lastFailureAt?: number;
  lastFailureReason?: string;
  lastFailureStatus?: number;
  consecutiveFailures: number;
  successes: number;
  failures: number;
  /** Time to upstream headers of the last success, ms. */
  lastTtfbMs?: number;
}

export type HealthState = Record<string, ProviderHealth>;

const fresh = (): ProviderHealth => ({ consecutiveFailures: 0, successes: 0, failures: 0 });

export const health: Projection<HealthState> = {
  name: "health",
  initial: () => ({}),
  evolve(state, event) {
    if (isEvent(event, AttemptSucceeded)) {
      const before = state[event.data.provider] ?? fresh();
      return {
        ...state,
        [event.data.provider]: {
          ...before,
          lastSuccessAt: event.at,
          lastTtfbMs: event.data.ttfb_ms,
          consecutiveFailures: 0,
          successes: before.successes + 1,
        },
      };
    }
    if (isEvent(event, AttemptFailed)) {
      const before = state[event.data.provider] ?? fresh();
      return {
        ...state,
        [event.data.provider]: {
          ...before,
          lastFailureAt: event.at,
          lastFailureReason: event.data.reason,
          lastFailureStatus: event.data.status,
          consecutiveFailures: before.consecutiveFailures + 1,
          failures: before.failures + 1,
        },
      };
    }
    return state;
  },
};
