import { Database } from "bun:sqlite";
import { fileErrorReason, fsyncPath } from "./files.ts";
import { existsSync, mkdirSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { EventRecord } from "./define.ts";
import { EventLog, EventLogError, eventsTableSql } from "./log.ts";
import { projections, statesAt } from "./projections/index.ts";
import { writeSnapshot, type SnapshotWritten } from "./snapshot.ts";

// Log growth: `sluice archive --before DATE` moves the oldest events out of the live log into an
// archive file (an SQLite file with the same `events` table), after writing a snapshot of every
// projection at the last event moved, so a start-up never needs the moved events. Replay reads
// archive files and the live log as one sequence (EventChain). Events are never changed: they
// move whole, a prefix of the log, and seq goes on where it was.
//
// Safe beside a running server: the snapshot and the copy read one consistent view while the
// server appends; the delete is one short transaction over a prefix the server never writes
// again; the newest event always stays, so max(seq) — from which the next seq is taken — does not
// move. What changes for the server: reads of the moved events (timelines, /api/events by seq).

/** A refusal the user can fix: one line, exit code 2. */
export class ArchiveRefused extends Error {}

const TERMINAL = ["request.completed", "request.failed", "request.cancelled"];

const iso = (ms: number) => new Date(ms).toISOString();

export interface ArchivePlan {
  /** The oldest event in the live log. */
  firstSeq: number;
  /** The last event older than the date (and not the newest event). */
  candidate: number;
  /** The last event to move: the candidate, moved back so that no request is split. */
  boundary: number;
  /** The request that moved the boundary back, and why, when it was. */
  heldBy?: { request: string; seq: number; open: boolean };
}

interface Span {
  request: string;
  first: number;
  last: number;
  ended: number;
}

/**
 * Where to cut: the last event with `at` before `before` such that every request with an event
 * at or before the cut has all its events at or before it. A request is over at its terminal
 * event, or — without one — if a later server.started shows its server stopped (interrupted);
 * one still running holds the cut before its first event. Refuses (ArchiveRefused) when nothing
 * would move.
 */
export function planArchive(log: EventLog, before: number): ArchivePlan {
  const db = log.connection;
  return db.transaction((): ArchivePlan => {
    const bounds = db.query("SELECT min(seq) AS first, max(seq) AS last FROM events").get() as { first: number | null; last: number | null };
    if (bounds.first === null || bounds.last === null) throw new ArchiveRefused("nothing to archive: the live event log is empty");
    const firstSeq = bounds.first;
    const firstAt = (db.query("SELECT at FROM events WHERE seq = ?1").get(firstSeq) as { at: number }).at;
    // The first event not older than the date; everything before it is (seq and `at` agree).
    const after = db.query("SELECT min(seq) AS seq FROM events WHERE at >= ?1").get(before) as { seq: number | null };
    const older = (after.seq ?? bounds.last + 1) - 1;
    if (older < firstSeq) {
      throw new ArchiveRefused(`nothing to archive before ${iso(before)}: the oldest event in the live log (seq ${firstSeq}) is from ${iso(firstAt)}`);
    }
    // The newest event stays: the next seq is taken from max(seq) in the live log.
    const candidate = Math.min(older, bounds.last - 1);
    if (candidate < firstSeq) throw new ArchiveRefused(`nothing to archive before ${iso(before)}: the live log holds only its newest event, which always stays`);

    const spans = db.query(`SELECT request, min(seq) AS first, max(seq) AS last,
        max(type IN (${TERMINAL.map((t) => `'${t}'`).join(", ")})) AS ended
      FROM events WHERE request IS NOT NULL GROUP BY request HAVING min(seq) <= ?1 ORDER BY first`).all(candidate) as Span[];
    const starts = (db.query("SELECT seq FROM events WHERE type = 'server.started' AND seq > ?1 ORDER BY seq").all(spans[0]?.first ?? bounds.last) as Array<{ seq: number }>).map((r) => r.seq);
    const startedAfter = (seq: number) => {
      // any server.started after seq (binary search over the ascending list)
      let lo = 0;
      let hi = starts.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (starts[mid]! <= seq) lo = mid + 1;
        else hi = mid;
      }
      return lo < starts.length;
    };
    // A cut at B splits a request if first <= B < end: merge those ranges, then step out of the
    // one the candidate falls in (merged ranges are disjoint and not adjacent, so one step does).
    let boundary = candidate;
    let heldBy: ArchivePlan["heldBy"];
    let merged: { from: number; to: number; span: Span; open: boolean } | undefined;
    for (const span of spans) {
      const open = span.ended === 0 && !startedAfter(span.last);
      const to = open ? Number.MAX_SAFE_INTEGER : span.last - 1;
      if (to < span.first) continue; // all in one event
      if (merged && span.first <= merged.to + 1) {
        if (to > merged.to) merged.to = to;
        continue;
      }
      if (merged && merged.from <= boundary && boundary <= merged.to) break;
      merged = { from: span.first, to, span, open };
    }
    if (merged && merged.from <= boundary && boundary <= merged.to) {
      boundary = merged.from - 1;
      heldBy = { request: merged.span.request, seq: merged.span.first, open: merged.open };
    }
    if (boundary < firstSeq) {
      const why = heldBy!.open ? "still in flight" : "not finished before the date";
      throw new ArchiveRefused(`nothing to archive before ${iso(before)}: request ${heldBy!.request} (from seq ${heldBy!.seq}) is ${why}, and nothing older is in the live log`);
    }
    return { firstSeq, candidate, boundary, ...(heldBy ? { heldBy } : {}) };
  })();
}

