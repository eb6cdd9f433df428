import { TokensEstimated } from "../catalog/tokens.ts";
import { isEvent } from "../define.ts";
import type { Projection } from "./projection.ts";

// Per target, how Sluice's token estimates compare with the input tokens the upstream reported:
// the ratio reported/estimated that count_tokens applies once enough samples are in.

export interface TokenAccuracy {
  samples: number;
  estimated: number;
  reported: number;
}

export type TokenAccuracyState = Record<string, TokenAccuracy>;

/** Samples needed before an estimate is corrected by the observed ratio. */
export const CALIBRATION_SAMPLES = 5;

export const tokenAccuracy: Projection<TokenAccuracyState> = {
  name: "tokenAccuracy",
  initial: () => ({}),
  evolve(state, event) {
    if (!isEvent(event, TokensEstimated) || event.data.estimated === 0) return state;
    const before = state[event.data.target] ?? { samples: 0, estimated: 0, reported: 0 };
    return {
      ...state,
      [event.data.target]: {
        samples: before.samples + 1,
        estimated: before.estimated + event.data.estimated,
        reported: before.reported + event.data.reported,
      },
    };
  },
};

/** reported/estimated for a target, or undefined while there are too few samples. */
export function calibration(state: TokenAccuracyState, target: string): number | undefined {
  const entry = state[target];
  return entry && entry.samples >= CALIBRATION_SAMPLES && entry.estimated > 0 ? entry.reported / entry.estimated : undefined;
}
