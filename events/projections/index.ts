import type { EventLog } from "../log.ts";
import type { EventRecord } from "../define.ts";
import { conversations, type ConversationsState } from "./conversations.ts";
import { health, type HealthState } from "./health.ts";
import { fold, type Projection } from "./projection.ts";
import { keys, type KeysState } from "./keys.ts";
import { requests, type RequestsState } from "./requests.ts";
import { routing, type RoutingState } from "./routing.ts";
import { signatures, type SignaturesState } from "./signatures.ts";
import { tokenAccuracy, type TokenAccuracyState } from "./token-accuracy.ts";
import { usage, type UsageState } from "./usage.ts";
import { usageRollup, type UsageRollupState } from "./usage-rollup.ts";

export { fold, type Projection } from "./projection.ts";
export { health, availability, type HealthState, type Health, type Availability } from "./health.ts";
export { routing, type RoutingState } from "./routing.ts";
export { requests, requestsProjection, type RequestsState, type RequestSummary, type RequestFilter } from "./requests.ts";
export { keys, periodOf, spentBy, type KeysState, type CallerKey, type Spend } from "./keys.ts";
export { usage, type UsageState, type ModelUsage } from "./usage.ts";
export { usageRollup, type UsageRollupState, type UsageBucket } from "./usage-rollup.ts";
export { conversations, type ConversationsState, type StoredTurn } from "./conversations.ts";
export { signatures, type SignaturesState, type StoredSignatures } from "./signatures.ts";
export { tokenAccuracy, calibration, CALIBRATION_SAMPLES, type TokenAccuracyState, type TokenAccuracy } from "./token-accuracy.ts";

/** Every projection Sluice keeps live and rebuilds on replay. */
export const projections = [usage, health, routing, keys, conversations, signatures, tokenAccuracy, usageRollup, requests] as const;

/** The state of every projection, by name. */
export interface ProjectionStates {
  usage: UsageState;
  health: HealthState;
  routing: RoutingState;
  keys: KeysState;
  conversations: ConversationsState;
  signatures: SignaturesState;
  tokenAccuracy: TokenAccuracyState;
  usageRollup: UsageRollupState;
  requests: RequestsState;
}

function step(states: Record<string, unknown>, event: EventRecord): void {
  for (const projection of projections) {
    states[projection.name] = (projection as Projection<unknown>).evolve(states[projection.name], event);
  }
}

/** Fold every projection over the given events from their initial states. */
export function rebuild(events: Iterable<EventRecord>): ProjectionStates {
  const states = Object.fromEntries(projections.map((p) => [p.name, p.initial()])) as Record<string, unknown>;
  for (const event of events) step(states, event);
  return states as unknown as ProjectionStates;
}

/** Projections kept up to date as events commit: rebuilt from the log once, then folded live. */
export class LiveProjections {
  private states: Record<string, unknown>;
  private readonly unsubscribe: () => void;

  constructor(log: EventLog) {
    this.states = rebuild(log.all()) as unknown as Record<string, unknown>;
    this.unsubscribe = log.subscribe((event) => step(this.states, event));
  }

  get<K extends keyof ProjectionStates>(name: K): ProjectionStates[K] {
    return this.states[name as string] as ProjectionStates[K];
  }

  snapshot(): ProjectionStates {
    return { ...this.states } as unknown as ProjectionStates;
  }

  stop(): void {
    this.unsubscribe();
  }
}
