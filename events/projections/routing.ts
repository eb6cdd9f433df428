import { RequestCancelled, RequestCompleted, RequestFailed } from "../catalog/request.ts";
import { RouteDecided } from "../catalog/routing.ts";
import { isEvent } from "../define.ts";
import type { Projection } from "./projection.ts";

// What routing remembers between requests, besides health: how many decisions each route has
// made (the round-robin position) and, for prompt-cache affinity, which target last answered a
// conversation prefix. Bounded; updated in place like the other large folds.

export const MAX_STICKY = 10_000;

export interface RoutingState {
  /** route.decided events so far, per route. */
  decisions: Record<string, number>;
  /** Affinity digest → the target that last answered a request with that prefix. */
  sticky: Record<string, string>;
  /** Digests in the order they were last set, oldest first. */
  stickyOrder: string[];
  /** Requests still running → their affinity digest. */
  pending: Record<string, string>;
}

export const routing: Projection<RoutingState> = {
  name: "routing",
  initial: () => ({ decisions: {}, sticky: {}, stickyOrder: [], pending: {} }),
  evolve(state, event) {
    if (isEvent(event, RouteDecided)) {
      const { route, affinity, request } = event.data;
      if (route !== undefined) state.decisions[route] = (state.decisions[route] ?? 0) + 1;
      if (affinity !== undefined) state.pending[request] = affinity;
      return state;
    }
    if (isEvent(event, RequestCompleted) || isEvent(event, RequestFailed) || isEvent(event, RequestCancelled)) {
      const digest = state.pending[event.data.request];
      if (digest === undefined) return state;
      delete state.pending[event.data.request];
      // An answer from the response cache warmed no upstream's prompt cache: the holder stays.
      if (isEvent(event, RequestCompleted) && !event.data.cached) {
        if (digest in state.sticky) state.stickyOrder.splice(state.stickyOrder.indexOf(digest), 1);
        state.sticky[digest] = event.data.target;
        state.stickyOrder.push(digest);
        while (state.stickyOrder.length > MAX_STICKY) delete state.sticky[state.stickyOrder.shift()!];
      }
      return state;
    }
    return state;
  },
};
