import type { EventData, EventRecord } from "../../events/define.ts";
import { isEvent } from "../../events/define.ts";
import {
  AttemptFailed, AttemptStarted, AttemptSucceeded, RequestCancelled, RequestCompleted, RequestFailed, RequestReceived,
} from "../../events/catalog/request.ts";
import { RouteDecided, UpstreamEjected, UpstreamRestored } from "../../events/catalog/routing.ts";
import { CacheHit, CacheStored } from "../../events/catalog/cache.ts";
import type { Health, HealthState } from "../../events/projections/health.ts";

// `sluice replay --request ID`: one request's decision trail in plain words. Pure functions:
// events → steps (structured, for --json) → text. Everything said here is read from the
// request's own events; two things come from around it when the caller passes them: the health
// state at the moment of the decision (to say *why* a skipped target was cooling down or
// ejected) and the upstream.ejected / upstream.restored notes committed while it ran.

type Usage = NonNullable<EventData<typeof RequestCompleted>["usage"]>;

export type TrailStep =
  | {
    step: "asked"; seq: number; at: number; request: string; model: string;
    dialect: string; endpoint: string; stream: boolean; caller?: string;
  }
  | {
    step: "routed"; seq: number; at: number; route?: string; alias?: string; strategy: string;
    tier?: string; score?: number; input_tokens: number; max_tokens?: number; order: string[];
  }
  | { step: "affinity"; seq: number; at: number; digest: string; sticky?: string }
  | { step: "skipped"; seq: number; at: number; target: string; reason: string; until?: number; detail?: string; cause?: string }
  | { step: "probe"; seq: number; at: number; target: string }
  | {
    step: "attempt"; seq: number; at: number; attempt: number; target: string;
    /** ok: answered; failed: an error; pending: started, no outcome on record (interrupted). */
    result: "ok" | "failed" | "pending";
    status?: number; reason?: string; message?: string; ms?: number; ttfb_ms?: number;
    /** What the gateway did next after a failure. */
    then?: "fell back" | "retried" | "stopped";
    retry_ms?: number; retry_after?: number; stopped?: string; adjustments?: string[];
  }
  | { step: "health"; seq: number; at: number; change: "ejected" | "restored"; target: string; until?: number; ejections?: number; reason?: string }
  /** The answer was kept in the response cache (cache.stored). */
  | { step: "kept"; seq: number; at: number; expires_at: number; bytes: number }
  | {
    step: "outcome"; seq?: number; at?: number; outcome: "completed" | "failed" | "cancelled" | "interrupted";
    status?: number; target?: string; attempts?: number; total_ms?: number; ttfb_ms?: number;
    reason?: string; message?: string; usage?: Usage; stream?: boolean; finish_reason?: string; streamed_chars?: number;
    /** Served from the response cache: whose answer, and how old it was (cache.hit). */
    cached?: { source_request?: string; age_ms?: number };
  };

export interface Trail {
  request: string;
  steps: TrailStep[];
}

export interface ExplainContext {
  /** The health projection folded over every event before the request's route.decided. */
  healthAtDecision?: HealthState;
  /** upstream.ejected / upstream.restored events committed while the request ran. */
  notes?: EventRecord[];
}

const HEALTH_NOTES = new Set(["upstream.ejected", "upstream.restored"]);

/** The health entry (target's own or its provider's) whose cooldown or ejection ends at `until`. */
function causeOf(skip: { target: string; reason: string; until?: number }, health: HealthState | undefined): string | undefined {
  if (!health || skip.until === undefined) return undefined;
  const provider = skip.target.slice(0, skip.target.indexOf("/"));
  const own = health.targets[skip.target];
  const whole = health.providers[provider];
  const matches = (h: Health | undefined) => h !== undefined && (skip.reason === "cooldown" ? h.coolUntil === skip.until : h.ejectedUntil === skip.until);
  const [h, who] = matches(own) ? [own, ""] : matches(whole) ? [whole, `provider ${provider}: `] : [own ?? whole, ""];
  if (!h) return undefined;
  const last = h.lastFailureStatus !== undefined ? `${h.lastFailureStatus === 0 ? "no response" : h.lastFailureStatus} ${h.lastFailureReason ?? ""}`.trim() : h.lastFailureReason;
  if (skip.reason === "cooldown") {
    if (h.lastFailureReason === "rate_limited") return `${who}after ${h.consecutiveRateLimits > 1 ? `${h.consecutiveRateLimits} 429s in a row` : "a 429"}`;
    return last ? `${who}after ${last} with Retry-After` : undefined;
  }
  if (skip.reason === "ejected") {
    return `${who}${h.consecutiveFailures} failures in a row${last ? `, last ${last}` : ""}; ejection ×${h.ejections}`;
  }
  return undefined;
}

