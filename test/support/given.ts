import type { EventDefinition, EventData, EventRecord } from "../../events/define.ts";
import { fold, type Projection } from "../../events/projections/projection.ts";

/** Build a committed-looking event for projection tests. */
export function event<D extends EventDefinition>(definition: D, data: EventData<D>, at: number, seq = 0): EventRecord {
  if (!definition.check.Check(data)) throw new Error(`bad test event ${definition.type}`);
  return { seq, id: `e${seq}`, type: definition.type, at, data };
}

/** given(events).when(projection).then(expected) — projections read as a story. */
export function given(events: EventRecord[]) {
  const numbered = events.map((e, i) => ({ ...e, seq: i + 1 }));
  return {
    when<S>(projection: Projection<S>) {
      const state = fold(projection, numbered);
      return { state, then: (check: (state: S) => void) => check(state) };
    },
  };
}
