import type { EventData, EventRecord } from "../../events/define.ts";
import { isEvent } from "../../events/define.ts";
import {
  AttemptFailed, AttemptSucceeded, RequestCancelled, RequestCompleted, RequestFailed, RequestReceived,
} from "../../events/catalog/request.ts";
import { RouteDecided } from "../../events/catalog/routing.ts";
import { health as healthProjection, type Health, type HealthState } from "../../events/projections/health.ts";
import { routing as routingProjection } from "../../events/projections/routing.ts";
import type { Config } from "../../schemas/config.ts";
import type { ErrorKind } from "../errors.ts";
import type { Usage } from "../ir.ts";
import { costOf } from "../models/catalog.ts";
import { decide } from "../routing/decide.ts";
import { FALLBACK_RULES } from "../routing/fallback.ts";
import { resolve } from "../routing/resolve.ts";
import { clock } from "../routing/explain.ts";

// `sluice replay --config FILE`: what the recorded traffic would have done under another config.
//
// The log is walked once, in seq order. The health and routing projections are folded as it
// goes, so at each route.decided the new config is decided over exactly the state the live
// gateway decided over: the same cooldowns, ejections, latencies and affinity holders, at the
// same time (the event's `at`), for the same request id (which seeds random and weighted
// draws). The round-robin position is the number of earlier decisions of that route *under the
// new config* (for an unchanged config that equals the routing projection's count).
//
// Estimation rules (also in `sluice replay --help`). What really happened is known only for the
// targets that were tried; everything else is an estimate from the recorded health:
//   - a target "would answer" a request when it answered in that very request; it "would fail"
//     when it failed in that very request; a target not tried in it would answer when, at the
//     moment of the decision, it (and its provider) had no failure in a row on record, or it
//     answered another request within 60 s of that moment.
//   - moved: the recorded first target (the head of the recorded order) differs from the new
//     first target.
//   - failure avoided: the request failed for an upstream reason (one the fallback table moves
//     on from), and the new first target is not one that failed in it and would answer.
//   - failure added: the request completed, and under the new config it gets no target at all
//     (unknown model, or every target skipped), or no target in the new order would answer.
//   - cancelled and interrupted requests are neither.
//   - cost: for each completed request with usage, costOf(new target) − costOf(served target)
//     over the same usage tokens, both priced by the new config (its model_info prices, else
//     the bundled price tables for the provider's base_url). The new target is the first of
//     the new order that would answer: the new first target, unless it failed in that very
//     request (so an unchanged config estimates a difference of 0). A request served by the
//     same target adds 0 whatever its price. A request with a price unknown on either side, or
//     with no new target that would answer, is skipped and counted.

type CompletedUsage = NonNullable<EventData<typeof RequestCompleted>["usage"]>;
type Decision = EventData<typeof RouteDecided>;

/** A success of a target within this long of a decision counts as "it was answering then". */
export const AROUND_MS = 60_000;
const LIST_MAX = 20;

export type Outcome = "completed" | "failed" | "cancelled" | "interrupted";

/** How a target of the new order stood for this request. */
export interface TargetOutlook {
  target: string;
  /** Its outcome in this very request, when it was tried. */
  tried?: "ok" | "failed";
  /** It or its provider had failures in a row on record at the moment of the decision. */
  failingThen: boolean;
  /** It answered another request within 60 s of the decision. */
  answeringAround: boolean;
  probe: boolean;
  wouldAnswer: boolean;
}