export interface ArchiveOptions {
  /** Move events with `at` before this, ms since epoch. */
  before: number;
  /** The archive file (default <log dir>/archive/events-<first>-<last>.db). */
  to?: string;
}

export interface ArchiveResult extends ArchivePlan {
  file: string;
  events: number;
  /** Size of the archive file. */
  bytes: number;
  snapshot: SnapshotWritten;
  /** How long the live log was locked for the delete. */
  deleteMs: number;
  /** Space now free inside events.db for new events (the file does not shrink without VACUUM). */
  freeBytes: number;
  ms: number;
}

/**
 * Move the events older than `before` out of `log` (a writable log: the live events.db, opened
 * by this process; the server may have it open too): snapshot at the boundary, copy to the
 * archive file (0600, fsynced, integrity-checked), then delete them from the live log and record
 * the file in its `archives` table, in one transaction.
 */
export function archiveEvents(log: EventLog, options: ArchiveOptions): ArchiveResult {
  const started = performance.now();
  if (log.isReadonly) throw new ArchiveRefused("the event log is open read-only");
  const plan = planArchive(log, options.before);
  const { firstSeq, boundary } = plan;
  const count = boundary - firstSeq + 1;
  const live = resolve(log.path);
  const file = resolve(options.to ?? join(dirname(live), "archive", `events-${firstSeq}-${boundary}.db`));
  if (existsSync(file)) {
    if (existsSync(live) && realpathSync(file) === realpathSync(live)) throw new ArchiveRefused(`${file} is the live event log itself; choose another file`);
    throw new ArchiveRefused(`${file} already exists; choose another file with --to`);
  }
  const parent = dirname(file);
  if (options.to === undefined) {
    try {
      mkdirSync(parent, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new ArchiveRefused(`cannot create ${parent}: ${fileErrorReason(error)}`);
    }
  } else if (!existsSync(parent)) throw new ArchiveRefused(`cannot write ${file}: no such directory ${parent}`);

  // 1. The state at the boundary first: once the events are gone, start-up needs it.
  const { states } = statesAt(log, boundary);
  const snapshot = writeSnapshot(log, boundary, states as unknown as Record<string, unknown>, projections, { base: boundary });

  // 2. The copy, into a 0600 file beside the target, checked before it takes the name.
  const temp = join(parent, `.${basename(file)}.tmp-${process.pid}-${Date.now()}`);
  try {
    writeFileSync(temp, "", { mode: 0o600, flag: "wx" });
  } catch (error) {
    throw new ArchiveRefused(`cannot write ${file}: ${fileErrorReason(error)}`);
  }
  const db = log.connection;
  let attached = false;
  try {
    db.run("ATTACH DATABASE ?1 AS archive", [temp]);
    attached = true;
    db.run("PRAGMA archive.journal_mode = DELETE");
    db.run(eventsTableSql("archive.events"));
    db.run("INSERT INTO archive.events (seq, id, type, at, request, data) SELECT seq, id, type, at, request, data FROM main.events WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq", [firstSeq, boundary]);
    // An archive is written once: an index on request makes its timelines quick to find.
    db.run("CREATE INDEX IF NOT EXISTS archive.events_request ON events(request)");
    db.run("DETACH DATABASE archive");
    attached = false;
    fsyncPath(temp);
    verifyArchive(temp, firstSeq, boundary);
    renameSync(temp, file);
    try {
      fsyncPath(parent, "r");
    } catch {
      // some file systems cannot fsync a directory; the rename is still atomic
    }
  } catch (error) {
    if (attached) db.run("DETACH DATABASE archive");
    rmSync(temp, { force: true });
    rmSync(`${temp}-journal`, { force: true });
    if (error instanceof ArchiveRefused || error instanceof EventLogError) throw error;
    throw new ArchiveRefused(`cannot write ${file}: ${fileErrorReason(error)}`);
  }
  const bytes = statSync(file).size;

  // 3. The delete, with the file on record, in one transaction; nothing is deleted unless the
  // live log still holds exactly the events copied (another archive may have run meanwhile).
  const deleting = performance.now();
  try {
    db.transaction(() => {
      const held = db.query("SELECT count(*) AS n, min(seq) AS first FROM events WHERE seq <= ?1").get(boundary) as { n: number; first: number | null };
      if (held.n !== count || held.first !== firstSeq) throw new ArchiveRefused(`the live log changed while archiving (another sluice archive?): nothing was deleted`);
      db.query("DELETE FROM events WHERE seq <= ?1").run(boundary);
      db.query("INSERT INTO archives (first_seq, last_seq, path, events, bytes, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)").run(firstSeq, boundary, file, count, bytes, Date.now());
    }).immediate();
  } catch (error) {
    rmSync(file, { force: true });
    if (error instanceof ArchiveRefused) throw error;
    throw new Error(`archive: the events were copied to ${file} but could not be deleted from the live log (${fileErrorReason(error)}); the copy was removed, the live log is unchanged`);
  }
  const deleteMs = Math.round(performance.now() - deleting);
  const pages = db.query("PRAGMA freelist_count").get() as { freelist_count: number };
  const pageSize = db.query("PRAGMA page_size").get() as { page_size: number };
  return {
    ...plan, file, events: count, bytes, snapshot, deleteMs,
    freeBytes: pages.freelist_count * pageSize.page_size,
    ms: Math.round(performance.now() - started),
  };
}

/** The copy holds exactly events first…last and passes SQLite's integrity check. */
function verifyArchive(path: string, first: number, last: number): void {
  const copy = new Database(path, { readonly: true, strict: true });
  try {
    const integrity = (copy.query("PRAGMA integrity_check").all() as Array<{ integrity_check: string }>).map((r) => r.integrity_check);
    if (integrity.length !== 1 || integrity[0] !== "ok") throw new Error(`archive: the copy failed its integrity check: ${integrity.slice(0, 3).join("; ")}`);
    const row = copy.query("SELECT count(*) AS n, min(seq) AS first, max(seq) AS last FROM events").get() as { n: number; first: number; last: number };
    if (row.n !== last - first + 1 || row.first !== first || row.last !== last) {
      throw new Error(`archive: the copy holds ${row.n} events (seq ${row.first}…${row.last}), expected ${last - first + 1} (seq ${first}…${last})`);
    }
  } finally {
    copy.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Reading archives and the live log as one log

/** What replay needs from an event log. */
export interface EventSource {
  all(): Iterable<EventRecord>;
  forRequest(request: string): EventRecord[];
  close(): void;
}

export interface ChainPart {
  path: string;
  firstSeq: number;
  lastSeq: number;
  events: number;
}

/**
 * Several event log files read as one log, in seq order: archive files and the live log, or any
 * files given. Files are ordered by their first seq; an event whose seq was already read (two
 * files overlapping) is skipped. `gaps()` names the seqs no file holds.
 */
export class EventChain implements EventSource {
  private constructor(private readonly logs: EventLog[], readonly parts: ChainPart[], readonly missing: string[]) {}

  /** Open the files (read-only). Throws EventLogError naming a file that cannot be opened. */
  static open(paths: string[], missing: string[] = []): EventChain {
    const opened: Array<{ log: EventLog; part: ChainPart }> = [];
    try {
      for (const path of paths) {
        let log: EventLog;
        try {
          log = EventLog.open(path, { readonly: true });
        } catch (error) {
          throw new EventLogError(`cannot open ${path}: ${(error as Error).message.split("\n")[0]}`);
        }
        let row: { n: number; first: number | null; last: number | null };
        try {
          row = log.connection.query("SELECT count(*) AS n, min(seq) AS first, max(seq) AS last FROM events").get() as typeof row;
        } catch (error) {
          log.close();
          throw new EventLogError(`cannot read ${path}: ${(error as Error).message.split("\n")[0]}`);
        }
        opened.push({ log, part: { path, firstSeq: row.first ?? 0, lastSeq: row.last ?? 0, events: row.n } });
      }
    } catch (error) {
      for (const { log } of opened) log.close();
      throw error;
    }
    opened.sort((a, b) => a.part.firstSeq - b.part.firstSeq || b.part.lastSeq - a.part.lastSeq);
    return new EventChain(opened.map((o) => o.log), opened.map((o) => o.part), missing);
  }

  /**
   * A data dir's whole log: the archive files its events.db records (or that lie in
   * DIR/archive/), then events.db. Recorded archives that are missing are listed in `missing`.
   */
  static forDataDir(dir: string): EventChain {
    const livePath = join(dir, "events.db");
    const live = EventLog.open(livePath, { readonly: true });
    let files;
    try {
      files = live.archives();
    } finally {
      live.close();
    }
    const present = files.filter((f) => existsSync(f.path));
    const missing = files.filter((f) => !existsSync(f.path)).map((f) => `${f.path} (seq ${f.firstSeq}…${f.lastSeq})`);
    return EventChain.open([...present.map((f) => f.path), livePath], missing);
  }

  /** Seq ranges no file holds, from seq 1 to the last. */
  gaps(): Array<{ from: number; to: number }> {
    const gaps: Array<{ from: number; to: number }> = [];
    let done = 0;
    for (const part of this.parts) {
      if (part.events === 0) continue;
      if (part.firstSeq > done + 1) gaps.push({ from: done + 1, to: part.firstSeq - 1 });
      done = Math.max(done, part.lastSeq);
    }
    return gaps;
  }

  *all(): Generator<EventRecord> {
    let done = 0;
    for (const log of this.logs) {
      for (const event of log.all()) {
        if (event.seq <= done) continue;
        done = event.seq;
        yield event;
      }
    }
  }

  forRequest(request: string): EventRecord[] {
    const seen = new Set<number>();
    const out: EventRecord[] = [];
    for (const log of this.logs) {
      for (const event of log.forRequest(request)) {
        if (seen.has(event.seq)) continue;
        seen.add(event.seq);
        out.push(event);
      }
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  close(): void {
    for (const log of this.logs) log.close();
  }
}
