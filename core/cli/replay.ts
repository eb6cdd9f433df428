import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { EventChain, type ChainPart } from "../../events/archive.ts";
import { EventLog } from "../../events/log.ts";
import type { EventRecord } from "../../events/define.ts";
import { health as healthProjection, rebuild, type HealthState, type ProjectionStates } from "../../events/projections/index.ts";
import type { Config } from "../../schemas/config.ts";
import { StartError } from "../boot.ts";
import { loadConfigFile, parseConfig } from "../config/load.ts";
import { parseFlags } from "./args.ts";
import { explain, formatTrail, isHealthNote, type ExplainContext } from "../routing/explain.ts";
import { formatRequestWhatIf, formatWhatIf, whatIf } from "./replay-whatif.ts";

export const REPLAY_HELP = `Usage: sluice replay [--data DIR | --log FILE ...] [--request ID] [--config FILE] [--json]

Rebuild every projection from event 1 and print a summary, explain one request's routing, or
re-route the recorded requests under another config. Safe to run beside a live server.

  --data DIR     data directory holding events.db (default ./.sluice); the archive files that
                 sluice archive moved old events to are read first, in seq order
  --log FILE     an event log file (instead of --data); give it more than once to read several
                 as one log in seq order (archive files and an events.db)
  --request ID   explain one request (its x-sluice-request-id): its decision trail in plain
                 words (on stderr), then its event timeline (on stdout)
  --config FILE  what-if: decide every recorded request again under this config, over the
                 health recorded at that moment, and report what would change; with
                 --request, that one request under both configs, side by side
  --json         print JSON instead of text ({ request, trail, events } with --request)
  -h, --help     show this help

What-if (--config): the file is loaded and validated like sluice serve's; a \${VAR} that is
not set reads as empty (secrets are not needed to re-route). Estimates, from what was recorded:
  - a target would answer a request if it answered in that very request, would fail if it
    failed in it; one not tried would answer if, at the moment of the decision, neither it nor
    its provider had failures in a row, or it answered another request within 60 s;
  - moved: the new first target differs from the recorded first target;
  - failure avoided: the request failed for an upstream reason and the new first target did
    not fail in it and would answer;
  - failure added: the request completed, but the new config has no target for it (unknown
    model, every target skipped) or none of its targets would answer;
  - cost: per completed request with usage, cost(new target) − cost(served target) for the
    same tokens, both priced by the new config (model_info prices, else the bundled price
    tables); the new target is the first of the new order that would answer (the new first
    target unless it failed in that request); same target = 0; unknown prices are skipped
    and counted;
  - round-robin positions count the decisions of each route under the new config.`;

const TERMINAL = new Set(["request.completed", "request.failed", "request.cancelled"]);

export interface ReplaySummary {
  events: number;
  firstSeq: number;
  lastSeq: number;
  gaps: number;
  invalid: number;
  requests: { received: number; completed: number; failed: number; cancelled: number; interrupted: string[] };
  projections: ProjectionStates;
}

/** Anything that yields events in seq order: an EventLog, or an EventChain of archives and the live log. */
export interface EventsSource {
  all(): Iterable<EventRecord>;
}

/** Read the whole log once: check it, fold every projection, and find unfinished requests. */
export function summarize(log: EventsSource): ReplaySummary {
  let events = 0;
  let firstSeq = 0;
  let lastSeq = 0;
  let gaps = 0;
  let invalid = 0;
  const open = new Set<string>();
  const counts = { received: 0, completed: 0, failed: 0, cancelled: 0 };
  function* checked(): Generator<EventRecord> {
    for (const event of log.all()) {
      if (events === 0) firstSeq = event.seq;
      else if (event.seq !== lastSeq + 1) gaps++;
      lastSeq = event.seq;
      events++;
      if (!EventLog.validate(event)) invalid++;
      const request = (event.data as { request?: string }).request;
      if (event.type === "request.received" && request) {
        counts.received++;
        open.add(request);
      } else if (TERMINAL.has(event.type) && request) {
        counts[event.type.slice("request.".length) as "completed" | "failed" | "cancelled"]++;
        open.delete(request);
      }
      yield event;
    }
  }
  const projections = rebuild(checked());
  return { events, firstSeq, lastSeq, gaps, invalid, requests: { ...counts, interrupted: [...open] }, projections };
}