export interface RequestWhatIf {
  request: string;
  model: string;
  at: number;
  recorded: {
    route?: string; alias?: string; strategy: string; tier?: string; order: string[];
    skipped: Decision["skipped"]; probes?: string[];
    outcome: Outcome; status?: number; reason?: string; served?: string;
    tried: Array<{ target: string; ok: boolean; status: number; reason?: string }>;
    usage?: CompletedUsage;
  };
  next: {
    ok: boolean; unknownModel: boolean; route?: string; alias?: string; strategy?: string; tier?: string;
    order: string[]; skipped: Decision["skipped"]; probes?: string[]; error?: { kind: string; message: string };
    outlook: TargetOutlook[];
  };
  firstBefore?: string;
  firstAfter?: string;
  moved: boolean;
  effect: "avoided" | "added" | "still-failing" | "none";
  /** The target the new plan would be answered by (its first target that would answer). */
  answerAfter?: string;
  cost?: { recordedUsd?: number; newUsd?: number; differenceUsd?: number; skipped?: "no-usage" | "unpriced" | "no-target" };
}

export interface WhatIfReport {
  /** request.received events. */
  requests: number;
  /** Requests whose route.decided was decided again under the new config. */
  rerouted: number;
  /** Requests refused before any routing decision when recorded (unknown model, bad body, auth). */
  unrouted: number;
  /** Of those, refused for an unknown model that the new config serves. */
  unroutedNowServed: number;
  unchanged: number;
  movedRequests: number;
  /** Recorded first target → new first target ("(none)": no target), with counts; unknown-model requests are not in it. */
  moved: Array<{ from: string; to: string; requests: number }>;
  /** New first targets, with counts, before and after. */
  firstTargets: Array<{ target: string; before: number; after: number }>;
  recorded: { completed: number; failed: number; cancelled: number; interrupted: number };
  failures: {
    avoided: number; added: number; stillFailing: number;
    addedBy: { unknownModel: number; noTarget: number; failingTargets: number };
    avoidedRequests: string[]; addedRequests: string[];
  };
  unknownModel: { requests: number; models: Record<string, number> };
  /** Requests for which the new config skips every target (all cooling, or too long for all). */
  noTarget: number;
  cost: {
    /** Completed requests priced on both sides (or served by the same target under both). */
    compared: number;
    recordedUsd: number;
    newUsd: number;
    differenceUsd: number;
    skippedUnpriced: number;
    skippedNoTarget: number;
    noUsage: number;
  };
  /** Per-request details, when asked for. */
  details?: RequestWhatIf[];
}

export interface WhatIfOptions {
  /** Keep every request's details (true), or one request's (its id). */
  details?: boolean | string;
}

interface Open {
  request: string;
  model: string;
  at: number;
  decision: Decision;
  next: RequestWhatIf["next"];
  /** Per new-order target: failing in a row at the moment of the decision. */
  failingThen: Map<string, boolean>;
  ok: Set<string>;
  failed: Set<string>;
  tried: RequestWhatIf["recorded"]["tried"];
  outcome?: Outcome;
  status?: number;
  reason?: string;
  served?: { target: string; provider: string; model: string };
  usage?: CompletedUsage;
}

function failingInARow(h: Health | undefined): boolean {
  return h !== undefined && (h.consecutiveFailures > 0 || h.consecutiveRateLimits > 0);
}

function toUsage(usage: CompletedUsage): Usage {
  return {
    inputTokens: usage.input_tokens, outputTokens: usage.output_tokens,
    ...(usage.cached_input_tokens !== undefined ? { cachedInputTokens: usage.cached_input_tokens } : {}),
    ...(usage.cache_write_tokens !== undefined ? { cacheWriteTokens: usage.cache_write_tokens } : {}),
    ...(usage.reasoning_tokens !== undefined ? { reasoningTokens: usage.reasoning_tokens } : {}),
  };
}

/** "provider/model" priced by `config`; undefined when the provider is not configured or the price is unknown. */
function priceOf(config: Config, target: string, usage: CompletedUsage): number | undefined {
  const slash = target.indexOf("/");
  const provider = config.providers.find((p) => p.id === target.slice(0, slash));
  return provider ? costOf(provider, target.slice(slash + 1), toUsage(usage)) : undefined;
}

/** Whether an upstream's failure, one that routing could have avoided (the fallback table moves on from it). */
function avoidable(reason: string | undefined): boolean {
  return reason !== undefined && FALLBACK_RULES[reason as ErrorKind] === "next";
}

