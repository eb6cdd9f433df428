import type { Static } from "@sinclair/typebox";
import {
  AttemptFailed, AttemptStarted, RequestCancelled, RequestCompleted, RequestFailed, RequestReceived, Usage,
} from "../catalog/request.ts";
import { RouteDecided } from "../catalog/routing.ts";
import { ServerStarted } from "../catalog/server.ts";
import { isEvent, type EventRecord } from "../define.ts";
import type { Projection } from "./projection.ts";

// The request log's recent past: one summary per request, the newest MAX_REQUESTS of them, for
// `GET /api/requests`. A page is read from memory, never by scanning the log (which has no index
// on the request column); older pages are the log's, read by seq range. The fold owns its state
// and updates it in place (like `conversations`): copying 20 000 rows per event would not do.
// 20 000 rows are about 10 MB; older pages come from the log.

export const MAX_REQUESTS = 20_000;

export type RequestOutcome = "in_flight" | "completed" | "failed" | "cancelled" | "interrupted";
export const OUTCOMES: readonly RequestOutcome[] = ["in_flight", "completed", "failed", "cancelled", "interrupted"];

export interface RequestSummary {
  /** The seq of the request's first event: its place in the log (and the list's cursor). */
  seq: number;
  id: string;
  /** Arrival, ms since epoch. */
  at: number;
  dialect: string;
  endpoint: string;
  /** The model the client asked for (provider/model, route, alias or bare name). */
  model: string;
  stream: boolean;
  /** The caller key's id. */
  caller?: string;
  route?: string;
  alias?: string;
  strategy?: string;
  tier?: string;
  /** The target that answered; for a request that failed, the last one tried. */
  target?: string;
  provider?: string;
  attempts: number;
  /** Attempts that failed over to the next target. */
  fallbacks: number;
  /** Attempts that failed and were tried again on the same target. */
  retries: number;
  /** Absent while in flight and for an interrupted request. */
  status?: number;
  outcome: RequestOutcome;
  /** The error kind of a failed request. */
  reason?: string;
  ttfb_ms?: number;
  total_ms?: number;
  usage?: Static<typeof Usage>;
  cost_usd?: number;
  /** Answered from the response cache (no attempt; target is the kept answer's). */
  cached?: true;
}

export interface RequestsState {
  /** Summaries in arrival (seq) order, oldest first; at most capacity + a tenth. */
  rows: RequestSummary[];
  /** Rows by request id (kept beside `rows`; not part of the state's JSON). */
  byId: Map<string, RequestSummary>;
  /** How many older requests left the list (the log still has them), and the newest one's arrival. */
  evicted: number;
  evictedAt: number;
}

function trim(state: RequestsState, capacity: number): void {
  // Drop in batches: one copy per tenth of the capacity, not one per request.
  if (state.rows.length <= capacity + Math.max(1, Math.floor(capacity / 10))) return;
  const gone = state.rows.splice(0, state.rows.length - capacity);
  for (const row of gone) state.byId.delete(row.id);
  state.evicted += gone.length;
  state.evictedAt = gone[gone.length - 1]!.at;
}

/** A row for a terminal event of a request whose arrival is not on record (a gateway bug before it). */
function orphan(state: RequestsState, event: EventRecord, request: string, totalMs: number, capacity: number): RequestSummary | undefined {
  const at = Math.round(event.at - totalMs);
  // An evicted request's late end is not a new request.
  if (state.evicted > 0 && at <= state.evictedAt) return undefined;
  const row: RequestSummary = {
    seq: event.seq, id: request, at, dialect: "", endpoint: "", model: "", stream: false,
    attempts: 0, fallbacks: 0, retries: 0, outcome: "in_flight",
  };
  state.rows.push(row);
  state.byId.set(request, row);
  trim(state, capacity);
  return row;
}

interface Served {
  target?: string;
  provider?: string;
  usage?: Static<typeof Usage>;
  cost_usd?: number;
}

function end(row: RequestSummary, outcome: RequestOutcome, d: Served & { status: number; attempts: number; total_ms: number }): void {
  row.outcome = outcome;
  row.status = d.status;
  row.attempts = Math.max(row.attempts, d.attempts);
  row.total_ms = d.total_ms;
  if (d.target !== undefined) row.target = d.target;
  if (d.provider !== undefined) row.provider = d.provider;
  if (d.usage !== undefined) row.usage = d.usage;
  if (d.cost_usd !== undefined) row.cost_usd = d.cost_usd;
}

