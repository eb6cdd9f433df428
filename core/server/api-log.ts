import { sql, type SQL } from "drizzle-orm";
import { Elysia } from "elysia";
import { catalog } from "../../events/catalog/index.ts";
import type { EventRecord } from "../../events/define.ts";
import type { EventLog } from "../../events/log.ts";
import { fold } from "../../events/projections/projection.ts";
import {
  matches, OUTCOMES, recent, requests, requestsProjection,
  type RequestFilter, type RequestOutcome, type RequestsState, type RequestSummary,
} from "../../events/projections/requests.ts";
import { gatewayError, type GatewayError } from "../errors.ts";
import type { Gateway } from "../gateway.ts";
import { adminError, adminGuard } from "./admin.ts";

// The request log and the raw event log of the control plane (SPEC §4):
//   GET /api/requests        newest first, filtered, cursor-paged; read from the `requests`
//                            projection (the newest 100 000 requests, in memory), and below it
//                            from the log by seq range, a bounded stretch per call
//   GET /api/events          raw events by seq range
//   GET /api/events/stream   the same as server-sent events: a bounded backlog, then live
// (GET /api/requests/{id}, one request's timeline, is in admin.ts.) Bad query parameters are a
// 400 naming the parameter.

export const LIST_LIMIT = { default: 50, max: 200 };
export const EVENTS_LIMIT = { default: 100, max: 1000 };
/** How many seqs one call reads at most when a filter leaves most events out. */
export const SCAN_SEQS = 100_000;
/** The live tail's backlog: at most this many seqs before now. */
export const BACKLOG_SEQS = 1000;
export const HEARTBEAT_MS = 15_000;
/** A tail whose client has not read this many messages is closed (it resumes with Last-Event-ID). */
const MAX_QUEUED = 10_000;
/** Received events read per step of a log scan, and the seqs read ahead for their ends. */
const SCAN_BATCH = 256;
const AHEAD_SEQS = 20_000;

class BadParam extends Error {
  constructor(readonly param: string, message: string) {
    super(message);
  }
}

/** A request's query string, with only the parameters a route knows, each at most once. */
function queryOf(request: Request, known: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, value] of new URL(request.url).searchParams) {
    if (!known.includes(name)) throw new BadParam(name, `unknown query parameter "${name.slice(0, 64)}"; known: ${known.join(", ")}`);
    if (out.has(name)) throw new BadParam(name, `${name}: given more than once`);
    if (value === "") throw new BadParam(name, `${name}: empty`);
    out.set(name, value);
  }
  return out;
}

function integer(name: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new BadParam(name, `${name}: expected an integer from ${min} to ${max}, got "${text.slice(0, 64)}"`);
  return n;
}

/** ms since epoch, or an ISO 8601 date. */
function instant(name: string, text: string): number {
  const ms = /^\d{1,16}$/.test(text) ? Number(text) : /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(ms)) throw new BadParam(name, `${name}: expected ms since epoch or an ISO 8601 date, got "${text.slice(0, 64)}"`);
  return ms;
}

function boolean(name: string, text: string): boolean {
  if (text === "true" || text === "1") return true;
  if (text === "false" || text === "0") return false;
  throw new BadParam(name, `${name}: expected true or false, got "${text.slice(0, 64)}"`);
}

function statusFilter(text: string): NonNullable<RequestFilter["status"]> {
  if (/^[1-5]\d\d$/.test(text)) return Number(text);
  if (/^[1-5]xx$/i.test(text)) return [Number(text[0]) * 100, Number(text[0]) * 100 + 99];
  if (text === "error") return "error";
  throw new BadParam("status", `status: expected a status (429), a class (4xx, 5xx) or "error", got "${text.slice(0, 64)}"`);
}

/** `a.b,c.*` → the event types named, a family's `*` standing for each of its types. */
function typesOf(text: string): Set<string> {
  const out = new Set<string>();
  for (const name of text.split(",").map((t) => t.trim()).filter(Boolean)) {
    const prefix = name.endsWith(".*") ? name.slice(0, -1) : undefined;
    const found = prefix ? [...catalog.keys()].filter((t) => t.startsWith(prefix)) : catalog.has(name) ? [name] : [];
    if (found.length === 0) throw new BadParam("type", `type: no event type "${name.slice(0, 64)}"`);
    for (const t of found) out.add(t);
  }
  if (out.size === 0) throw new BadParam("type", "type: empty");
  return out;
}

// The cursor is opaque to clients: the seq below which the next page starts.
const encodeCursor = (before: number) => Buffer.from(`s${before}`).toString("base64url");
function decodeCursor(text: string): number {
  const match = /^s(\d{1,16})$/.exec(Buffer.from(text, "base64url").toString());
  if (!match) throw new BadParam("cursor", "cursor: not a cursor this API gave out");
  return Number(match[1]);
}

