import { createHash } from "node:crypto";
import type { EventLog } from "./log.ts";
import type { Projection } from "./projections/projection.ts";
import * as conversationsModule from "./projections/conversations.ts";
import * as healthModule from "./projections/health.ts";
import * as keysModule from "./projections/keys.ts";
import * as requestsModule from "./projections/requests.ts";
import * as routingModule from "./projections/routing.ts";
import * as signaturesModule from "./projections/signatures.ts";
import * as tokenAccuracyModule from "./projections/token-accuracy.ts";
import * as usageModule from "./projections/usage.ts";
import * as usageRollupModule from "./projections/usage-rollup.ts";

// Projection snapshots: the folded state of every projection at one seq, kept in the
// `snapshots` table of events.db (created by EventLog.open), so that a start-up folds only the
// events after the newest snapshot instead of the whole log, and so that `sluice archive` can
// move old events out of the live log. A snapshot is a cache, never a source of truth: rebuilding
// from event 1 (archives included) gives the same state, and a snapshot that cannot be used is
// ignored, never misapplied.
//
// "Cannot be used" means made by other projection code: each snapshot carries a `version`, a
// SHA-256 over SNAPSHOT_FORMAT and, per projection, its name and the source of its `initial` and
// `evolve`, plus the source of every function and the value of every constant its module exports
// (MAX_REQUESTS, EJECT_AFTER, …). What that digest cannot see: helper functions a module keeps
// private (health's `failed`, usage-rollup's `bucketFor`, …). Whoever changes one of those in a
// way that changes the folded state must bump SNAPSHOT_FORMAT. The same code run from source and
// from the minified binary gives two versions: each ignores the other's snapshots (safe; it
// costs one full fold).
//
// States are stored as JSON. Every projection state is plain JSON except the requests
// projection's `byId` index (a Map over the same row objects as `rows`): its codec below drops
// it and rebuilds it from the rows, so the rows and the index stay one set of objects.

/** Bump when the stored form changes, or a projection's private helpers change what it folds. */
export const SNAPSHOT_FORMAT = 1;

/** Snapshots kept per version (newest by seq; and see `base` below), and versions kept (newest by write time). */
const KEEP_PER_VERSION = 2;
const KEEP_VERSIONS = 3;

export class SnapshotError extends Error {}

/** The modules the projections live in: their exports join the version digest. */
const MODULES: ReadonlyArray<Record<string, unknown>> = [
  conversationsModule, healthModule, keysModule, requestsModule, routingModule,
  signaturesModule, tokenAccuracyModule, usageModule, usageRollupModule,
];

type AnyProjection = Projection<unknown>;
type List = readonly AnyProjection[];

const versions = new WeakMap<List, string>();

/** The digest of the projection code (see above); snapshots of another version are ignored. */
export function projectionsVersion(list: List): string {
  const known = versions.get(list);
  if (known) return known;
  const hash = createHash("sha256");
  hash.update(`sluice snapshot format ${SNAPSHOT_FORMAT}\n`);
  for (const projection of list) {
    hash.update(`projection ${projection.name}\n${projection.initial.toString()}\n${projection.evolve.toString()}\n`);
  }
  for (const module of MODULES) {
    for (const name of Object.keys(module).sort()) {
      const value = module[name];
      if (typeof value === "function") hash.update(`${name}=${value.toString()}\n`);
      else if (value === null || typeof value !== "object") hash.update(`${name}=${String(value)}\n`);
      else if (Array.isArray(value) && value.every((item) => typeof item !== "object")) hash.update(`${name}=${JSON.stringify(value)}\n`);
    }
  }
  const version = hash.digest("hex");
  versions.set(list, version);
  return version;
}

interface Codec {
  encode(state: unknown): unknown;
  decode(json: unknown): unknown;
}

type RequestsState = requestsModule.RequestsState;

/** Projections whose state is not plain JSON, and how they are stored. */
const CODECS: Record<string, Codec> = {
  requests: {
    encode(state) {
      const { byId: _byId, ...rest } = state as RequestsState;
      return rest;
    },
    decode(json) {
      const { rows, evicted, evictedAt } = json as Omit<RequestsState, "byId">;
      return { rows, byId: new Map(rows.map((row) => [row.id, row])), evicted, evictedAt } satisfies RequestsState;
    },
  },
};

/** A Map or Set would be written as {}: refuse instead (one level deep; cheap). */
function checkPlain(name: string, state: unknown): void {
  const bad = (value: unknown) => value instanceof Map || value instanceof Set;
  if (bad(state)) throw new SnapshotError(`projection ${name}: its state is a ${(state as object).constructor.name}; give it a codec in events/snapshot.ts`);
  if (state === null || typeof state !== "object") return;
  for (const [key, value] of Object.entries(state)) {
    if (bad(value)) throw new SnapshotError(`projection ${name}: .${key} is a ${(value as object).constructor.name}; give it a codec in events/snapshot.ts`);
  }
}

/** The states as stored: one JSON object by projection name. */
export function encodeStates(states: Record<string, unknown>, list: List): string {
  const out: Record<string, unknown> = {};
  for (const { name } of list) {
    if (!(name in states)) throw new SnapshotError(`no state for projection ${name}`);
    const encoded = CODECS[name]?.encode(states[name]) ?? states[name];
    checkPlain(name, encoded);
    out[name] = encoded;
  }
  return JSON.stringify(out);
}