/** One request's events (in seq order) → the steps of its decision trail. */
export function explain(events: readonly EventRecord[], context: ExplainContext = {}): Trail {
  const all = [...events, ...(context.notes ?? [])].sort((a, b) => a.seq - b.seq);
  const request = (events.find((e) => typeof (e.data as { request?: unknown }).request === "string")?.data as { request: string } | undefined)?.request ?? "";
  const steps: TrailStep[] = [];
  const pending = new Map<number, number>(); // attempt number → index of its step
  let outcome: TrailStep | undefined;
  let hit: EventData<typeof CacheHit> | undefined;
  for (const event of all) {
    const { seq, at } = event;
    if (isEvent(event, RequestReceived)) {
      const d = event.data;
      steps.push({ step: "asked", seq, at, request: d.request, model: d.model, dialect: d.dialect, endpoint: d.endpoint, stream: d.stream, ...(d.caller ? { caller: d.caller } : {}) });
    } else if (isEvent(event, RouteDecided)) {
      const d = event.data;
      steps.push({
        step: "routed", seq, at, strategy: d.strategy, input_tokens: d.input_tokens, order: d.order,
        ...(d.route !== undefined ? { route: d.route } : {}), ...(d.alias !== undefined ? { alias: d.alias } : {}),
        ...(d.tier !== undefined ? { tier: d.tier } : {}), ...(d.score !== undefined ? { score: d.score } : {}),
        ...(d.max_tokens !== undefined ? { max_tokens: d.max_tokens } : {}),
      });
      if (d.affinity !== undefined) steps.push({ step: "affinity", seq, at, digest: d.affinity, ...(d.sticky ? { sticky: d.sticky } : {}) });
      for (const skip of d.skipped) {
        const cause = causeOf(skip, context.healthAtDecision);
        steps.push({
          step: "skipped", seq, at, target: skip.target, reason: skip.reason,
          ...(skip.until !== undefined ? { until: skip.until } : {}), ...(skip.detail ? { detail: skip.detail } : {}), ...(cause ? { cause } : {}),
        });
      }
      for (const target of d.probes ?? []) steps.push({ step: "probe", seq, at, target });
    } else if (isEvent(event, AttemptStarted)) {
      pending.set(event.data.attempt, steps.length);
      steps.push({ step: "attempt", seq, at, attempt: event.data.attempt, target: event.data.target, result: "pending" });
    } else if (isEvent(event, AttemptSucceeded)) {
      const d = event.data;
      const step: TrailStep = {
        step: "attempt", seq, at, attempt: d.attempt, target: d.target, result: "ok", status: d.status, ttfb_ms: d.ttfb_ms,
        ...(d.adjustments?.length ? { adjustments: d.adjustments } : {}),
      };
      place(step, d.attempt);
    } else if (isEvent(event, AttemptFailed)) {
      const d = event.data;
      const then = d.retry_ms !== undefined ? "retried" : d.stopped !== undefined || !d.fallback ? "stopped" : "fell back";
      const step: TrailStep = {
        step: "attempt", seq, at, attempt: d.attempt, target: d.target, result: "failed", status: d.status, reason: d.reason,
        message: d.message, ms: d.ms, then,
        ...(d.retry_ms !== undefined ? { retry_ms: d.retry_ms } : {}), ...(d.retry_after !== undefined ? { retry_after: d.retry_after } : {}),
        ...(d.stopped !== undefined ? { stopped: d.stopped } : {}), ...(d.adjustments?.length ? { adjustments: d.adjustments } : {}),
      };
      place(step, d.attempt);
    } else if (isEvent(event, UpstreamEjected)) {
      const d = event.data;
      steps.push({ step: "health", seq, at, change: "ejected", target: d.target, until: d.until, ejections: d.ejections, reason: d.reason });
    } else if (isEvent(event, UpstreamRestored)) {
      steps.push({ step: "health", seq, at, change: "restored", target: event.data.target });
    } else if (isEvent(event, CacheHit)) {
      hit = event.data;
    } else if (isEvent(event, CacheStored)) {
      steps.push({ step: "kept", seq, at, expires_at: event.data.expires_at, bytes: event.data.bytes });
    } else if (isEvent(event, RequestCompleted)) {
      const d = event.data;
      outcome = {
        step: "outcome", seq, at, outcome: "completed", status: d.status, target: d.target, attempts: d.attempts, total_ms: d.total_ms,
        ttfb_ms: d.ttfb_ms, stream: d.stream, ...(d.usage ? { usage: d.usage } : {}), ...(d.finish_reason ? { finish_reason: d.finish_reason } : {}),
        ...(d.cached ? { cached: hit ? { source_request: hit.source_request, age_ms: hit.age_ms } : {} } : {}),
      };
    } else if (isEvent(event, RequestFailed)) {
      const d = event.data;
      outcome = {
        step: "outcome", seq, at, outcome: "failed", status: d.status, reason: d.reason, message: d.message, attempts: d.attempts, total_ms: d.total_ms,
        ...(d.target ? { target: d.target } : {}), ...(d.usage ? { usage: d.usage } : {}),
      };
    } else if (isEvent(event, RequestCancelled)) {
      const d = event.data;
      outcome = {
        step: "outcome", seq, at, outcome: "cancelled", status: d.status, attempts: d.attempts, total_ms: d.total_ms, streamed_chars: d.streamed_chars,
        ...(d.target ? { target: d.target } : {}), ...(d.usage ? { usage: d.usage } : {}),
      };
    }
  }
  steps.push(outcome ?? { step: "outcome", outcome: "interrupted" });
  return { request, steps };

  /** An attempt's outcome replaces its started step, so the trail reads in the order attempts began. */
  function place(step: TrailStep & { step: "attempt" }, attempt: number): void {
    const index = pending.get(attempt);
    if (index === undefined) steps.push(step);
    else {
      const started = steps[index] as TrailStep & { step: "attempt" };
      steps[index] = { ...step, seq: started.seq, at: started.at };
      pending.delete(attempt);
    }
  }
}