const FILTERS = ["model", "target", "provider", "caller", "route", "dialect", "status", "outcome", "since", "until", "stream"] as const;

function listQuery(request: Request): { filter: RequestFilter; before?: number; limit: number } {
  const q = queryOf(request, [...FILTERS, "limit", "cursor"]);
  const filter: RequestFilter = {};
  for (const name of ["model", "target", "provider", "caller", "route", "dialect"] as const) {
    const value = q.get(name);
    if (value !== undefined) filter[name] = value;
  }
  const status = q.get("status");
  if (status !== undefined) filter.status = statusFilter(status);
  const outcome = q.get("outcome");
  if (outcome !== undefined) {
    if (!OUTCOMES.includes(outcome as RequestOutcome)) throw new BadParam("outcome", `outcome: expected one of ${OUTCOMES.join(", ")}, got "${outcome.slice(0, 64)}"`);
    filter.outcome = outcome as RequestOutcome;
  }
  for (const name of ["since", "until"] as const) {
    const value = q.get(name);
    if (value !== undefined) filter[name] = instant(name, value);
  }
  const stream = q.get("stream");
  if (stream !== undefined) filter.stream = boolean("stream", stream);
  const limit = q.has("limit") ? integer("limit", q.get("limit")!, 1, LIST_LIMIT.max) : LIST_LIMIT.default;
  const cursor = q.get("cursor");
  return { filter, limit, ...(cursor !== undefined ? { before: decodeCursor(cursor) } : {}) };
}

// Reads below are raw SQL through drizzle (rows as SQLite gives them): drizzle's column mapping
// cost five times the query itself on a stretch of 100 000 events.
interface Row {
  seq: number;
  id: string;
  type: string;
  at: number;
  data: string;
}
const recordOf = (row: Row): EventRecord => ({ seq: row.seq, id: row.id, type: row.type, at: row.at, data: JSON.parse(row.data) });
const query = (log: EventLog, text: SQL) => log.db.all<Row>(text).map(recordOf);

/** Events with seq in (after, upTo], of the given types only when `types` is set, in order. */
export function readEvents(log: EventLog, after: number, limit: number, upTo: number, types?: ReadonlySet<string>): EventRecord[] {
  // Seqs moved to an archive file (sluice archive) are read from it.
  if (after + 1 < log.firstSeq) {
    const out: EventRecord[] = [];
    for (const event of log.range(after, Math.min(upTo, log.lastSeq))) {
      if (!types || types.has(event.type)) out.push(event);
      if (out.length >= limit || event.seq >= log.firstSeq) break;
    }
    if (out.length > 0) return out;
  }
  if (!types) return log.read(after, limit, upTo);
  return query(log, sql`SELECT seq, id, type, at, data FROM events WHERE seq > ${after} AND seq <= ${upTo}
    AND type IN (SELECT value FROM json_each(${JSON.stringify([...types])})) ORDER BY seq LIMIT ${limit}`);
}

/**
 * Requests that arrived below seq `before`, newest first, read from the log: arrivals by seq
 * range backwards (the primary key; what an arrival settles is filtered in SQL), then each
 * candidate's later events in seq windows until every one has ended (or a server start says it
 * never will). The projection's own fold makes the rows, so a row reads the same on either side
 * of the projection's edge. At most SCAN_SEQS seqs of arrivals are read per call: `before` then
 * says where to go on.
 */
export function olderRequests(log: EventLog, filter: RequestFilter, before: number, limit: number): { rows: RequestSummary[]; before?: number } {
  const floor = Math.max(0, before - 1 - SCAN_SEQS);
  const out: RequestSummary[] = [];
  // What an arrival settles, asked of SQLite: rows that cannot match are never parsed.
  const where = [sql`seq > ${floor}`, sql`type = 'request.received'`];
  if (filter.model !== undefined) where.push(sql`json_extract(data, '$.model') = ${filter.model}`);
  if (filter.caller !== undefined) where.push(sql`json_extract(data, '$.caller') = ${filter.caller}`);
  if (filter.dialect !== undefined) where.push(sql`json_extract(data, '$.dialect') = ${filter.dialect}`);
  if (filter.stream !== undefined) where.push(sql`json_extract(data, '$.stream') = ${Number(filter.stream)}`);
  if (filter.since !== undefined) where.push(sql`at >= ${filter.since}`);
  if (filter.until !== undefined) where.push(sql`at <= ${filter.until}`);
  let below = before;
  for (;;) {
    const arrivals = query(log, sql`SELECT seq, id, type, at, data FROM events WHERE ${sql.join([sql`seq < ${below}`, ...where], sql` AND `)}
      ORDER BY seq DESC LIMIT ${SCAN_BATCH}`);
    for (const row of arrivals.length > 0 ? resolve(log, arrivals) : []) {
      if (!matches(filter, row)) continue;
      out.push(row);
      if (out.length === limit) return { rows: out, before: row.seq };
    }
    if (arrivals.length < SCAN_BATCH) break;
    below = arrivals[arrivals.length - 1]!.seq;
  }
  return floor > 0 ? { rows: out, before: floor + 1 } : { rows: out };
}

