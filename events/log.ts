import { Database } from "bun:sqlite";
import { and, asc, eq, gt, lte, sql } from "drizzle-orm";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { catalog } from "./catalog/index.ts";
import type { EventData, EventDefinition, EventRecord } from "./define.ts";

// The append-only event log: the source of truth. One writer per data dir; `seq` is
// assigned inside the committing transaction, so readers never see N+1 before N.

export const events = sqliteTable("events", {
  seq: integer("seq").primaryKey(),
  id: text("id").notNull(),
  type: text("type").notNull(),
  at: integer("at").notNull(),
  /** The request id, when the event belongs to a request: indexed for timelines. */
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
}

export class EventLogError extends Error {}

interface Pending {
  definition: EventDefinition;
  id: string;
  at: number;
  data: unknown;
}

interface Batch {
  items: Pending[];
  committed: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

type Listener = (record: EventRecord) => void;

const BATCH_MAX = 512;

export class EventLog {
  readonly db: BunSQLiteDatabase;
  private readonly sqlite: Database;
  private readonly insert;
  private seq: number;
  private lastAt = 0;
  private batch: Batch | undefined;
  private readonly listeners = new Set<Listener>();
  private closed = false;

  private constructor(sqlite: Database, readonly path: string, readonly durability: Durability) {
    this.sqlite = sqlite;
    this.db = drizzle({ client: sqlite });
    const last = this.db.select({ seq: sql<number>`coalesce(max(${events.seq}), 0)` }).from(events).get();
    this.seq = last?.seq ?? 0;
    this.insert = this.db.insert(events).values({
      seq: sql.placeholder("seq"),
      id: sql.placeholder("id"),
      type: sql.placeholder("type"),
      at: sql.placeholder("at"),
      request: sql.placeholder("request"),
      data: sql.placeholder("data"),
    }).prepare();
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
      sqlite.run(`CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        type TEXT NOT NULL,
        at INTEGER NOT NULL,
        request TEXT,
        data TEXT NOT NULL
      )`);
      sqlite.run("CREATE INDEX IF NOT EXISTS events_request ON events(request) WHERE request IS NOT NULL");
      sqlite.run("CREATE INDEX IF NOT EXISTS events_type ON events(type)");
    }
    return new EventLog(sqlite, path, durability);
  }

  /** The seq of the last committed event. */
  get lastSeq(): number {
    return this.seq;
  }

  /**
   * Validate and queue one event. The returned promise settles when its group commit does;
   * await it where durability matters (before answering), ignore it elsewhere.
   */
  append<D extends EventDefinition>(definition: D, data: EventData<D>): Promise<void> {
    if (this.closed) return Promise.reject(new EventLogError("event log is closed"));
    if (!definition.check.Check(data)) {
      const first = definition.check.Errors(data).First();
      throw new EventLogError(`invalid ${definition.type} event: ${first?.path || "/"} ${first?.message ?? ""}`.trim());
    }
    // `at` never goes backwards, so seq order and time order agree even if the clock steps back.
    const now = Date.now();
    this.lastAt = now > this.lastAt ? now : this.lastAt;
    const batch = this.batch ?? this.openBatch();
    batch.items.push({ definition, id: Bun.randomUUIDv7(), at: this.lastAt, data });
    if (batch.items.length >= BATCH_MAX) this.flush();
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
    setImmediate(() => this.flush());
    return batch;
  }

  /** Commit everything queued, in one transaction. */
  flush(): void {
    const batch = this.batch;
    if (!batch || batch.items.length === 0) return;
    this.batch = undefined;
    const first = this.seq + 1;
    const records: EventRecord[] = [];
    try {
      this.sqlite.transaction(() => {
        let seq = first;
        for (const item of batch.items) {
          const data = item.data as { request?: unknown };
          const record: EventRecord = { seq, id: item.id, type: item.definition.type, at: item.at, data: item.data };
          this.insert.run({
            seq,
            id: item.id,
            type: record.type,
            at: item.at,
            request: typeof data.request === "string" ? data.request : null,
            data: item.data,
          });
          records.push(record);
          seq++;
        }
      })();
    } catch (error) {
      batch.reject(new EventLogError(`event log commit failed: ${(error as Error).message}`));
      return;
    }
    this.seq = first + records.length - 1;
    batch.resolve();
    for (const record of records) {
      for (const listener of this.listeners) {
        try {
          listener(record);
        } catch {
          // a listener's failure must not undo or block a commit; listeners report their own errors
        }
      }
    }
  }

  /** Called with every record after it commits, in seq order. */
  subscribe(listener: Listener): () => void {
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

  /** One request's events, in order. */
  forRequest(request: string): EventRecord[] {
    return this.db.select({ seq: events.seq, id: events.id, type: events.type, at: events.at, data: events.data })
      .from(events)
      .where(eq(events.request, request))
      .orderBy(asc(events.seq))
      .all() as EventRecord[];
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
    this.closed = true;
    this.sqlite.close();
  }
}