/** Re-route the recorded requests under `config`, over the recorded health timeline. Pure. */
export function whatIf(events: Iterable<EventRecord>, config: Config, options: WhatIfOptions = {}): WhatIfReport {
  let health: HealthState = healthProjection.initial();
  let routing = routingProjection.initial();
  const positions = new Map<string, number>();
  const received = new Map<string, { model: string; at: number }>();
  const open = new Map<string, Open>();
  const done: Open[] = [];
  const successes = new Map<string, number[]>();
  const report: WhatIfReport = {
    requests: 0, rerouted: 0, unrouted: 0, unroutedNowServed: 0, unchanged: 0, movedRequests: 0, moved: [], firstTargets: [],
    recorded: { completed: 0, failed: 0, cancelled: 0, interrupted: 0 },
    failures: { avoided: 0, added: 0, stillFailing: 0, addedBy: { unknownModel: 0, noTarget: 0, failingTargets: 0 }, avoidedRequests: [], addedRequests: [] },
    unknownModel: { requests: 0, models: {} },
    noTarget: 0,
    cost: { compared: 0, recordedUsd: 0, newUsd: 0, differenceUsd: 0, skippedUnpriced: 0, skippedNoTarget: 0, noUsage: 0 },
  };

  const finish = (entry: Open, outcome: Outcome) => {
    entry.outcome = outcome;
    open.delete(entry.request);
    done.push(entry);
  };

  for (const event of events) {
    if (isEvent(event, RequestReceived)) {
      report.requests++;
      received.set(event.data.request, { model: event.data.model, at: event.at });
    } else if (isEvent(event, RouteDecided)) {
      const d = event.data;
      const asked = received.get(d.request);
      const model = asked?.model ?? d.alias ?? d.route ?? "";
      const position = (route: string) => {
        const n = positions.get(route) ?? 0;
        positions.set(route, n + 1);
        return n;
      };
      const recorded = {
        ...(d.tier !== undefined ? { tier: d.tier } : {}), ...(d.score !== undefined ? { score: d.score } : {}),
        ...(d.affinity !== undefined ? { affinity: d.affinity } : {}),
      };
      const decided = decide(
        config,
        { id: d.request, model, inputTokens: d.input_tokens, ...(d.max_tokens !== undefined ? { maxTokens: d.max_tokens } : {}), recorded, position },
        { health, sticky: routing.sticky, now: event.at },
      );
      const decision = decided.decision;
      const next: RequestWhatIf["next"] = {
        ok: decided.ok, unknownModel: !decided.ok && decision === undefined,
        order: decision?.order ?? [], skipped: decision?.skipped ?? [], outlook: [],
        ...(decision?.route !== undefined ? { route: decision.route } : {}), ...(decision?.alias !== undefined ? { alias: decision.alias } : {}),
        ...(decision ? { strategy: decision.strategy } : {}), ...(decision?.tier !== undefined ? { tier: decision.tier } : {}),
        ...(decision?.probes ? { probes: decision.probes } : {}),
        ...(!decided.ok ? { error: { kind: decided.error.kind, message: decided.error.message } } : {}),
      };
      const failingThen = new Map<string, boolean>();
      for (const target of next.order) {
        const provider = target.slice(0, target.indexOf("/"));
        failingThen.set(target, failingInARow(health.targets[target]) || failingInARow(health.providers[provider]));
      }
      received.delete(d.request);
      open.set(d.request, { request: d.request, model, at: event.at, decision: d, next, failingThen, ok: new Set(), failed: new Set(), tried: [] });
      report.rerouted++;
    } else if (isEvent(event, AttemptSucceeded)) {
      const entry = open.get(event.data.request);
      entry?.ok.add(event.data.target);
      entry?.tried.push({ target: event.data.target, ok: true, status: event.data.status });
      let times = successes.get(event.data.target);
      if (!times) successes.set(event.data.target, (times = []));
      times.push(event.at);
    } else if (isEvent(event, AttemptFailed)) {
      const entry = open.get(event.data.request);
      entry?.failed.add(event.data.target);
      entry?.tried.push({ target: event.data.target, ok: false, status: event.data.status, reason: event.data.reason });
    } else if (isEvent(event, RequestCompleted)) {
      report.recorded.completed++;
      const entry = open.get(event.data.request);
      if (entry) {
        entry.status = event.data.status;
        entry.served = { target: event.data.target, provider: event.data.provider, model: event.data.model };
        if (event.data.usage) entry.usage = event.data.usage;
        finish(entry, "completed");
      }
      received.delete(event.data.request);
    } else if (isEvent(event, RequestFailed)) {
      report.recorded.failed++;
      const entry = open.get(event.data.request);
      if (entry) {
        entry.status = event.data.status;
        entry.reason = event.data.reason;
        // A stream broken off after its first byte: the serving target failed too.
        if (event.data.target) entry.failed.add(event.data.target);
        finish(entry, "failed");
      } else {
        // Refused before routing: nothing was decided, so there is nothing to decide again.
        report.unrouted++;
        const asked = received.get(event.data.request);
        if (asked && event.data.reason === "model_not_found" && asked.model && resolve(config, asked.model)) report.unroutedNowServed++;
      }
      received.delete(event.data.request);
    } else if (isEvent(event, RequestCancelled)) {
      report.recorded.cancelled++;
      const entry = open.get(event.data.request);
      if (entry) {
        entry.status = event.data.status;
        finish(entry, "cancelled");
      }
      received.delete(event.data.request);
    }
    health = healthProjection.evolve(health, event);
    routing = routingProjection.evolve(routing, event);
  }
  for (const entry of [...open.values()]) finish(entry, "interrupted");
  report.recorded.interrupted = received.size + done.filter((e) => e.outcome === "interrupted").length;

  // Evaluate now that every success is known ("answered another request within 60 s" looks ahead).
  const answeringAround = (target: string, at: number) => {
    const times = successes.get(target);
    if (!times) return false;
    // Binary search for the first success at or after at − AROUND_MS.
    let lo = 0;
    let hi = times.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (times[mid]! < at - AROUND_MS) lo = mid + 1;
      else hi = mid;
    }
    return lo < times.length && times[lo]! <= at + AROUND_MS;
  };

  const moves = new Map<string, { from: string; to: string; requests: number }>();
  const firsts = new Map<string, { target: string; before: number; after: number }>();
  const countFirst = (target: string | undefined, side: "before" | "after") => {
    if (target === undefined) return;
    const row = firsts.get(target) ?? { target, before: 0, after: 0 };
    row[side]++;
    firsts.set(target, row);
  };
  const details: RequestWhatIf[] = [];

  for (const entry of done) {
    const { next, decision } = entry;
    // The other requests' successes count, not this one's own (those are `ok`).
    next.outlook = next.order.map((target) => {
      const tried = entry.ok.has(target) ? "ok" as const : entry.failed.has(target) ? "failed" as const : undefined;
      const failingThen = entry.failingThen.get(target) ?? false;
      const around = answeringAround(target, entry.at);
      const wouldAnswer = tried === "ok" || (tried === undefined && (!failingThen || around));
      return { target, ...(tried ? { tried } : {}), failingThen, answeringAround: around, probe: next.probes?.includes(target) ?? false, wouldAnswer };
    });
    const firstBefore = decision.order[0];
    const firstAfter = next.order[0];
    const outcome = entry.outcome!;
    let effect: RequestWhatIf["effect"] = "none";
    if (outcome === "failed") {
      const first = next.outlook[0];
      if (avoidable(entry.reason) && first && first.tried !== "failed" && first.wouldAnswer) effect = "avoided";
      else effect = "still-failing";
    } else if (outcome === "completed") {
      if (!next.ok) effect = "added";
      else if (!next.outlook.some((o) => o.wouldAnswer)) effect = "added";
    }

    countFirst(firstBefore, "before");
    countFirst(firstAfter, "after");
    if (next.unknownModel) {
      report.unknownModel.requests++;
      report.unknownModel.models[entry.model] = (report.unknownModel.models[entry.model] ?? 0) + 1;
    } else {
      if (!next.ok) report.noTarget++;
      if (firstBefore === firstAfter) report.unchanged++;
      else {
        report.movedRequests++;
        const from = firstBefore ?? "(none)";
        const to = firstAfter ?? "(none)";
        const key = `${from}\u0000${to}`;
        const row = moves.get(key) ?? { from, to, requests: 0 };
        row.requests++;
        moves.set(key, row);
      }
    }
    if (outcome === "failed" && effect === "avoided") {
      report.failures.avoided++;
      if (report.failures.avoidedRequests.length < LIST_MAX) report.failures.avoidedRequests.push(entry.request);
    } else if (outcome === "failed") report.failures.stillFailing++;
    if (effect === "added") {
      report.failures.added++;
      if (report.failures.addedRequests.length < LIST_MAX) report.failures.addedRequests.push(entry.request);
      if (next.unknownModel) report.failures.addedBy.unknownModel++;
      else if (!next.ok) report.failures.addedBy.noTarget++;
      else report.failures.addedBy.failingTargets++;
    }

    const answerAfter = next.outlook.find((o) => o.wouldAnswer)?.target;
    let cost: RequestWhatIf["cost"];
    if (outcome === "completed" && entry.served) {
      if (!entry.usage) {
        report.cost.noUsage++;
        cost = { skipped: "no-usage" };
      } else if (answerAfter === undefined) {
        report.cost.skippedNoTarget++;
        cost = { skipped: "no-target" };
      } else {
        const recordedUsd = priceOf(config, entry.served.target, entry.usage);
        const newUsd = answerAfter === entry.served.target ? recordedUsd : priceOf(config, answerAfter, entry.usage);
        if (answerAfter === entry.served.target) {
          report.cost.compared++;
          if (recordedUsd !== undefined) {
            report.cost.recordedUsd += recordedUsd;
            report.cost.newUsd += recordedUsd;
          }
          cost = { ...(recordedUsd !== undefined ? { recordedUsd, newUsd: recordedUsd } : {}), differenceUsd: 0 };
        } else if (recordedUsd === undefined || newUsd === undefined) {
          report.cost.skippedUnpriced++;
          cost = { ...(recordedUsd !== undefined ? { recordedUsd } : {}), ...(newUsd !== undefined ? { newUsd } : {}), skipped: "unpriced" };
        } else {
          report.cost.compared++;
          report.cost.recordedUsd += recordedUsd;
          report.cost.newUsd += newUsd;
          report.cost.differenceUsd += newUsd - recordedUsd;
          cost = { recordedUsd, newUsd, differenceUsd: newUsd - recordedUsd };
        }
      }
    }

    const wanted = options.details === true || options.details === entry.request;
    if (wanted) {
      details.push({
        request: entry.request, model: entry.model, at: entry.at,
        recorded: {
          strategy: decision.strategy, order: decision.order, skipped: decision.skipped, outcome, tried: entry.tried,
          ...(decision.route !== undefined ? { route: decision.route } : {}), ...(decision.alias !== undefined ? { alias: decision.alias } : {}),
          ...(decision.tier !== undefined ? { tier: decision.tier } : {}), ...(decision.probes ? { probes: decision.probes } : {}),
          ...(entry.status !== undefined ? { status: entry.status } : {}), ...(entry.reason !== undefined ? { reason: entry.reason } : {}),
          ...(entry.served ? { served: entry.served.target } : {}), ...(entry.usage ? { usage: entry.usage } : {}),
        },
        next,
        ...(firstBefore !== undefined ? { firstBefore } : {}), ...(firstAfter !== undefined ? { firstAfter } : {}),
        ...(answerAfter !== undefined ? { answerAfter } : {}),
        moved: !next.unknownModel && firstBefore !== firstAfter,
        effect,
        ...(cost ? { cost } : {}),
      });
    }
  }
  report.moved = [...moves.values()].sort((a, b) => b.requests - a.requests || a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
  report.firstTargets = [...firsts.values()].sort((a, b) => a.target.localeCompare(b.target));
  if (options.details !== undefined && options.details !== false) report.details = details;
  return report;
}

