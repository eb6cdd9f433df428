import { existsSync } from "node:fs";
import { join } from "node:path";
import { EventLog } from "../../events/log.ts";
import type { EventRecord } from "../../events/define.ts";
import { rebuild, type ProjectionStates } from "../../events/projections/index.ts";
import { StartError } from "../boot.ts";
import { parseFlags } from "./args.ts";

export const REPLAY_HELP = `Usage: sluice replay [--data DIR | --log FILE] [--request ID] [--json]

Rebuild every projection from event 1 and print a summary, or print one request's timeline.
Safe to run beside a live server.

  --data DIR     data directory holding events.db (default ./.sluice)
  --log FILE     an event log file (instead of --data)
  --request ID   print the event timeline of one request (its x-sluice-request-id)
  --json         print JSON instead of text
  -h, --help     show this help`;

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

/** Read the whole log once: check it, fold every projection, and find unfinished requests. */
export function summarize(log: EventLog): ReplaySummary {
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

function formatSummary(summary: ReplaySummary, path: string): string {
  const { requests, projections } = summary;
  const lines = [
    `log        ${path}`,
    `events     ${summary.events} (seq ${summary.firstSeq}…${summary.lastSeq}, ${summary.gaps} gaps, ${summary.invalid} invalid)`,
    `requests   ${requests.received} received: ${requests.completed} completed, ${requests.failed} failed, ${requests.cancelled} cancelled, ${requests.interrupted.length} interrupted`,
  ];
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

export async function replayCommand(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    data: { type: "string" }, log: { type: "string" }, request: { type: "string" }, json: { type: "boolean" },
  }, "replay");
  if (values.help) {
    console.log(REPLAY_HELP);
    return 0;
  }
  if (values.data && values.log) throw new StartError("sluice replay: give --data or --log, not both");
  const path = values.log ?? join(values.data ?? "./.sluice", "events.db");
  if (!existsSync(path)) throw new StartError(`sluice replay: no event log at ${path}`);
  let log: EventLog;
  try {
    log = EventLog.open(path, { readonly: true });
  } catch (error) {
    throw new StartError(`sluice replay: cannot open ${path}: ${(error as Error).message.split("\n")[0]}`);
  }
  try {
    if (values.request) {
      const events = log.forRequest(values.request);
      if (events.length === 0) throw new StartError(`sluice replay: no events for request ${values.request}`);
      console.log(values.json ? JSON.stringify(events, null, 2) : formatTimeline(events));
      return 0;
    }
    const summary = summarize(log);
    console.log(values.json ? JSON.stringify(summary, null, 2) : formatSummary(summary, path));
    return 0;
  } finally {
    log.close();
  }
}
