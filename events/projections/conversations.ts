import { ResponseStored } from "../catalog/response.ts";
import { isEvent } from "../define.ts";
import type { Projection } from "./projection.ts";

// Stored Responses-API turns by response id, for `previous_response_id`. Bounded: the oldest
// turns beyond MAX_STORED are forgotten (a continuation of one of them is refused as unknown).
// The fold owns its state, so it updates it in place: copying thousands of turns per event
// would make every request pay for the whole store.

export const MAX_STORED = 10_000;

export interface StoredTurn {
  previous?: string;
  input: unknown[];
  output: unknown[];
}

export interface ConversationsState {
  turns: Record<string, StoredTurn>;
  /** Ids in the order they were stored, oldest first. */
  order: string[];
}

export const conversations: Projection<ConversationsState> = {
  name: "conversations",
  initial: () => ({ turns: {}, order: [] }),
  evolve(state, event) {
    if (!isEvent(event, ResponseStored)) return state;
    const { id, previous, input, output } = event.data;
    if (!Object.hasOwn(state.turns, id)) state.order.push(id);
    state.turns[id] = { ...(previous ? { previous } : {}), input, output };
    while (state.order.length > MAX_STORED) delete state.turns[state.order.shift()!];
    return state;
  },
};