/** $0.000450, −$0.000123 */
export function usd(value: number, signed = false): string {
  const text = `$${Math.abs(value).toFixed(6)}`;
  if (value < 0) return `−${text}`;
  return signed && value > 0 ? `+${text}` : text;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** The report as a readable table. */
export function formatWhatIf(report: WhatIfReport, source: { config: string; log: string }): string {
  const lines = [
    `what-if    ${source.config} over ${source.log}`,
    `requests   ${report.requests} received: ${report.rerouted} re-routed, ${report.unrouted} refused before routing when recorded` +
      (report.unroutedNowServed > 0 ? ` (${report.unroutedNowServed} of them for a model the new config serves)` : ""),
    `recorded   ${report.recorded.completed} completed, ${report.recorded.failed} failed, ${report.recorded.cancelled} cancelled, ${report.recorded.interrupted} interrupted`,
    `first      ${report.unchanged} keep their first target, ${report.movedRequests} move, ${report.unknownModel.requests} unknown model, ${report.noTarget} with no target left`,
  ];
  if (report.moved.length > 0) {
    lines.push("", "moved (recorded first target → new first target)");
    lines.push(`  ${"from".padEnd(40)} ${"to".padEnd(40)} ${"requests".padStart(8)}`);
    for (const row of report.moved) lines.push(`  ${row.from.padEnd(40)} ${row.to.padEnd(40)} ${String(row.requests).padStart(8)}`);
  }
  if (report.firstTargets.length > 0) {
    lines.push("", "first target, recorded and under the new config");
    lines.push(`  ${"target".padEnd(40)} ${"recorded".padStart(8)} ${"new".padStart(8)}`);
    for (const row of report.firstTargets) lines.push(`  ${row.target.padEnd(40)} ${String(row.before).padStart(8)} ${String(row.after).padStart(8)}`);
  }
  if (report.unknownModel.requests > 0) {
    const models = Object.entries(report.unknownModel.models).sort((a, b) => b[1] - a[1]).map(([m, n]) => `${JSON.stringify(m)} ×${n}`).join(", ");
    lines.push("", `unknown model under the new config: ${plural(report.unknownModel.requests, "request")} (${models})`);
  }
  const f = report.failures;
  lines.push("", `failures   ${f.avoided} avoided, ${f.added} added, ${f.stillFailing} still failing (of ${plural(f.avoided + f.stillFailing, "routed request")} that failed)`);
  if (f.avoidedRequests.length > 0) lines.push(`  avoided  ${f.avoidedRequests.join(" ")}${f.avoided > f.avoidedRequests.length ? ` … and ${f.avoided - f.avoidedRequests.length} more` : ""}`);
  if (f.added > 0) {
    lines.push(`  added    ${f.addedRequests.join(" ")}${f.added > f.addedRequests.length ? ` … and ${f.added - f.addedRequests.length} more` : ""}`);
    lines.push(`           (${f.addedBy.unknownModel} unknown model, ${f.addedBy.noTarget} no target left, ${f.addedBy.failingTargets} only failing targets)`);
  }
  const c = report.cost;
  lines.push("", `cost       ${plural(c.compared, "completed request")} compared: ${usd(c.recordedUsd)} as served → ${usd(c.newUsd)} under the new config (${usd(c.differenceUsd, true)})`);
  lines.push(`           skipped: ${c.skippedUnpriced} price unknown, ${c.skippedNoTarget} no new target, ${c.noUsage} without usage`);
  lines.push("", "Estimates: see sluice replay --help for the rules.");
  return lines.join("\n");
}

function outlookWords(o: TargetOutlook): string {
  if (o.tried === "ok") return "answered in this request";
  if (o.tried === "failed") return "failed in this request";
  const probe = o.probe ? "probe; " : "";
  if (!o.failingThen) return `${probe}not tried; no failure in a row then`;
  return `${probe}not tried; failing then${o.answeringAround ? ", but answering others around then" : ""}`;
}

/** One request under both configs, side by side. */
export function formatRequestWhatIf(detail: RequestWhatIf, source: string): string {
  const { recorded, next } = detail;
  const left: string[] = [];
  const right: string[] = [];
  const rows: Array<[string, string, string]> = [];
  const routeWords = (r: { route?: string; alias?: string; strategy?: string; tier?: string }) =>
    [r.alias ? `alias ${r.alias} →` : "", r.route ?? "(no route)", r.strategy ? `(${r.strategy}${r.tier ? `, tier ${r.tier}` : ""})` : ""].filter(Boolean).join(" ");
  rows.push(["route", routeWords(recorded), next.unknownModel ? "(unknown model)" : routeWords(next)]);
  for (const t of recorded.order) {
    const attempts = recorded.tried.filter((a) => a.target === t);
    const last = attempts.at(-1);
    left.push(`${t} — ${last ? (last.ok ? `answered ${last.status}` : `failed ${last.status === 0 ? "no response" : last.status} ${last.reason ?? ""}`.trim()) : "not tried"}`);
  }
  for (const o of next.outlook) right.push(`${o.target} — ${outlookWords(o)}`);
  const n = Math.max(left.length, right.length, 1);
  for (let i = 0; i < n; i++) rows.push([i === 0 ? "order" : "", left[i] ?? (i === 0 ? "(no target)" : ""), right[i] ?? (i === 0 ? "(no target)" : "")]);
  const skips = (list: RequestWhatIf["recorded"]["skipped"]) => list.map((s) => `${s.target} (${s.reason}${s.until !== undefined ? ` until ${clock(s.until)}` : ""})`);
  const ls = skips(recorded.skipped);
  const rs = skips(next.skipped);
  for (let i = 0; i < Math.max(ls.length, rs.length); i++) rows.push([i === 0 ? "skipped" : "", ls[i] ?? "", rs[i] ?? ""]);
  const width = Math.max(30, ...rows.map((r) => r[1].length)) + 2;
  const lines = [`what-if under ${source} (health as recorded at ${clock(detail.at)})`, `  ${"".padEnd(9)} ${"recorded".padEnd(width)} new config`];
  for (const [label, a, b] of rows) lines.push(`  ${label.padEnd(9)} ${a.padEnd(width)} ${b}`.trimEnd());
  const outcome = recorded.outcome === "completed" ? `answered by ${recorded.served}` : recorded.outcome === "failed" ? `failed ${recorded.status} ${recorded.reason ?? ""}`.trim() : recorded.outcome;
  lines.push(`  recorded outcome: ${outcome}`);
  const verdict: string[] = [];
  if (next.unknownModel) verdict.push(`the new config does not serve ${JSON.stringify(detail.model)}: ${next.error?.message ?? ""}`.trim());
  else if (!next.ok) verdict.push(`no target left: ${next.error?.message ?? ""}`.trim());
  else if (detail.moved) verdict.push(`moves from ${detail.firstBefore ?? "(none)"} to ${detail.firstAfter}`);
  else verdict.push(`same first target (${detail.firstAfter})`);
  if (detail.effect === "avoided") verdict.push("the failure would likely be avoided");
  else if (detail.effect === "added") verdict.push("the request would likely fail");
  else if (detail.effect === "still-failing") verdict.push("the request would likely still fail");
  if (detail.cost?.differenceUsd !== undefined) verdict.push(`cost ${usd(detail.cost.differenceUsd, true)}`);
  else if (detail.cost?.skipped) verdict.push(`cost not estimated (${detail.cost.skipped})`);
  lines.push(`  verdict: ${verdict.join("; ")}`);
  return lines.join("\n");
}