export function decodeStates(text: string, list: List): Record<string, unknown> {
  const json = JSON.parse(text) as Record<string, unknown>;
  if (json === null || typeof json !== "object") throw new SnapshotError("a snapshot is not a JSON object");
  const states: Record<string, unknown> = {};
  for (const { name } of list) {
    if (!(name in json)) throw new SnapshotError(`the snapshot has no state for projection ${name}`);
    states[name] = CODECS[name]?.decode(json[name]) ?? json[name];
  }
  return states;
}

export interface SnapshotWritten {
  seq: number;
  /** When it was written, ms since epoch. */
  at: number;
  version: string;
  /** Size of the stored JSON. */
  bytes: number;
  /** Time to encode (JSON), to write (one SQLite transaction), and in all. */
  encodeMs: number;
  writeMs: number;
  ms: number;
}

/**
 * Store the states as they are after event `seq` (the caller vouches for that). One transaction
 * in `log`'s file; older snapshots beyond what is kept are deleted in it. `base`: the seq the
 * live log will start after (default: where it starts now; `sluice archive` passes its cut).
 */
export function writeSnapshot(log: EventLog, seq: number, states: Record<string, unknown>, list: List, options: { base?: number } = {}): SnapshotWritten {
  if (log.isReadonly) throw new SnapshotError("the event log is open read-only");
  const started = performance.now();
  const version = projectionsVersion(list);
  const json = encodeStates(states, list);
  const encoded = performance.now();
  const at = Date.now();
  const db = log.connection;
  // Kept besides the newest: the newest at or below the live log's first seq − 1 (the state the
  // live log starts from after `sluice archive`), so that the next archive and a start-up never
  // need the archive files while this code's version stays the same.
  const base = options.base ?? log.firstSeq - 1;
  db.transaction(() => {
    db.query("INSERT OR REPLACE INTO snapshots (version, seq, at, states) VALUES (?1, ?2, ?3, ?4)").run(version, seq, at, json);
    db.query(`DELETE FROM snapshots WHERE version = ?1
      AND seq NOT IN (SELECT seq FROM snapshots WHERE version = ?1 ORDER BY seq DESC LIMIT ${KEEP_PER_VERSION})
      AND seq IS NOT (SELECT max(seq) FROM snapshots WHERE version = ?1 AND seq <= ?2)`).run(version, base);
    db.query(`DELETE FROM snapshots WHERE version NOT IN
      (SELECT version FROM snapshots GROUP BY version ORDER BY max(at) DESC LIMIT ${KEEP_VERSIONS})`).run();
  }).immediate();
  const done = performance.now();
  return {
    seq, at, version, bytes: Buffer.byteLength(json),
    encodeMs: Math.round(encoded - started), writeMs: Math.round(done - encoded), ms: Math.round(done - started),
  };
}

export interface LoadedSnapshot {
  seq: number;
  at: number;
  version: string;
  states: Record<string, unknown>;
  bytes: number;
  /** Time to read and decode it. */
  ms: number;
}

/**
 * The newest snapshot with this code's version and seq in [minSeq, maxSeq] (maxSeq defaults to
 * the log's last seq: a snapshot ahead of the log is never used). One that fails to decode is
 * skipped for the next older one.
 */
export function loadSnapshot(log: EventLog, list: List, bounds: { minSeq?: number; maxSeq?: number } = {}): LoadedSnapshot | undefined {
  if (!log.hasTable("snapshots")) return undefined;
  const version = projectionsVersion(list);
  const rows = log.connection.query("SELECT seq FROM snapshots WHERE version = ?1 AND seq >= ?2 AND seq <= ?3 ORDER BY seq DESC")
    .all(version, bounds.minSeq ?? 0, bounds.maxSeq ?? log.lastSeq) as Array<{ seq: number }>;
  const read = log.connection.query("SELECT at, states FROM snapshots WHERE version = ?1 AND seq = ?2");
  for (const { seq } of rows) {
    const started = performance.now();
    const row = read.get(version, seq) as { at: number; states: string } | null;
    if (!row) continue;
    try {
      const states = decodeStates(row.states, list);
      return { seq, at: row.at, version, states, bytes: Buffer.byteLength(row.states), ms: Math.round(performance.now() - started) };
    } catch {
      // a damaged snapshot is a cache miss: try the next older one
    }
  }
  return undefined;
}

export interface SnapshotInfo {
  version: string;
  seq: number;
  at: number;
  bytes: number;
  /** Made by this code (usable). */
  current: boolean;
}

/** Every stored snapshot, newest first (for diagnostics and tests). */
export function listSnapshots(log: EventLog, list: List): SnapshotInfo[] {
  if (!log.hasTable("snapshots")) return [];
  const version = projectionsVersion(list);
  const rows = log.connection.query("SELECT version, seq, at, length(CAST(states AS BLOB)) AS bytes FROM snapshots ORDER BY seq DESC, at DESC")
    .all() as Array<Omit<SnapshotInfo, "current">>;
  return rows.map((row) => ({ ...row, current: row.version === version }));
}
