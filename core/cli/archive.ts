import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { ArchiveRefused, archiveEvents, type ArchiveResult } from "../../events/archive.ts";
import { EventLog, EventLogError } from "../../events/log.ts";
import { SnapshotError } from "../../events/snapshot.ts";
import { StartError } from "../boot.ts";
import { parseFlags, UsageError } from "./args.ts";
import { loadWhatIfConfig } from "./replay.ts";

// `sluice archive --before DATE`: move the events older than DATE out of the live log into an
// archive file, with a snapshot of every projection at the last event moved (see
// events/archive.ts). Safe beside a running server.

export const ARCHIVE_HELP = `Usage: sluice archive --before DATE [--data DIR | --config FILE] [--to FILE]

Move the events older than DATE out of the live event log (events.db) into an archive file, so
the live log stops growing without bound. First a snapshot of every projection is stored at the
last event moved (start-up never needs the moved events), then the events are copied (0600,
fsynced, integrity-checked) and deleted from the live log in one transaction. Safe beside a
running server: seq goes on where it was; only reads of the moved events (a request's timeline,
/api/events by seq) no longer find them in the live log.

The cut never splits a request: if a request has events on both sides of DATE, or is still in
flight, the cut moves back to before its first event. The newest event always stays.

  --before DATE  move events from before DATE: 2026-01-31 (UTC midnight), 2026-01-31T12:00:00Z,
                 ms since epoch, or an age: 90d, 12h, 30m (that long before now)
  --to FILE      the archive file (default DIR/archive/events-<first seq>-<last seq>.db)
  --data DIR     data directory holding events.db (default: the config's data_dir, else ./.sluice)
  --config FILE  read data_dir from this config (default ./sluice.yaml if present)
  -h, --help     show this help

Archive files are event logs: "sluice replay --data DIR" reads them and the live log as one log,
and "sluice replay --log ARCHIVE --log DIR/events.db" does the same for files named one by one.
events.db does not shrink on disk: the space is reused by new events (VACUUM, server stopped,
gives it back to the file system).`;

const AGE = /^(\d+)([dhm])$/;
const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000 } as const;

/** DATE as ms since epoch, or undefined if it is not one of the accepted forms. */
export function parseBefore(value: string, now = Date.now()): number | undefined {
  const text = value.trim();
  const age = AGE.exec(text);
  if (age) return now - Number(age[1]) * UNIT_MS[age[2] as keyof typeof UNIT_MS];
  if (/^\d+$/.test(text)) {
    const ms = Number(text);
    return Number.isSafeInteger(ms) ? ms : undefined;
  }
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}

/** --data wins; else the config's data_dir (explicit --config, or ./sluice.yaml if present); else ./.sluice. */
function resolveDataDir(data: string | undefined, config: string | undefined): string {
  const path = config ?? (data === undefined && existsSync("sluice.yaml") ? "sluice.yaml" : undefined);
  const loaded = path !== undefined ? loadWhatIfConfig(path) : undefined;
  return data ?? loaded?.data_dir ?? "./.sluice";
}

export interface ArchiveCommandOptions {
  dataDir: string;
  before: number;
  to?: string;
}

/** Archive a data dir's log (opened here, closed after). User-fixable problems throw StartError. */
export function archive(options: ArchiveCommandOptions): ArchiveResult {
  const dir = resolve(options.dataDir);
  let stat;
  try {
    stat = statSync(dir);
  } catch {
    throw new StartError(`sluice archive: cannot use data dir ${options.dataDir}: no such directory`);
  }
  if (!stat.isDirectory()) throw new StartError(`sluice archive: cannot use data dir ${options.dataDir}: not a directory`);
  const path = join(dir, "events.db");
  if (!existsSync(path)) throw new StartError(`sluice archive: no event log at ${path}`);
  let log: EventLog;
  try {
    log = EventLog.open(path);
  } catch (error) {
    throw new StartError(`sluice archive: cannot open ${path}: ${(error as Error).message.split("\n")[0]}`);
  }
  try {
    return archiveEvents(log, { before: options.before, ...(options.to !== undefined ? { to: options.to } : {}) });
  } catch (error) {
    if (error instanceof ArchiveRefused || error instanceof EventLogError || error instanceof SnapshotError) {
      throw new StartError(`sluice archive: ${error.message}`);
    }
    throw error;
  } finally {
    log.close();
  }
}

const kb = (bytes: number) => (bytes >= 10 * 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(0)} MB` : `${(bytes / 1024).toFixed(0)} KB`);

export function formatArchive(result: ArchiveResult, before: number): string {
  const held = result.heldBy
    ? `; cut moved back from seq ${result.candidate} to keep request ${result.heldBy.request} whole (${result.heldBy.open ? "still in flight" : "it ends after the date"})`
    : "";
  return `sluice archive: moved ${result.events} events (seq ${result.firstSeq}…${result.boundary}, before ${new Date(before).toISOString()}) to ${result.file}, `
    + `${result.bytes} bytes, ${result.ms} ms (integrity ok; snapshot at seq ${result.boundary}, ${kb(result.snapshot.bytes)}; live log locked ${result.deleteMs} ms; `
    + `${kb(result.freeBytes)} free in events.db for new events${held})`;
}

export async function archiveCommand(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    before: { type: "string" }, to: { type: "string" }, data: { type: "string" }, config: { type: "string" },
  }, "archive");
  if (values.help) {
    console.log(ARCHIVE_HELP);
    return 0;
  }
  if (values.before === undefined) throw new UsageError("sluice archive: --before DATE is required (see sluice archive --help)");
  const before = parseBefore(values.before);
  if (before === undefined) {
    throw new UsageError(`sluice archive: --before expects a date (2026-01-31, 2026-01-31T12:00:00Z), ms since epoch or an age (90d, 12h, 30m), got "${values.before}"`);
  }
  const dataDir = resolveDataDir(values.data, values.config);
  const result = archive({ dataDir, before, ...(values.to !== undefined ? { to: values.to } : {}) });
  console.log(formatArchive(result, before));
  return 0;
}
