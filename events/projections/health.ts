import { AttemptFailed, AttemptStarted, AttemptSucceeded, RequestFailed } from "../catalog/request.ts";
import { isEvent, type EventRecord } from "../define.ts";
import type { Projection } from "./projection.ts";

// Upstream health, from attempt outcomes alone: the input routing reads for cooldowns, ejection
// and latency. Kept per target ("provider/model") and per provider, because some failures are
// the model's (429 on one model, 529 overloaded, unknown model) and some the whole provider's
// (unreachable, a timeout before any byte, rejected credentials). Since it is a fold over events,
// a restart or a replay reconstructs exactly the same cooldowns.
//
// Rules (RELIABILITY.md §3.8, Envoy's outlier detection):
// - 429: cool down until its Retry-After, or, without one, 1 s × 2^(n-1) for the n-th 429 in a
//   row (at most 60 s), with ±20 % jitter taken from the event id (a fold has no randomness);
// - 5 failures in a row (5xx, timeout, unreachable, invalid body, overloaded, rejected key,
//   unknown model): ejected for 30 s × ejections in a row (at most 300 s); while ejected, one
//   probe every 10 s may go through; after the ejection a target is half-open: one more failure
//   ejects it again for longer, a success restores it;
// - any success clears all of it. A caller's own mistake (400) or its leaving says nothing of
//   the upstream and is not counted.

export const EJECT_AFTER = 5;
export const EJECT_BASE_MS = 30_000;
export const EJECT_MAX_MS = 300_000;
export const PROBE_EVERY_MS = 10_000;
export const BACKOFF_BASE_MS = 1_000;
export const BACKOFF_MAX_MS = 60_000;
const LATENCY_WEIGHT = 0.3;

export interface Health {
  successes: number;
  failures: number;
  /** Upstream failures in a row (reset by a success). */
  consecutiveFailures: number;
  /** 429s in a row (reset by a success). */
  consecutiveRateLimits: number;
  lastSuccessAt?: number;
  lastFailureAt?: number;
  lastFailureReason?: string;
  lastFailureStatus?: number;
  lastAttemptAt?: number;
  /** Moving average of the time to upstream headers, ms. */
  latencyMs?: number;
  /** No attempt before this (a 429's Retry-After or backoff). */
  coolUntil?: number;
  /** Ejections in a row (reset by a success). */
  ejections: number;
  /** Ejected until this; probes only. */
  ejectedUntil?: number;
}

export interface HealthState {
  providers: Record<string, Health>;
  targets: Record<string, Health>;
}

export const fresh = (): Health => ({ successes: 0, failures: 0, consecutiveFailures: 0, consecutiveRateLimits: 0, ejections: 0 });

/** Failure reasons that say the upstream is unwell (an attempt.failed `reason`). */
function upstreamFault(reason: string): boolean {
  return reason.startsWith("timeout:") || [
    "upstream_error", "upstream_timeout", "upstream_unreachable", "upstream_invalid", "overloaded", "upstream_auth", "model_not_found", "unavailable",
  ].includes(reason);
}

/** Failures that are the whole provider's, not one model's. */
function providerFault(reason: string): boolean {
  return reason === "upstream_unreachable" || reason === "upstream_auth" || reason === "timeout:connect" || reason === "timeout:first_byte";
}

/** A deterministic jitter factor in [0.8, 1.2) from the event's id. */
function jitter(event: EventRecord): number {
  let hash = 2166136261;
  for (let i = 0; i < event.id.length; i++) hash = Math.imul(hash ^ event.id.charCodeAt(i), 16777619);
  return 0.8 + ((hash >>> 0) % 4000) / 10_000;
}

function succeeded(before: Health, at: number, ttfb: number): Health {
  const { coolUntil: _c, ejectedUntil: _e, ...rest } = before;
  return {
    ...rest, successes: before.successes + 1, consecutiveFailures: 0, consecutiveRateLimits: 0, ejections: 0, lastSuccessAt: at,
    latencyMs: before.latencyMs === undefined ? ttfb : before.latencyMs + LATENCY_WEIGHT * (ttfb - before.latencyMs),
  };
}