/** 812 ms, 1.9 s, 2.5 min */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

/** 12:00:31 UTC */
export function clock(ms: number): string {
  return `${new Date(ms).toISOString().slice(11, 19)} UTC`;
}

function clip(text: string, max = 100): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

const STOPPED: Record<string, string> = {
  "not-retryable": "the error was the request's own, no fallback",
  deadline: "the request's deadline was spent",
  "no-more-targets": "no more targets",
  "retry-budget": "the retry budget was spent (too many retries in flight)",
};

function statusWords(status: number | undefined, reason: string | undefined): string {
  if (status === undefined || status === 0) return `no response${reason ? ` (${reason})` : ""}`;
  return `${status}${reason ? ` ${reason}` : ""}`;
}

function usageWords(usage: Usage | undefined): string {
  if (!usage) return "no usage reported";
  const cached = usage.cached_input_tokens ? ` (${usage.cached_input_tokens} cached)` : "";
  return `${usage.input_tokens} in${cached} / ${usage.output_tokens} out tokens`;
}

/** One step as a line (without indentation); the header and outcome lines are not indented by formatTrail. */
export function stepText(step: TrailStep, trail?: Trail): string {
  switch (step.step) {
    case "asked":
      return `request ${step.request} asked for ${JSON.stringify(step.model)}`;
    case "routed": {
      const how = [
        step.alias !== undefined ? `alias ${step.alias}` : "",
        step.route !== undefined ? `route ${step.route}` : "no route: the model's providers",
        step.tier !== undefined ? `tier ${step.tier}${step.score !== undefined ? ` (score ${step.score})` : ""}` : "",
        `strategy ${step.strategy}`,
      ].filter(Boolean).join(", ");
      const size = `~${step.input_tokens} input tokens${step.max_tokens !== undefined ? `, at most ${step.max_tokens} output` : ""}`;
      return `(${how}; ${size})`;
    }
    case "affinity":
      return step.sticky
        ? `affinity: conversation ${step.digest} stays on ${step.sticky}, which answered it before`
        : `affinity: conversation ${step.digest}, no target holds it (yet)`;
    case "skipped": {
      const until = step.until !== undefined ? ` until ${clock(step.until)} (${duration(Math.max(0, step.until - step.at))} left)` : "";
      const cause = step.cause ? `; ${step.cause}` : "";
      if (step.reason === "cooldown") return `skipped ${step.target}: cooling down${until}${cause}`;
      if (step.reason === "ejected") return `skipped ${step.target}: ejected${until}${cause}`;
      if (step.reason === "context") return `skipped ${step.target}: prompt too long for its context window${step.detail ? ` (${step.detail})` : ""}`;
      return `skipped ${step.target}: ${step.reason}${step.detail ? ` (${step.detail})` : ""}${until}${cause}`;
    }
    case "probe":
      return `probe: ${step.target} is ejected, but one probe may go through (one every 10 s)`;
    case "attempt": {
      if (step.result === "pending") return `tried ${step.target}: no outcome on record (the server stopped during the attempt)`;
      if (step.result === "ok") {
        const adjusted = step.adjustments ? `; adjusted: ${step.adjustments.join(", ")}` : "";
        return `tried ${step.target}: ok (${step.status}), first byte after ${duration(step.ttfb_ms ?? 0)}${adjusted}`;
      }
      const message = step.message ? ` "${clip(step.message)}"` : "";
      const retryAfter = step.retry_after !== undefined ? `, Retry-After ${step.retry_after} s` : "";
      const then = step.then === "retried"
        ? `retried the same target after ${duration(step.retry_ms ?? 0)}`
        : step.then === "fell back" ? "fell back"
        : `stopped: ${STOPPED[step.stopped ?? ""] ?? step.stopped ?? "no fallback"}`;
      return `tried ${step.target}: ${statusWords(step.status, step.reason)}${message} after ${duration(step.ms ?? 0)}${retryAfter}; ${then}`;
    }
    case "kept":
      return `kept in the response cache until ${clock(step.expires_at)} (${step.bytes} bytes)`;
    case "health":
      return step.change === "ejected"
        ? `meanwhile ${step.target} was ejected until ${clock(step.until ?? 0)} (ejection ×${step.ejections}, ${step.reason})`
        : `meanwhile ${step.target} was restored (a success cleared its failures)`;
    case "outcome": {
      const attempts = step.attempts !== undefined ? plural(step.attempts, "attempt") : "";
      const took = step.total_ms !== undefined ? ` in ${duration(step.total_ms)}` : "";
      switch (step.outcome) {
        case "completed":
          if (step.cached) {
            const source = step.cached.source_request
              ? ` (answer of ${step.cached.source_request}, ${duration(step.cached.age_ms ?? 0)} old, by ${step.target})` : "";
            return `served from the response cache${source}${took}${step.stream ? " (streamed)" : ""}: no attempt, nothing spent upstream`;
          }
          return `answered ${step.status} by ${step.target}${took}${step.stream ? " (streamed)" : ""}, ${attempts}, ${usageWords(step.usage)}`;
        case "failed": {
          const serving = step.target ? ` while ${step.target} was answering` : "";
          return `failed ${statusWords(step.status, step.reason)} after ${attempts}${took}${serving}: ${clip(step.message ?? "", 160)}`;
        }
        case "cancelled": {
          const serving = step.target ? `, while ${step.target} was answering (${step.streamed_chars ?? 0} characters sent)` : "";
          return `cancelled: the client left (499) after ${attempts}${took}${serving}`;
        }
        case "interrupted": {
          const last = trail?.steps.filter((s) => s.step !== "outcome").at(-1);
          return `interrupted: no terminal event on record (the server stopped mid-request${last && "seq" in last ? `; last event #${last.seq}` : ""})`;
        }
      }
    }
  }
}

/** The trail as plain text: a header, indented steps, the outcome. */
export function formatTrail(trail: Trail): string {
  const lines: string[] = [];
  const asked = trail.steps.find((s) => s.step === "asked");
  const routed = trail.steps.find((s) => s.step === "routed");
  const header = asked ? stepText(asked) : `request ${trail.request}`;
  lines.push(routed ? `${header} ${stepText(routed)}` : `${header} (not routed: refused before a decision)`);
  if (routed && routed.step === "routed") lines.push(`  plan: ${routed.order.length > 0 ? routed.order.join(", then ") : "no target left"}`);
  for (const step of trail.steps) {
    if (step.step === "asked" || step.step === "routed") continue;
    if (step.step === "outcome") lines.push(stepText(step, trail));
    else lines.push(`  ${stepText(step)}`);
  }
  return lines.join("\n");
}

/** Whether an event is a health note (ejected/restored) that a trail may include. */
export function isHealthNote(event: EventRecord): boolean {
  return HEALTH_NOTES.has(event.type);
}