export function formatSummary(summary: ReplaySummary, path: string, chain?: EventChain): string {
  const { requests, projections } = summary;
  const parts: ChainPart[] = chain?.parts ?? [];
  const lines = parts.length > 1
    ? [`log        ${parts.length} files read as one, in seq order:`, ...parts.map((p) => `  ${p.path} (${p.events} events, seq ${p.firstSeq}…${p.lastSeq})`)]
    : [`log        ${path}`];
  lines.push(`events     ${summary.events} (seq ${summary.firstSeq}…${summary.lastSeq}, ${summary.gaps} gaps, ${summary.invalid} invalid)`);
  for (const missing of chain?.missing ?? []) lines.push(`missing    archive ${missing}: recorded by the live log, not found`);
  for (const gap of chain?.gaps() ?? []) {
    lines.push(gap.from === 1
      ? `note       seq 1…${gap.to} not read: those events are not in the files given (archived? add the archive file with another --log)`
      : `gap        seq ${gap.from}…${gap.to} are in none of the files`);
  }
  lines.push(
    `requests   ${requests.received} received: ${requests.completed} completed, ${requests.failed} failed, ${requests.cancelled} cancelled, ${requests.interrupted.length} interrupted`,
  );
  if (requests.interrupted.length > 0) {
    lines.push(`interrupted (received, never finished — the server stopped mid-request):`);
    for (const id of requests.interrupted.slice(0, 20)) lines.push(`  ${id}`);
    if (requests.interrupted.length > 20) lines.push(`  … and ${requests.interrupted.length - 20} more`);
  }
  const targets = Object.entries(projections.usage.byTarget);
  if (targets.length > 0) {
    lines.push("", "usage by target");
    lines.push(`  ${"target".padEnd(40)} ${"requests".padStart(8)} ${"ok".padStart(6)} ${"failed".padStart(6)} ${"in tok".padStart(10)} ${"out tok".padStart(10)}`);
    for (const [target, u] of targets) {
      lines.push(`  ${target.padEnd(40)} ${String(u.requests).padStart(8)} ${String(u.completed).padStart(6)} ${String(u.failed).padStart(6)} ${String(u.inputTokens).padStart(10)} ${String(u.outputTokens).padStart(10)}`);
    }
  }
  const buckets = Object.values(projections.usageRollup.buckets);
  const sum = (pick: (b: (typeof buckets)[number]) => number) => buckets.reduce((n, b) => n + pick(b), 0);
  const saved = sum((b) => b.tokens_saved);
  if (saved !== 0 || sum((b) => b.cache_hits) > 0) {
    lines.push("", `token saver: ${sum((b) => b.compressed_requests)} requests compressed, ${saved} input tokens saved ($${sum((b) => b.saved_usd).toFixed(6)}); ${sum((b) => b.cache_hits)} cache hits ($${sum((b) => b.cache_saved_usd).toFixed(6)})`);
  }
  // Terse mode's measured effect: mean output tokens of answered requests in each arm.
  const arm = (key: "terse" | "terse_control") => ({ requests: sum((b) => b[key].requests), output: sum((b) => b[key].output_tokens) });
  const terse = arm("terse");
  const control = arm("terse_control");
  if (terse.requests + control.requests > 0) {
    const mean = (a: { requests: number; output: number }) => (a.requests ? a.output / a.requests : 0);
    const change = terse.requests && control.requests && mean(control) > 0 ? `${((mean(terse) / mean(control) - 1) * 100).toFixed(1)} % output tokens with the instruction` : "no effect measured: both arms need answers (a route's terse: { holdout })";
    lines.push(`terse mode: ${terse.requests} answers with the instruction (mean ${mean(terse).toFixed(1)} output tokens), ${control.requests} without (mean ${mean(control).toFixed(1)}): ${change}`);
  }
  const upstreams = [...Object.entries(projections.health.providers), ...Object.entries(projections.health.targets)];
  if (upstreams.length > 0) {
    lines.push("", "upstream health (providers, then targets)");
    for (const [key, h] of upstreams) {
      const lastOk = h.lastSuccessAt ? new Date(h.lastSuccessAt).toISOString() : "never";
      const lastBad = h.lastFailureAt ? `${new Date(h.lastFailureAt).toISOString()} (${h.lastFailureReason})` : "never";
      const latency = h.latencyMs !== undefined ? `; ~${Math.round(h.latencyMs)} ms to first byte` : "";
      const out = h.ejectedUntil !== undefined ? `; ejected ×${h.ejections} until ${new Date(h.ejectedUntil).toISOString()}` : "";
      const cool = h.coolUntil !== undefined ? `; cooling until ${new Date(h.coolUntil).toISOString()}` : "";
      lines.push(`  ${key}: ${h.successes} ok, ${h.failures} failed, ${h.consecutiveFailures} failing in a row${latency}; last ok ${lastOk}; last failure ${lastBad}${out}${cool}`);
    }
  }
  return lines.join("\n");
}

/** One request's events as readable lines, times relative to its first event. */
export function formatTimeline(events: EventRecord[]): string {
  const start = events[0]?.at ?? 0;
  return events.map((event) => {
    const { request: _request, ...rest } = event.data as Record<string, unknown>;
    const details = Object.entries(rest)
      .map(([key, value]) => `${key}=${typeof value === "object" ? JSON.stringify(value) : String(value)}`)
      .join(" ");
    return `${`+${event.at - start}ms`.padStart(9)}  #${event.seq}  ${event.type.padEnd(18)} ${details}`;
  }).join("\n");
}