function failed(before: Health, event: EventRecord, reason: string, status: number, retryAfter: number | undefined): Health {
  const at = event.at;
  const next: Health = { ...before, failures: before.failures + 1, lastFailureAt: at, lastFailureReason: reason, lastFailureStatus: status };
  if (reason === "rate_limited") {
    next.consecutiveRateLimits = before.consecutiveRateLimits + 1;
    const wait = retryAfter !== undefined
      ? retryAfter * 1000
      : Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (next.consecutiveRateLimits - 1)) * jitter(event);
    next.coolUntil = Math.max(before.coolUntil ?? 0, at + Math.round(wait));
    return next;
  }
  next.consecutiveFailures = before.consecutiveFailures + 1;
  if (retryAfter !== undefined) next.coolUntil = Math.max(before.coolUntil ?? 0, at + Math.round(retryAfter * 1000));
  if (next.consecutiveFailures >= EJECT_AFTER) {
    next.ejections = before.ejections + 1;
    next.ejectedUntil = at + Math.min(EJECT_MAX_MS, EJECT_BASE_MS * next.ejections);
  }
  return next;
}

function update(state: HealthState, target: string | undefined, provider: string | undefined, both: boolean, change: (h: Health) => Health): HealthState {
  const targets = target === undefined ? state.targets : { ...state.targets, [target]: change(state.targets[target] ?? fresh()) };
  const providers = provider === undefined || !both ? state.providers : { ...state.providers, [provider]: change(state.providers[provider] ?? fresh()) };
  return { providers, targets };
}

export const health: Projection<HealthState> = {
  name: "health",
  initial: () => ({ providers: {}, targets: {} }),
  evolve(state, event) {
    if (isEvent(event, AttemptStarted)) {
      return update(state, event.data.target, event.data.provider, true, (h) => ({ ...h, lastAttemptAt: event.at }));
    }
    if (isEvent(event, AttemptSucceeded)) {
      return update(state, event.data.target, event.data.provider, true, (h) => succeeded(h, event.at, event.data.ttfb_ms));
    }
    if (isEvent(event, AttemptFailed)) {
      const { reason, status, retry_after } = event.data;
      if (!upstreamFault(reason) && reason !== "rate_limited") return state;
      return update(state, event.data.target, event.data.provider, providerFault(reason), (h) => failed(h, event, reason, status, retry_after));
    }
    // A stream the upstream broke off after its first byte: its attempt had succeeded, the target still failed.
    if (isEvent(event, RequestFailed) && event.data.target && upstreamFault(event.data.reason)) {
      return update(state, event.data.target, event.data.provider, false, (h) => failed(h, event, event.data.reason, event.data.status, undefined));
    }
    return state;
  },
};

export type Availability =
  | { ok: true; probe?: true }
  | { ok: false; reason: "cooldown" | "ejected"; until: number };

function availabilityOf(h: Health | undefined, now: number): Availability {
  if (!h) return { ok: true };
  if (h.coolUntil !== undefined && h.coolUntil > now) return { ok: false, reason: "cooldown", until: h.coolUntil };
  if (h.ejectedUntil !== undefined && h.ejectedUntil > now) {
    if ((h.lastAttemptAt ?? 0) + PROBE_EVERY_MS <= now) return { ok: true, probe: true };
    return { ok: false, reason: "ejected", until: h.ejectedUntil };
  }
  return { ok: true };
}

/** Whether a target may be tried at `now`: its own state and its provider's, the stricter wins. */
export function availability(state: HealthState, target: string, provider: string, now: number): Availability {
  const own = availabilityOf(state.targets[target], now);
  const whole = availabilityOf(state.providers[provider], now);
  if (!own.ok && !whole.ok) return own.until >= whole.until ? own : whole;
  if (!own.ok) return own;
  if (!whole.ok) return whole;
  return own.probe || whole.probe ? { ok: true, probe: true } : { ok: true };
}