/** Fold each arrival's later events (seq windows ahead) into its row; rows newest first. */
function resolve(log: EventLog, arrivals: EventRecord[]): RequestSummary[] {
  const ids = JSON.stringify(arrivals.map((e) => (e.data as { request: string }).request));
  const projection = requestsProjection(Number.MAX_SAFE_INTEGER);
  const state = projection.initial();
  const last = log.lastSeq;
  let from = arrivals[arrivals.length - 1]!.seq - 1;
  let to = Math.min(last, arrivals[0]!.seq + AHEAD_SEQS);
  for (;;) {
    const found = query(log, sql`SELECT seq, id, type, at, data FROM events WHERE seq > ${from} AND seq <= ${to}
      AND (request IN (SELECT value FROM json_each(${ids})) OR type = 'server.started') ORDER BY seq`);
    for (const event of found) projection.evolve(state, event);
    if (to >= last || state.rows.every((row) => row.outcome !== "in_flight")) break;
    from = to;
    to = Math.min(last, to + AHEAD_SEQS);
  }
  return state.rows.reverse();
}

export interface RequestsPage {
  rows: RequestSummary[];
  /** Pass back as `before` for the next page; undefined when there is none. */
  before?: number;
}

/** One page of the request log: from the projection, then (below its oldest row) from the log. */
export function listRequests(log: EventLog, state: RequestsState, filter: RequestFilter, before: number | undefined, limit: number): RequestsPage {
  const page = recent(state, filter, before, limit);
  if (!page.older || page.before === undefined) return page;
  const older = olderRequests(log, filter, page.before, limit - page.rows.length);
  return { rows: [...page.rows, ...older.rows], ...(older.before !== undefined ? { before: older.before } : {}) };
}

/** A row as the API shows it: every field present, null when unknown. */
function rowOf(r: RequestSummary) {
  return {
    id: r.id, seq: r.seq, at: r.at, dialect: r.dialect, endpoint: r.endpoint, model: r.model, stream: r.stream,
    caller: r.caller ?? null, route: r.route ?? null, alias: r.alias ?? null, strategy: r.strategy ?? null, tier: r.tier ?? null,
    target: r.target ?? null, provider: r.provider ?? null, attempts: r.attempts, fallbacks: r.fallbacks, retries: r.retries,
    status: r.status ?? null, outcome: r.outcome, reason: r.reason ?? null, ttfb_ms: r.ttfb_ms ?? null, total_ms: r.total_ms ?? null,
    usage: r.usage ?? null, cost_usd: r.cost_usd ?? null, cached: r.cached === true,
  };
}

/** The requests projection, kept live by the gateway. */
function requestsState(gw: Gateway): () => RequestsState {
  return () => gw.projections.get("requests");
}

const sseFrame = (record: EventRecord) => `id: ${record.seq}\nevent: ${record.type}\ndata: ${JSON.stringify(record)}\n\n`;

interface Tail {
  lastWrite: number;
  send(text: string): void;
  close(): void;
}

export interface ApiLogOptions {
  heartbeatMs?: number;
}