/** Names of ${VAR} references (without a default) that are unset or empty in `env`. */
function unsetRefs(text: string, env: Record<string, string | undefined>): Set<string> {
  const names = new Set<string>();
  for (const match of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) if (!env[match[1]!]) names.add(match[1]!);
  return names;
}

/**
 * The what-if config: the real loader and validation (one line naming file, line and key on
 * error), except that a ${VAR} unset in the environment reads as empty: secrets are not needed
 * to re-route, so ${VAR} is read as ${VAR:-} for replay only.
 */
export function loadWhatIfConfig(path: string, env: Record<string, string | undefined> = process.env): Config {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    const failed = loadConfigFile(path, env); // the loader's own message for an unreadable file
    throw new StartError(failed.ok ? `cannot read config ${path}` : failed.error);
  }
  const unset = unsetRefs(text, env);
  const lenient = unset.size === 0 ? text : text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => (unset.has(name) ? `\${${name}:-}` : whole));
  const result = parseConfig(lenient, path, env);
  if (!result.ok) throw new StartError(result.error);
  return result.config;
}

/** What a trail needs from around a request: the health at its decision, and health notes while it ran. */
export function requestContext(log: EventsSource, events: EventRecord[]): ExplainContext {
  const decided = events.find((e) => e.type === "route.decided");
  const first = events[0]!;
  const last = events[events.length - 1]!;
  const targets = new Set<string>();
  for (const e of events) {
    const { target, provider } = e.data as { target?: string; provider?: string };
    if (target) targets.add(target);
    if (provider) targets.add(provider);
  }
  let health: HealthState = healthProjection.initial();
  const notes: EventRecord[] = [];
  // Notes are committed just after the attempt that caused them, possibly after the request's
  // last event: look a little past it (bounded in time and in events).
  const horizonAt = last.at + 250;
  const horizonSeq = last.seq + 1000;
  for (const event of log.all()) {
    if (decided && event.seq < decided.seq) health = healthProjection.evolve(health, event);
    if (event.seq >= first.seq && isHealthNote(event)) {
      const within = event.seq <= last.seq || targets.has((event.data as { target: string }).target);
      if (within) notes.push(event);
    }
    if (event.seq > last.seq && (event.at > horizonAt || event.seq > horizonSeq)) break;
  }
  return { ...(decided ? { healthAtDecision: health } : {}), notes };
}

export async function replayCommand(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    data: { type: "string" }, log: { type: "string", multiple: true }, request: { type: "string" }, json: { type: "boolean" }, config: { type: "string" },
  }, "replay");
  if (values.help) {
    console.log(REPLAY_HELP);
    return 0;
  }
  if (values.data && values.log) throw new StartError("sluice replay: give --data or --log, not both");
  const config = values.config !== undefined ? loadWhatIfConfig(values.config) : undefined;
  // --log FILE (one or more), or a data dir: its archive files, then its events.db.
  const paths = values.log ?? [join(values.data ?? "./.sluice", "events.db")];
  for (const path of paths) if (!existsSync(path)) throw new StartError(`sluice replay: no event log at ${path}`);
  const path = paths.join(" + ");
  let log: EventChain;
  try {
    log = values.log ? EventChain.open(paths) : EventChain.forDataDir(values.data ?? "./.sluice");
  } catch (error) {
    throw new StartError(`sluice replay: ${(error as Error).message.split("\n")[0]}`);
  }
  try {
    if (values.request) {
      const events = log.forRequest(values.request);
      if (events.length === 0) throw new StartError(`sluice replay: no events for request ${values.request}`);
      const trail = explain(events, requestContext(log, events));
      if (config) {
        const detail = whatIf(log.all(), config, { details: values.request }).details?.[0];
        if (values.json) console.log(JSON.stringify({ request: values.request, trail: trail.steps, events, whatIf: detail ?? null }, null, 2));
        else {
          const other = detail ? formatRequestWhatIf(detail, values.config!) : "what-if: this request was refused before any routing decision, so there is nothing to decide again";
          console.log(`${formatTrail(trail)}\n\n${other}`);
        }
        return 0;
      }
      if (values.json) console.log(JSON.stringify({ request: values.request, trail: trail.steps, events }, null, 2));
      else {
        // The decision trail in plain words first, then the raw timeline.
        console.log(`${formatTrail(trail)}\n\n${formatTimeline(events)}`);
      }
      return 0;
    }
    if (config) {
      const report = whatIf(log.all(), config);
      console.log(values.json ? JSON.stringify({ config: values.config, log: path, ...report }, null, 2) : formatWhatIf(report, { config: values.config!, log: path }));
      return 0;
    }
    const summary = summarize(log);
    console.log(values.json ? JSON.stringify(summary, null, 2) : formatSummary(summary, path, log));
    return 0;
  } finally {
    log.close();
  }
}
