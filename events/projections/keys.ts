import type { Static } from "@sinclair/typebox";
import { KeyCreated, KeyRevoked, type KeyLimits } from "../catalog/key.ts";
import { RequestCancelled, RequestCompleted, RequestFailed, RequestReceived } from "../catalog/request.ts";
import { isEvent } from "../define.ts";
import type { Projection } from "./projection.ts";

// Caller keys and what each has spent in its budget period, folded from key.* events and the
// cost recorded on each request's final event. Updated in place (like the other large folds).

export interface CallerKey extends Static<typeof KeyLimits> {
  id: string;
  name: string;
  hash: string;
  prefix: string;
  created_at: number;
  revoked_at?: number;
}

export interface Spend {
  /** The budget period the sum belongs to ("2026-11-23", "2026-11" or "total"). */
  period: string;
  usd: number;
  requests: number;
}

export interface KeysState {
  keys: Record<string, CallerKey>;
  /** SHA-256 hex → key id. */
  byHash: Record<string, string>;
  spend: Record<string, Spend>;
  /** Requests in flight → the key that made them (until their final event). */
  callers: Record<string, string>;
}

/** The budget period `at` falls in, by UTC calendar. */
export function periodOf(period: CallerKey["budget_period"], at: number): string {
  const iso = new Date(at).toISOString();
  if (period === "day") return iso.slice(0, 10);
  if (period === "month") return iso.slice(0, 7);
  return "total";
}

/** What a key has spent in the period `now` falls in. */
export function spentBy(state: KeysState, id: string, now: number): number {
  const key = state.keys[id];
  const spend = state.spend[id];
  if (!key || !spend) return 0;
  return spend.period === periodOf(key.budget_period, now) ? spend.usd : 0;
}

export const keys: Projection<KeysState> = {
  name: "keys",
  initial: () => ({ keys: {}, byHash: {}, spend: {}, callers: {} }),
  evolve(state, event) {
    if (isEvent(event, KeyCreated)) {
      const { key, via: _via, ...rest } = event.data;
      state.keys[key] = { ...rest, id: key, created_at: event.at };
      state.byHash[rest.hash] = key;
      return state;
    }
    if (isEvent(event, KeyRevoked)) {
      const key = state.keys[event.data.key];
      if (key && key.revoked_at === undefined) key.revoked_at = event.at;
      return state;
    }
    if (isEvent(event, RequestReceived)) {
      if (event.data.caller !== undefined && event.data.caller in state.keys) state.callers[event.data.request] = event.data.caller;
      return state;
    }
    if (isEvent(event, RequestCompleted) || isEvent(event, RequestFailed) || isEvent(event, RequestCancelled)) {
      const caller = state.callers[event.data.request];
      if (caller === undefined) return state;
      delete state.callers[event.data.request];
      const period = periodOf(state.keys[caller]?.budget_period, event.at);
      const before = state.spend[caller];
      const base = before && before.period === period ? before : { period, usd: 0, requests: 0 };
      state.spend[caller] = { period, usd: base.usd + (event.data.cost_usd ?? 0), requests: base.requests + 1 };
      return state;
    }
    return state;
  },
};
