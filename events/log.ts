import { Database } from "bun:sqlite";
import { existsSync, readdirSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { and, asc, eq, gt, lte } from "drizzle-orm";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { catalog } from "./catalog/index.ts";
import { startCheckpointer, type Checkpointer } from "./checkpointer.ts";
import type { EventData, EventDefinition, EventRecord } from "./define.ts";

// The append-only event log: the source of truth. One server writes it; a command run beside
// the server (`sluice keys create`) may append too: `seq` is assigned inside the committing
// (immediate) transaction from the log itself, so seq stays gap-free and readers never see N+1
// before N, and the server delivers events another process wrote to its listeners (projections)
// in seq order, at its next commit or within POLL_MS.

export const events = sqliteTable("events", {
  seq: integer("seq").primaryKey(),
  id: text("id").notNull(),
  type: text("type").notNull(),
  at: integer("at").notNull(),
  /** The request id, when the event belongs to a request (for timelines). */
  request: text("request"),
  data: text("data", { mode: "json" }).notNull(),
});

/**
 * `normal`: WAL + synchronous=NORMAL — a process crash (kill -9) loses nothing committed;
 * an OS crash or power loss may lose the last commits. `full`: fsync on every commit.
 */
export type Durability = "normal" | "full";

export interface EventLogOptions {
  durability?: Durability;
  /** Open without creating or writing (replay of a log another process may own). */
  readonly?: boolean;
  /** The longest an event waits for a commit when nobody is waiting for it, ms (default LAZY_MS). */
  lazyMs?: number;
}

export class EventLogError extends Error {}

/** The events table's DDL (the live log and archive files share it); `name` may be schema-qualified. */
export function eventsTableSql(name: string): string {
  return `CREATE TABLE IF NOT EXISTS ${name} (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    at INTEGER NOT NULL,
    request TEXT,
    data TEXT NOT NULL
  )`;
}

/** A file holding events `sluice archive` moved out of the live log (same `events` table). */
export interface ArchiveFile {
  path: string;
  firstSeq: number;
  lastSeq: number;
  /** Whether the live log's `archives` table records it (else it was found by its name). */
  registered: boolean;
}

/** How an archive file is named in `<data dir>/archive/`: events-<firstSeq>-<lastSeq>.db. */
export const ARCHIVE_NAME = /^events-(\d+)-(\d+)\.db$/;

interface Pending {
  definition: EventDefinition;
  id: string;
  at: number;
  data: unknown;
  json: string;
  request: string | null;
}

interface Batch {
  items: Pending[];
  committed: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

type Listener = (record: EventRecord) => void;

const BATCH_MAX = 512;
/** How often the worker checkpoints the WAL, and the WAL size kept after a restart. */
const CHECKPOINT_MS = 250;
const WAL_LIMIT_BYTES = 64 * 1024 * 1024;
/** SQLite's own default, used again if the checkpoint worker cannot run. */
const INLINE_CHECKPOINT_PAGES = 1000;
/** The longest an event waits for a commit when nobody is waiting for it. */
const LAZY_MS = 5;
/** How often a writer looks for events another process appended. */
const POLL_MS = 500;

export class EventLog {
  readonly db: BunSQLiteDatabase;
  private readonly sqlite: Database;
  /** Writes the items in one transaction; returns the seq given to the first. */
  private readonly writeBatch: (items: Pending[]) => number;
  private readonly maxSeq: () => number;
  private pollTimer: Timer | undefined;
  private seq: number;
  private lastAt = 0;
  private batch: Batch | undefined;
  /** The flush due at the next turn of the event loop (someone awaits a commit). */
  private urgent: ReturnType<typeof setImmediate> | undefined;
  private lazyTimer: Timer | undefined;
  private readonly listeners = new Set<Listener>();
  /** Committed records the listeners have not been told of yet, in seq order. */
  private undelivered: EventRecord[] = [];
  private delivering = false;
  private deliveryDue = false;
  private closed = false;
  private readonly readOnly: boolean;
  /**
   * What the log cost this process so far: commits written, events in them, and the time spent
   * writing them (SQLite transactions) and in the listeners (projections, metrics). For
   * /metrics, and for the bench's account of where a request's time goes.
   */
  readonly stats = { commits: 0, events: 0, writeMs: 0, listenerMs: 0 };
  private checkpointer: Checkpointer | undefined;

  private constructor(sqlite: Database, readonly path: string, readonly durability: Durability, readonly: boolean, private readonly lazyMs: number) {
    this.sqlite = sqlite;
    this.readOnly = readonly;
    this.db = drizzle({ client: sqlite });
    const max = sqlite.prepare("SELECT coalesce(max(seq), 0) AS seq FROM events");
    this.maxSeq = () => (max.get() as { seq: number }).seq;
    this.seq = this.maxSeq();
    // The hot path: one prepared statement on the same connection drizzle reads through, and
    // one transaction per group commit. (Measured: drizzle's placeholder mapping doubled the
    // cost of an append.) Readonly logs never write.
    if (readonly) {
      this.writeBatch = () => {
        throw new EventLogError("event log is open read-only");
      };
      return;
    }
    this.checkpointer = startCheckpointer(path, CHECKPOINT_MS, () => {
      // Without the worker, fall back to checkpoints inside commits: slower, never unbounded.
      if (!this.closed) sqlite.run(`PRAGMA wal_autocheckpoint = ${INLINE_CHECKPOINT_PAGES}`);
    });
    const insert = sqlite.prepare("INSERT INTO events (seq, id, type, at, request, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    const write = sqlite.transaction((items: Pending[]) => {
      const first = this.maxSeq() + 1;
      let seq = first;
      for (const item of items) insert.run(seq++, item.id, item.definition.type, item.at, item.request, item.json);
      return first;
    });
    this.writeBatch = (items) => write.immediate(items);
    this.pollTimer = setInterval(() => this.poll(), POLL_MS);
    this.pollTimer.unref?.();
  }

  static open(path: string, options: EventLogOptions = {}): EventLog {
    const durability = options.durability ?? "normal";
    const sqlite = options.readonly
      ? new Database(path, { readonly: true, strict: true })
      : new Database(path, { create: true, strict: true });
    sqlite.run("PRAGMA busy_timeout = 5000");
    if (!options.readonly) {
      sqlite.run("PRAGMA journal_mode = WAL");
      sqlite.run(`PRAGMA synchronous = ${durability === "full" ? "FULL" : "NORMAL"}`);
      // Checkpoints run in a worker (see checkpointer.ts); the WAL file is cut back after each restart.
      sqlite.run("PRAGMA wal_autocheckpoint = 0");
      sqlite.run(`PRAGMA journal_size_limit = ${WAL_LIMIT_BYTES}`);
      sqlite.run(eventsTableSql("events"));
      // No index on `request`: it costs ~40% more per append (measured in bench). Timelines scan,
      // and a request index can be built later (CREATE INDEX) by whatever needs fast lookups.
      //
      // Beside the events, never part of them: projection snapshots (a cache of folded state, see
      // snapshot.ts; rows are replaced and pruned) and the register of archive files that hold
      // events moved out by `sluice archive` (see archive.ts).
      sqlite.run(`CREATE TABLE IF NOT EXISTS snapshots (
        version TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        states TEXT NOT NULL,
        PRIMARY KEY (version, seq)
      )`);
      sqlite.run(`CREATE TABLE IF NOT EXISTS archives (
        first_seq INTEGER PRIMARY KEY,
        last_seq INTEGER NOT NULL,
        path TEXT NOT NULL,
        events INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        at INTEGER NOT NULL
      )`);
    }
    return new EventLog(sqlite, path, durability, options.readonly === true, options.lazyMs ?? LAZY_MS);
  }

  /** The seq of the last committed event. */
  get lastSeq(): number {
    return this.seq;
  }

  /**
   * The seq of the oldest event still in this file: 1, unless `sluice archive` moved older ones
   * out (then they are in archive files, see `range`). lastSeq + 1 when the file holds none.
   */
  get firstSeq(): number {
    const row = this.sqlite.query("SELECT min(seq) AS seq FROM events").get() as { seq: number | null };
    return row.seq ?? this.maxSeq() + 1;
  }

  /** The SQLite connection, for the tables kept beside the events (snapshots, archives). */
  get connection(): Database {
    return this.sqlite;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get isReadonly(): boolean {
    return this.readOnly;
  }

  /** Whether the file has a table (an older or read-only log may lack snapshots and archives). */
  hasTable(name: string): boolean {
    return this.sqlite.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1").get(name) !== null;
  }

  /**
   * Validate and queue one event; it commits with the next group commit, at the latest within
   * a few milliseconds. The promise settles when it is committed.
   */
  append<D extends EventDefinition>(definition: D, data: EventData<D>): Promise<void> {
    return this.enqueue(definition, data, false);
  }

  /**
   * Validate and queue one event that someone is about to wait for (the request is on record,
   * the answer may go out): the group commit runs at the next turn of the event loop, or at
   * once when the caller says it is `alone` (no other request in flight to share the commit).
   */
  commit<D extends EventDefinition>(definition: D, data: EventData<D>, options: { alone?: boolean } = {}): Promise<void> {
    // With nothing else in flight there is nothing to batch with: commit now, not a turn later.
    const committed = this.enqueue(definition, data, !options.alone);
    if (options.alone) this.flush();
    return committed;
  }

  private enqueue(definition: EventDefinition, data: unknown, urgent: boolean): Promise<void> {
    if (this.closed) return Promise.reject(new EventLogError("event log is closed"));
    if (!definition.check.Check(data)) {
      const first = definition.check.Errors(data).First();
      throw new EventLogError(`invalid ${definition.type} event: ${first?.path || "/"} ${first?.message ?? ""}`.trim());
    }
    // `at` never goes backwards, so seq order and time order agree even if the clock steps back.
    const now = Date.now();
    this.lastAt = now > this.lastAt ? now : this.lastAt;
    const request = (data as { request?: unknown }).request;
    const batch = this.batch ?? this.openBatch();
    batch.items.push({
      definition, id: Bun.randomUUIDv7(), at: this.lastAt, data,
      json: JSON.stringify(data), request: typeof request === "string" ? request : null,
    });
    if (batch.items.length >= BATCH_MAX) this.flush();
    else if (urgent && !this.urgent) this.urgent = setImmediate(() => this.flush());
    return batch.committed;
  }

  private openBatch(): Batch {
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const committed = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    committed.catch(() => {}); // callers that do not await must not see an unhandled rejection
    const batch: Batch = { items: [], committed, resolve, reject };
    this.batch = batch;
    this.lazyTimer = setTimeout(() => this.flush(), this.lazyMs);
    return batch;
  }

  /** Commit everything queued, in one transaction. */
  flush(): void {
    // Whatever was due to flush this batch later is done with: a later one brings its own.
    clearImmediate(this.urgent);
    this.urgent = undefined;
    clearTimeout(this.lazyTimer);
    const batch = this.batch;
    if (!batch || batch.items.length === 0) return;
    this.batch = undefined;
    let first: number;
    const started = performance.now();
    try {
      first = this.writeBatch(batch.items);
    } catch (error) {
      batch.reject(new EventLogError(`event log commit failed: ${(error as Error).message}`));
      return;
    } finally {
      this.stats.writeMs += performance.now() - started;
    }
    this.stats.commits += 1;
    this.stats.events += batch.items.length;
    // Another process appended since our last commit: its events come first, in order.
    if (first > this.seq + 1) this.deliverForeign(first - 1);
    this.seq = first + batch.items.length - 1;
    batch.resolve();
    if (this.listeners.size === 0) return;
    let seq = first;
    for (const item of batch.items) this.undelivered.push({ seq: seq++, id: item.id, type: item.definition.type, at: item.at, data: item.data });
    this.deliverSoon();
  }

  /**
   * Listeners hear of a commit at the next turn of the event loop, not inside it: the callers
   * waiting for the commit go on first (an answer goes out before the projections fold it).
   * Whoever reads what listeners build calls deliver() first, so a read never misses a commit.
   */
  private deliverSoon(): void {
    if (this.deliveryDue) return;
    this.deliveryDue = true;
    setImmediate(() => {
      this.deliveryDue = false;
      this.deliver();
    });
  }

  /**
   * Tell the listeners of every committed record they have not heard of, in seq order, now.
   * Called again from inside a listener, it returns at once (the outer call goes on in order).
   */
  deliver(): void {
    if (this.delivering || this.undelivered.length === 0) return;
    this.delivering = true;
    const started = performance.now();
    try {
      // A listener may commit (an ejection note): what that adds is delivered in this same loop.
      for (let i = 0; i < this.undelivered.length; i++) this.notify(this.undelivered[i]!);
    } finally {
      this.undelivered = [];
      this.delivering = false;
      this.stats.listenerMs += performance.now() - started;
    }
  }

  private notify(record: EventRecord): void {
    for (const listener of this.listeners) {
      try {
        listener(record);
      } catch {
        // a listener's failure must not undo or block a commit; listeners report their own errors
      }
    }
  }

  /** Deliver events another process committed, up to `upTo`, and move our seq past them. */
  private deliverForeign(upTo: number): void {
    while (this.seq < upTo) {
      let page = this.read(this.seq, 1000, upTo);
      const next = page[0]?.seq ?? upTo + 1;
      if (next > this.seq + 1) {
        // `sluice archive` moved events out before this process saw them: read those from the archive.
        try {
          page = [...this.range(this.seq, Math.min(upTo, next - 1))];
        } catch {
          // the archive is unreadable: deliver what the live log has
        }
      }
      if (page.length === 0) break;
      for (const record of page) {
        this.seq = record.seq;
        this.lastAt = Math.max(this.lastAt, record.at);
        if (this.listeners.size > 0) this.undelivered.push(record);
      }
      this.deliverSoon();
    }
  }

  /** Pick up events another process appended while this one had nothing to commit. */
  poll(): void {
    if (this.closed || this.batch) return;
    const max = this.maxSeq();
    if (max > this.seq) {
      this.deliverForeign(max);
      this.deliver();
    }
  }

  /** Called with every record after it commits, in seq order (soon after: see deliver). */
  subscribe(listener: Listener): () => void {
    // What was committed before is the new listener's past, not news: the others hear it first.
    this.deliver();
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events with seq in (after, upTo], in order. */
  read(after = 0, limit = 1000, upTo = Number.MAX_SAFE_INTEGER): EventRecord[] {
    return this.db.select({ seq: events.seq, id: events.id, type: events.type, at: events.at, data: events.data })
      .from(events)
      .where(and(gt(events.seq, after), lte(events.seq, upTo)))
      .orderBy(asc(events.seq))
      .limit(limit)
      .all() as EventRecord[];
  }

  /** Every event from seq 1 on, read page by page so a large log is never in memory at once. */
  *all(pageSize = 5000): Generator<EventRecord> {
    let after = 0;
    const upTo = this.seq || Number.MAX_SAFE_INTEGER;
    for (;;) {
      const page = this.read(after, pageSize, upTo);
      yield* page;
      if (page.length < pageSize) return;
      after = page[page.length - 1]!.seq;
    }
  }

  /**
   * Events with seq in (after, upTo], in order: those `sluice archive` moved out are read from
   * their archive files, the rest from this file. A seq missing where archived events should
   * be (an archive file gone, a gap between files) throws EventLogError naming the range.
   */
  *range(after = 0, upTo = this.seq, pageSize = 5000): Generator<EventRecord> {
    let done = after;
    const first = this.firstSeq;
    if (done + 1 < first && done < upTo) {
      const end = Math.min(upTo, first - 1);
      for (const file of this.archives()) {
        if (file.lastSeq <= done || file.firstSeq > end) continue;
        if (file.firstSeq > done + 1) break;
        if (!existsSync(file.path)) continue; // perhaps another file holds the same range
        let archive: EventLog;
        try {
          archive = EventLog.open(file.path, { readonly: true });
        } catch (error) {
          throw new EventLogError(`cannot read archive ${file.path}: ${(error as Error).message.split("\n")[0]}`);
        }
        try {
          while (done < Math.min(end, file.lastSeq)) {
            const page = archive.read(done, pageSize, Math.min(end, file.lastSeq));
            if (page.length === 0 || page[0]!.seq !== done + 1) break;
            for (const event of page) {
              if (event.seq !== done + 1) break;
              done = event.seq;
              yield event;
            }
          }
        } finally {
          archive.close();
        }
        if (done >= end) break;
      }
      if (done < end) {
        const known = this.archives().map((f) => `${f.path} (${f.firstSeq}…${f.lastSeq}${existsSync(f.path) ? "" : ", missing"})`);
        throw new EventLogError(`events ${done + 1}…${end} are not in ${this.path} nor in its archives (${known.length > 0 ? known.join(", ") : "none found"})`);
      }
    }
    for (;;) {
      const page = this.read(done, pageSize, upTo);
      yield* page;
      if (page.length < pageSize) return;
      done = page[page.length - 1]!.seq;
    }
  }

  /**
   * The archive files that hold events moved out of this log, by first seq: those the
   * `archives` table records (looked for also in <dir>/archive/ by name, should the data dir
   * have moved), then any events-A-B.db found in <dir>/archive/.
   */
  archives(): ArchiveFile[] {
    const files = new Map<string, ArchiveFile>();
    const local = join(dirname(resolve(this.path)), "archive");
    if (this.hasTable("archives")) {
      const rows = this.sqlite.query("SELECT first_seq AS firstSeq, last_seq AS lastSeq, path FROM archives ORDER BY first_seq").all() as Array<{ firstSeq: number; lastSeq: number; path: string }>;
      for (const row of rows) {
        const moved = join(local, basename(row.path));
        const path = !existsSync(row.path) && existsSync(moved) ? moved : row.path;
        files.set(resolve(path), { path: resolve(path), firstSeq: row.firstSeq, lastSeq: row.lastSeq, registered: true });
      }
    }
    let names: string[] = [];
    try {
      names = readdirSync(local);
    } catch {
      // no archive dir
    }
    for (const name of names) {
      const match = ARCHIVE_NAME.exec(name);
      const path = join(local, name);
      if (!match || files.has(path)) continue;
      files.set(path, { path, firstSeq: Number(match[1]), lastSeq: Number(match[2]), registered: false });
    }
    return [...files.values()].sort((a, b) => a.firstSeq - b.firstSeq || b.lastSeq - a.lastSeq);
  }

  /** One request's events, in order: from the live log, else from the archive that holds it. */
  forRequest(request: string): EventRecord[] {
    const live = this.db.select({ seq: events.seq, id: events.id, type: events.type, at: events.at, data: events.data })
      .from(events)
      .where(eq(events.request, request))
      .orderBy(asc(events.seq))
      .all() as EventRecord[];
    if (live.length > 0 || this.firstSeq <= 1) return live;
    // An archive never splits a request: the whole timeline is in one file. Newest first.
    for (const file of this.archives().reverse()) {
      if (!existsSync(file.path)) continue;
      const archive = new Database(file.path, { readonly: true, strict: true });
      try {
        const rows = archive.query("SELECT seq, id, type, at, data FROM events WHERE request = ?1 ORDER BY seq").all(request) as Array<{ seq: number; id: string; type: string; at: number; data: string }>;
        if (rows.length > 0) return rows.map((r) => ({ seq: r.seq, id: r.id, type: r.type, at: r.at, data: JSON.parse(r.data) }));
      } finally {
        archive.close();
      }
    }
    return [];
  }

  /** Whether every stored event validates against its type's schema (unknown types fail). */
  static validate(record: EventRecord): boolean {
    const definition = catalog.get(record.type);
    return definition !== undefined && definition.check.Check(record.data);
  }

  integrityCheck(): string {
    const row = this.sqlite.query("PRAGMA integrity_check").get() as { integrity_check: string };
    return row.integrity_check;
  }

  /** Check that the log can be written now (for /ready). */
  writable(): boolean {
    try {
      this.sqlite.query("BEGIN IMMEDIATE").run();
      this.sqlite.query("ROLLBACK").run();
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.deliver();
    this.closed = true;
    clearInterval(this.pollTimer);
    this.checkpointer?.stop();
    this.sqlite.close();
  }
}