export function apiLogRoutes(gw: Gateway, options: ApiLogOptions = {}) {
  const guard = adminGuard(gw);
  const fail = (error: GatewayError) => adminError(gw, error);
  const bad = (error: unknown) => {
    if (error instanceof BadParam) return fail(gatewayError("invalid_request", error.message, { param: error.param }));
    throw error;
  };
  const state = requestsState(gw);
  const heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;

  // One timer for every open tail: heartbeats, and closing tails when the gateway stops (a
  // graceful stop waits for open responses, and a tail never ends by itself).
  const tails = new Set<Tail>();
  let ticker: Timer | undefined;
  const tick = () => {
    const now = Date.now();
    for (const tail of tails) {
      if (!gw.accepting) tail.close();
      else if (now - tail.lastWrite >= heartbeatMs) tail.send(": heartbeat\n\n");
    }
  };
  const watch = (tail: Tail) => {
    tails.add(tail);
    ticker ??= setInterval(tick, Math.min(heartbeatMs, 500));
  };
  const unwatch = (tail: Tail) => {
    tails.delete(tail);
    if (tails.size === 0 && ticker) {
      clearInterval(ticker);
      ticker = undefined;
    }
  };

  function tail(request: Request, after: number, types: ReadonlySet<string> | undefined): Response {
    const encoder = new TextEncoder();
    let self: Tail | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        let closed = false;
        let unsubscribe: () => void = () => {};
        const close = () => {
          if (closed) return;
          closed = true;
          unsubscribe();
          unwatch(me);
          request.signal.removeEventListener("abort", close);
          try {
            controller.close();
          } catch {
            // already closed by the client
          }
        };
        const send = (text: string) => {
          if (closed) return;
          try {
            controller.enqueue(encoder.encode(text));
            me.lastWrite = Date.now();
            if ((controller.desiredSize ?? 0) < -MAX_QUEUED) {
              controller.enqueue(encoder.encode(`event: overflow\ndata: {"message":"the client read too slowly; resume with Last-Event-ID"}\n\n`));
              close();
            }
          } catch {
            close();
          }
        };
        const me: Tail = { lastWrite: Date.now(), send, close };
        self = me;
        let sent = after;
        const deliver = (record: EventRecord) => {
          if (record.seq <= sent) return;
          sent = record.seq;
          if (!types || types.has(record.type)) send(sseFrame(record));
        };
        // Backlog and subscription in one synchronous step: no commit can fall between them.
        const upTo = gw.log.lastSeq;
        const from = Math.max(after, upTo - BACKLOG_SEQS);
        send(`retry: 3000\n: events after seq ${after}\n\n`);
        if (from > after) send(`event: gap\ndata: ${JSON.stringify({ from: after + 1, to: from, message: "these events were left out; read them from /api/events" })}\n\n`);
        for (let cursor = from; cursor < upTo;) {
          const page = readEvents(gw.log, cursor, 1000, upTo, types);
          for (const record of page) deliver(record);
          cursor = page.length < 1000 ? upTo : page[page.length - 1]!.seq;
        }
        sent = Math.max(sent, upTo);
        unsubscribe = gw.log.subscribe(deliver);
        request.signal.addEventListener("abort", close);
        watch(me);
      },
      cancel() {
        self?.close();
      },
    });
    return new Response(body, {
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-accel-buffering": "no" },
    });
  }

  return new Elysia({ name: "api-log", prefix: "/api" })
    .onBeforeHandle(({ request }) => guard(request))
    .get("/requests", ({ request }) => {
      try {
        const { filter, before, limit } = listQuery(request);
        const page = listRequests(gw.log, state(), filter, before, limit);
        return Response.json({
          object: "list", data: page.rows.map(rowOf), next_cursor: page.before !== undefined ? encodeCursor(page.before) : null,
        });
      } catch (error) {
        return bad(error);
      }
    })
    .get("/events", ({ request }) => {
      try {
        const q = queryOf(request, ["after", "limit", "type"]);
        const after = q.has("after") ? integer("after", q.get("after")!, 0) : 0;
        const limit = q.has("limit") ? integer("limit", q.get("limit")!, 1, EVENTS_LIMIT.max) : EVENTS_LIMIT.default;
        const types = q.has("type") ? typesOf(q.get("type")!) : undefined;
        const last = gw.log.lastSeq;
        // A filtered read covers a bounded stretch of seqs; next_after says where it stopped.
        const upTo = types ? Math.min(last, after + SCAN_SEQS) : last;
        const data = readEvents(gw.log, after, limit, upTo, types);
        const next = data.length === limit ? data[data.length - 1]!.seq : Math.max(after, upTo);
        return Response.json({ object: "list", data, next_after: next, last_seq: last });
      } catch (error) {
        return bad(error);
      }
    })
    .get("/events/stream", ({ request, server }) => {
      try {
        const q = queryOf(request, ["after", "type"]);
        const resume = request.headers.get("last-event-id");
        // A reconnecting EventSource sends Last-Event-ID with the first URL: it wins over `after`.
        const after = resume !== null && resume !== ""
          ? integer("Last-Event-ID", resume.trim(), 0)
          : q.has("after") ? integer("after", q.get("after")!, 0) : gw.log.lastSeq;
        const types = q.has("type") ? typesOf(q.get("type")!) : undefined;
        if (!gw.accepting) return fail(gatewayError("unavailable", "the gateway is stopping", { retryAfter: 1 }));
        // A tail stays open between events: the server's idle timeout must not cut it.
        server?.timeout(request, 0);
        return tail(request, after, types);
      } catch (error) {
        return bad(error);
      }
    });
}
