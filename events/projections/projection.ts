import type { EventRecord } from "../define.ts";

/**
 * A projection is a pure fold over the log: no I/O, no clock, no randomness (time comes from
 * `event.at`). The same fold runs live and in `sluice replay`, so a rebuild equals live state.
 */
export interface Projection<S> {
  name: string;
  initial(): S;
  evolve(state: S, event: EventRecord): S;
}

export function fold<S>(projection: Projection<S>, events: Iterable<EventRecord>, from: S = projection.initial()): S {
  let state = from;
  for (const event of events) state = projection.evolve(state, event);
  return state;
}