/** The requests projection, keeping the newest `capacity` requests. */
export function requestsProjection(capacity = MAX_REQUESTS): Projection<RequestsState> {
  return {
    name: "requests",
    initial: () => ({ rows: [], byId: new Map(), evicted: 0, evictedAt: 0 }),
    evolve(state, event) {
      if (isEvent(event, RequestReceived)) {
        const d = event.data;
        if (state.byId.has(d.request)) return state;
        const row: RequestSummary = {
          seq: event.seq, id: d.request, at: event.at, dialect: d.dialect, endpoint: d.endpoint, model: d.model, stream: d.stream,
          ...(d.caller !== undefined ? { caller: d.caller } : {}),
          attempts: 0, fallbacks: 0, retries: 0, outcome: "in_flight",
        };
        state.rows.push(row);
        state.byId.set(d.request, row);
        trim(state, capacity);
        return state;
      }
      if (isEvent(event, ServerStarted)) {
        // A new server: whatever the last one left without an end was cut off by its stop.
        for (const row of state.rows) if (row.outcome === "in_flight") row.outcome = "interrupted";
        return state;
      }
      if (isEvent(event, RequestCompleted) || isEvent(event, RequestFailed) || isEvent(event, RequestCancelled)) {
        const d = event.data;
        const row = state.byId.get(d.request) ?? orphan(state, event, d.request, d.total_ms, capacity);
        if (!row) return state;
        if (isEvent(event, RequestCompleted)) {
          end(row, "completed", event.data);
          row.ttfb_ms = event.data.ttfb_ms;
          row.stream = event.data.stream;
          if (event.data.cached) row.cached = true;
        } else if (isEvent(event, RequestFailed)) {
          end(row, "failed", event.data);
          row.reason = event.data.reason;
        } else {
          end(row, "cancelled", d);
        }
        return state;
      }
      const request = (event.data as { request?: unknown }).request;
      const row = typeof request === "string" ? state.byId.get(request) : undefined;
      if (!row) return state;
      if (isEvent(event, RouteDecided)) {
        const d = event.data;
        row.strategy = d.strategy;
        if (d.route !== undefined) row.route = d.route;
        if (d.alias !== undefined) row.alias = d.alias;
        if (d.tier !== undefined) row.tier = d.tier;
      } else if (isEvent(event, AttemptStarted)) {
        row.attempts = Math.max(row.attempts, event.data.attempt);
        row.target = event.data.target;
        row.provider = event.data.provider;
      } else if (isEvent(event, AttemptFailed)) {
        if (event.data.retry_ms !== undefined) row.retries++;
        else if (event.data.fallback) row.fallbacks++;
      }
      return state;
    },
  };
}

export const requests = requestsProjection();

/** What a list of requests may be narrowed by; every field given must match. */
export interface RequestFilter {
  model?: string;
  target?: string;
  provider?: string;
  caller?: string;
  route?: string;
  dialect?: string;
  /** An exact status, a class (`4xx` as [400, 499]), or any error (a status of 400 or more, or no answer). */
  status?: number | [number, number] | "error";
  outcome?: RequestOutcome;
  /** Arrival time bounds, ms since epoch, inclusive. */
  since?: number;
  until?: number;
  stream?: boolean;
}

/** The fields a request's arrival already settles (to skip reading the rest of a request that cannot match). */
export function matchesArrival(f: RequestFilter, row: RequestSummary): boolean {
  return (f.model === undefined || row.model === f.model)
    && (f.caller === undefined || row.caller === f.caller)
    && (f.dialect === undefined || row.dialect === f.dialect)
    && (f.since === undefined || row.at >= f.since)
    && (f.until === undefined || row.at <= f.until)
    && (f.stream === undefined || row.stream === f.stream);
}

export function matches(f: RequestFilter, row: RequestSummary): boolean {
  if (!matchesArrival(f, row)) return false;
  if (f.target !== undefined && row.target !== f.target) return false;
  if (f.provider !== undefined && row.provider !== f.provider) return false;
  if (f.route !== undefined && row.route !== f.route) return false;
  if (f.outcome !== undefined && row.outcome !== f.outcome) return false;
  const s = f.status;
  if (s === undefined) return true;
  if (s === "error") return row.outcome === "interrupted" || (row.status !== undefined && row.status >= 400);
  if (typeof s === "number") return row.status === s;
  return row.status !== undefined && row.status >= s[0] && row.status <= s[1];
}

/** Index of the first row whose seq is at least `seq` (rows are in seq order). */
function lowerBound(rows: readonly RequestSummary[], seq: number): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid]!.seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface RecentPage {
  rows: RequestSummary[];
  /** Where the next page starts (rows with a smaller seq), or undefined when nothing older is left. */
  before?: number;
  /**
   * The rows ran out before the page filled and older requests left the list: the rest is in the
   * log, below `before`.
   */
  older: boolean;
}

/** The newest rows matching `filter` with seq below `before`, newest first. */
export function recent(state: RequestsState, filter: RequestFilter, before: number | undefined, limit: number): RecentPage {
  const { rows } = state;
  const out: RequestSummary[] = [];
  let i = (before === undefined ? rows.length : lowerBound(rows, before)) - 1;
  for (; i >= 0 && out.length < limit; i--) {
    const row = rows[i]!;
    if (matches(filter, row)) out.push(row);
  }
  const below = i >= 0 || state.evicted > 0;
  if (out.length === limit) return { rows: out, ...(below ? { before: out[out.length - 1]!.seq } : {}), older: false };
  if (state.evicted === 0) return { rows: out, older: false };
  // Everything in memory below `before` was read: go on in the log, under the oldest row kept.
  const oldest = rows.length > 0 ? rows[0]!.seq : Number.MAX_SAFE_INTEGER;
  return { rows: out, before: Math.min(before ?? Number.MAX_SAFE_INTEGER, oldest), older: true };
}
