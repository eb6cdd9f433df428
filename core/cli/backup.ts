import { Database } from "bun:sqlite";
import { fileErrorReason, fsyncPath } from "../../events/files.ts";
import { existsSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { StartError } from "../boot.ts";
import { UsageError } from "./args.ts";
import { loadWhatIfConfig } from "./replay.ts";

// `sluice backup FILE`: a consistent copy of the live event log, taken beside a running server.
// A separate read-only connection runs VACUUM INTO, which reads one snapshot (one read
// transaction over the WAL), so the copy holds every event committed before that moment and
// none after: seq stays gap-free and no request is cut inside a batch. The server keeps writing;
// SQLite readers never block its writer. The copy is a plain single-file SQLite database
// (rollback journal), usable as `sluice replay --log FILE` or as the events.db of a new data dir.

export const BACKUP_HELP = `Usage: sluice backup FILE [--data DIR | --config FILE] [--force]

Copy the event log (events.db) to FILE while the server keeps running: a consistent snapshot
of every event committed so far (SQLite VACUUM INTO over a separate read-only connection). The
copy is checked (integrity_check, seq gap-free from 1) and written 0600. If the data dir holds
a secrets vault (vault.json), it is copied beside the backup as FILE.vault.json (0600); it stays
encrypted and needs the same key to open.

  FILE           where to write the backup (refused if it exists, unless --force)
  --data DIR     data directory holding events.db (default: the config's data_dir, else ./.sluice)
  --config FILE  read data_dir from this config (default ./sluice.yaml if present)
  --force        overwrite FILE (and FILE.vault.json) if they exist
  -h, --help     show this help

Restore: use FILE directly with "sluice replay --log FILE", or stop the server and put it in
place as DIR/events.db (and FILE.vault.json as DIR/vault.json) of a data dir; the server goes
on from the backup's last seq + 1.`;

export interface BackupOptions {
  /** The data dir holding events.db (and perhaps vault.json). */
  dataDir: string;
  /** Where the copy goes. */
  target: string;
  force?: boolean;
}

export interface BackupResult {
  source: string;
  target: string;
  events: number;
  lastSeq: number;
  /** Count of missing seqs between 1 and lastSeq (0 for a healthy log). */
  gaps: number;
  bytes: number;
  ms: number;
  /** Where the vault was copied, if the data dir has one. */
  vault?: string;
}

function removeQuietly(...paths: string[]): void {
  for (const path of paths) rmSync(path, { force: true });
}

/** Where a temporary copy is written before it is checked and renamed into place. */
function tempBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now()}`);
}

/**
 * Take the backup. User-fixable problems (no data dir, no log, target exists or cannot be
 * written) throw StartError (one line, exit 2); a copy that does not verify throws Error (exit 1).
 * Synchronous: SQLite does the copy in this thread.
 */
export function backup(options: BackupOptions): BackupResult {
  const started = performance.now();
  const dataDir = resolve(options.dataDir);
  const target = resolve(options.target);
  const source = join(dataDir, "events.db");
  const vaultSource = join(dataDir, "vault.json");
  const vaultTarget = `${target}.vault.json`;

  // The source: a data dir with an event log in it.
  let dirStat;
  try {
    dirStat = statSync(dataDir);
  } catch (error) {
    throw new StartError(`sluice backup: cannot use data dir ${options.dataDir}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "no such directory" : fileErrorReason(error)}`);
  }
  if (!dirStat.isDirectory()) throw new StartError(`sluice backup: cannot use data dir ${options.dataDir}: not a directory`);
  if (!existsSync(source)) throw new StartError(`sluice backup: no event log at ${source}`);

  // The target: never the live log, never an existing file without --force.
  if (existsSync(target)) {
    if (statSync(target).isDirectory()) throw new StartError(`sluice backup: cannot write ${options.target}: is a directory`);
    if (realpathSync(target) === realpathSync(source)) throw new StartError(`sluice backup: ${options.target} is the live event log itself; choose another file`);
    if (!options.force) throw new StartError(`sluice backup: ${options.target} already exists (use --force to overwrite)`);
  }
  const hasVault = existsSync(vaultSource);
  if (hasVault && existsSync(vaultTarget) && !options.force) {
    throw new StartError(`sluice backup: ${vaultTarget} already exists (use --force to overwrite)`);
  }
  const parent = dirname(target);
  if (!existsSync(parent)) throw new StartError(`sluice backup: cannot write ${options.target}: no such directory ${parent}`);

  // Create the temporary copy ourselves, empty and 0600, so the events are never readable by
  // others, not even for a moment (VACUUM INTO accepts an empty file).
  const temp = tempBeside(target);
  try {
    writeFileSync(temp, "", { mode: 0o600, flag: "wx" });
  } catch (error) {
    throw new StartError(`sluice backup: cannot write ${options.target}: ${fileErrorReason(error)}`);
  }

  let db: Database | undefined;
  try {
    try {
      db = new Database(source, { readonly: true, strict: true });
      db.run("PRAGMA busy_timeout = 5000");
      const table = db.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'events'").get();
      if (!table) throw new StartError(`sluice backup: ${source} is not a Sluice event log (no events table)`);
    } catch (error) {
      if (error instanceof StartError) throw error;
      throw new StartError(`sluice backup: cannot read ${source}: ${fileErrorReason(error)}`);
    }
    try {
      // One read transaction: a snapshot of every committed event, whatever the server does meanwhile.
      db.run("VACUUM INTO ?", [temp]);
    } catch (error) {
      const code = (error as { code?: string }).code ?? "";
      const userFixable = /CANTOPEN|READONLY|PERM|AUTH/.test(code);
      const message = `cannot copy ${source} to ${options.target}: ${fileErrorReason(error)}`;
      // main() prints a run-time failure as "sluice: <message>" (exit 1), a StartError as it is (exit 2).
      throw userFixable ? new StartError(`sluice backup: ${message}`) : new Error(`backup: ${message}`);
    }
    db.close();
    db = undefined;

    // VACUUM INTO does not sync what it wrote: make the copy durable before it takes the name.
    fsyncPath(temp);
    const checked = verify(temp);
    renameSync(temp, target);
    try {
      fsyncPath(parent, "r");
    } catch {
      // some file systems cannot fsync a directory; the rename is still atomic
    }

    let vault: string | undefined;
    if (hasVault) vault = copyVault(vaultSource, vaultTarget);

    return {
      source, target, ...checked,
      bytes: statSync(target).size,
      ms: Math.round(performance.now() - started),
      ...(vault ? { vault } : {}),
    };
  } catch (error) {
    db?.close();
    removeQuietly(temp, `${temp}-journal`);
    throw error;
  }
}

/** Open the copy on its own and check it: SQLite's integrity check, and seq from 1 without gaps. */
function verify(path: string): { events: number; lastSeq: number; gaps: number } {
  const copy = new Database(path, { readonly: true, strict: true });
  try {
    const integrity = (copy.query("PRAGMA integrity_check").all() as Array<{ integrity_check: string }>).map((r) => r.integrity_check);
    if (integrity.length !== 1 || integrity[0] !== "ok") {
      throw new Error(`backup: the copy failed its integrity check: ${integrity.slice(0, 3).join("; ")}`);
    }
    const row = copy.query("SELECT count(*) AS events, coalesce(min(seq), 0) AS first, coalesce(max(seq), 0) AS last FROM events").get() as { events: number; first: number; last: number };
    if (row.events > 0 && row.first < 1) throw new Error(`backup: the copy has an event with seq ${row.first}`);
    // Seqs before the first are in archive files (sluice archive), not missing.
    return { events: row.events, lastSeq: row.last, gaps: row.events === 0 ? 0 : row.last - row.first + 1 - row.events };
  } finally {
    copy.close();
  }
}

/** Copy the vault file as it is (encrypted at rest), 0600, through a temporary file and a rename. */
function copyVault(from: string, to: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(from);
  } catch (error) {
    throw new StartError(`sluice backup: the event log was copied, but not the vault: cannot read ${from}: ${fileErrorReason(error)}`);
  }
  const temp = tempBeside(to);
  try {
    writeFileSync(temp, bytes, { mode: 0o600, flag: "wx" });
    fsyncPath(temp);
    renameSync(temp, to);
  } catch (error) {
    removeQuietly(temp);
    throw new StartError(`sluice backup: the event log was copied, but not the vault: cannot write ${to}: ${fileErrorReason(error)}`);
  }
  return to;
}

export function formatBackup(result: BackupResult, shownTarget = result.target): string {
  const gaps = result.gaps > 0 ? `, WARNING: ${result.gaps} seq missing (copied as found)` : "";
  const line = `sluice backup: ${shownTarget}: ${result.events} events, last seq ${result.lastSeq}, ${result.bytes} bytes, ${result.ms} ms (integrity ok${gaps})`;
  if (!result.vault) return line;
  return `${line}\nsluice backup: vault copied to ${result.vault} (still encrypted: restoring it needs the same vault key)`;
}

/** --data wins; else the config's data_dir (explicit --config, or ./sluice.yaml if present); else ./.sluice. */
function resolveDataDir(data: string | undefined, config: string | undefined): string {
  const path = config ?? (data === undefined && existsSync("sluice.yaml") ? "sluice.yaml" : undefined);
  // Only data_dir is needed: load leniently (an unset ${VAR} reads as empty), but a bad file is still one clear line.
  const loaded = path !== undefined ? loadWhatIfConfig(path) : undefined;
  return data ?? loaded?.data_dir ?? "./.sluice";
}

export async function backupCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { data: { type: "string" }, config: { type: "string" }, force: { type: "boolean" }, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    const message = (error as Error).message.split("\n")[0]!
      .replace(/^Unknown option '(.+?)'.*$/, "unknown flag $1")
      .replace(/^Option '(.+?)' argument missing$/, "flag $1 needs a value");
    throw new UsageError(`sluice backup: ${message} (see sluice backup --help)`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(BACKUP_HELP);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError("sluice backup: missing FILE, where to write the backup (see sluice backup --help)");
  if (positionals.length > 1) throw new UsageError(`sluice backup: unexpected argument "${positionals[1]}" (one FILE; see sluice backup --help)`);
  const dataDir = resolveDataDir(values.data, values.config);
  const target = positionals[0]!;
  const result = backup({ dataDir, target, force: values.force === true });
  console.log(formatBackup(result, target));
  return 0;
}
