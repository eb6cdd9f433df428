import * as nodeCrypto from "node:crypto";
import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync } from "node:crypto";
import {
  chmodSync, closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync,
} from "node:fs";
import { join, resolve } from "node:path";

// The secrets vault: provider keys encrypted at rest in `<data_dir>/vault.json` (0600, dir 0700),
// AES-256-GCM with a 96-bit random nonce per value and the entry name as AAD (so ciphertexts
// cannot be moved between entries). The master key is given raw (SLUICE_VAULT_KEY, or a key file)
// or derived from a passphrase with argon2id (scrypt where node:crypto has no argon2). It is
// derived once per process and cached, never per request. No message ever contains a value.

/** A vault problem: one line, never a secret value. */
export class VaultError extends Error {}

export type KeySource =
  | { kind: "key"; key: Buffer; from: string }
  | { kind: "passphrase"; passphrase: string; from: string };

export type Kdf =
  | { name: "argon2id"; memory: number; passes: number; parallelism: number; salt: string }
  | { name: "scrypt"; N: number; r: number; p: number; salt: string }
  | { name: "raw" };

interface Sealed { iv: string; tag: string; data: string }
export interface VaultEntry extends Sealed { created_at: string }

export interface VaultFile {
  version: 1;
  kdf: Kdf;
  check: Sealed;
  entries: Record<string, VaultEntry>;
}

export const VAULT_FILE = "vault.json";
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const KEY_ENV_HINT = "SLUICE_VAULT_KEY, SLUICE_VAULT_KEY_FILE or SLUICE_VAULT_PASSPHRASE";
/** argon2id m=64 MiB, t=2, p=1 (RELIABILITY §3.0: ~113 ms); scrypt N=2^17, r=8, p=1 (~275 ms). */
export const ARGON2_PARAMS = { memory: 65536, passes: 2, parallelism: 1 } as const;
export const SCRYPT_PARAMS = { N: 2 ** 17, r: 8, p: 1 } as const;

const CHECK_PLAINTEXT = "sluice-vault-check-v1";
/** Not a valid entry name, so the check can never be confused with an entry. */
const CHECK_AAD = "#check";
const MAX_VALUE_BYTES = 64 * 1024;
const LOCK_STALE_MS = 30_000;
const LOCK_WAIT_MS = 5_000;

type Argon2Sync = (algorithm: "argon2id", parameters: {
  message: string | Buffer; nonce: Buffer; parallelism: number; tagLength: number; memory: number; passes: number;
}) => Buffer;

function argon2Sync(): Argon2Sync | undefined {
  const fn = (nodeCrypto as unknown as { argon2Sync?: unknown }).argon2Sync;
  return typeof fn === "function" ? (fn as Argon2Sync) : undefined;
}

/** The KDF a new passphrase vault gets: argon2id where this runtime has it, else scrypt. */
export function defaultKdf(): Exclude<Kdf, { name: "raw" }> {
  const salt = randomBytes(16).toString("base64");
  return argon2Sync() ? { name: "argon2id", ...ARGON2_PARAMS, salt } : { name: "scrypt", ...SCRYPT_PARAMS, salt };
}

export function isValidName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

function checkName(name: string): void {
  if (typeof name !== "string" || !isValidName(name)) {
    throw new VaultError(`vault: invalid entry name ${JSON.stringify(String(name).slice(0, 80))} (expected 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit)`);
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Base64 of exactly 32 bytes; `what` names the source in the message, the value never appears. */
function decodeKey(text: string, what: string): Buffer {
  const trimmed = text.trim();
  const bytes = BASE64.test(trimmed) ? Buffer.from(trimmed, "base64") : undefined;
  if (!bytes || bytes.length !== 32) {
    throw new VaultError(`vault: ${what} must hold the base64 of 32 random bytes (make one with: openssl rand -base64 32)${bytes ? `, got ${bytes.length} bytes` : ", got something that is not base64"}`);
  }
  return bytes;
}

/**
 * The master key source from the environment, in this order: SLUICE_VAULT_KEY (base64 of 32
 * bytes), SLUICE_VAULT_KEY_FILE (a file holding that base64, not accessible by group or others),
 * SLUICE_VAULT_PASSPHRASE. Empty values count as unset. Undefined when none is set.
 */
export function keySourceFromEnv(env: Record<string, string | undefined> = process.env): KeySource | undefined {
  if (env.SLUICE_VAULT_KEY) return { kind: "key", key: decodeKey(env.SLUICE_VAULT_KEY, "SLUICE_VAULT_KEY"), from: "SLUICE_VAULT_KEY" };
  const file = env.SLUICE_VAULT_KEY_FILE;
  if (file) {
    let mode: number;
    let text: string;
    try {
      mode = statSync(file).mode;
      text = readFileSync(file, "utf8");
    } catch (error) {
      throw new VaultError(`vault: cannot read SLUICE_VAULT_KEY_FILE ${file}: ${ioReason(error)}`);
    }
    if ((mode & 0o077) !== 0) {
      throw new VaultError(`vault: SLUICE_VAULT_KEY_FILE ${file} is accessible by group or others (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${file}`);
    }
    return { kind: "key", key: decodeKey(text, `SLUICE_VAULT_KEY_FILE ${file}`), from: "SLUICE_VAULT_KEY_FILE" };
  }
  if (env.SLUICE_VAULT_PASSPHRASE) return { kind: "passphrase", passphrase: env.SLUICE_VAULT_PASSPHRASE, from: "SLUICE_VAULT_PASSPHRASE" };
  return undefined;
}

function ioReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  return code === "ENOENT" ? "no such file"
    : code === "EACCES" || code === "EPERM" ? "permission denied"
    : code === "ENOTDIR" ? "a parent is not a directory"
    : code === "EISDIR" ? "is a directory"
    : code === "EROFS" ? "read-only file system"
    : String((error as Error)?.message ?? error).split("\n")[0]!;
}

function seal(key: Buffer, plaintext: string, aad: string): Sealed {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(aad, "utf8"));
  const data = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return { iv: iv.toString("base64"), tag: cipher.getAuthTag().toString("base64"), data: data.toString("base64") };
}

/** The plaintext, or undefined when the data does not authenticate (fails closed). */
function open(key: Buffer, sealed: Sealed, aad: string): string | undefined {
  const iv = Buffer.from(sealed.iv, "base64");
  const tag = Buffer.from(sealed.tag, "base64");
  // A short tag would weaken GCM: only the full 16 bytes are accepted.
  if (iv.length !== 12 || tag.length !== 16) return undefined;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: 16 });
    decipher.setAAD(Buffer.from(aad, "utf8"));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(sealed.data, "base64")), decipher.final()]).toString("utf8");
  } catch {
    return undefined;
  }
}

const derived = new Map<string, Buffer>();

/** The master key for a passphrase under `kdf`: derived once per process per (kdf, passphrase). */
function deriveKey(kdf: Exclude<Kdf, { name: "raw" }>, passphrase: string): Buffer {
  const id = createHash("sha256").update(JSON.stringify(kdf)).update("\0").update(passphrase).digest("hex");
  const cached = derived.get(id);
  if (cached) return cached;
  const salt = Buffer.from(kdf.salt, "base64");
  const message = Buffer.from(passphrase.normalize("NFC"), "utf8");
  let key: Buffer;
  if (kdf.name === "argon2id") {
    const argon2 = argon2Sync();
    if (!argon2) throw new VaultError("vault: this vault's key is derived with argon2id, which this runtime's node:crypto does not provide");
    key = argon2("argon2id", { message, nonce: salt, memory: kdf.memory, passes: kdf.passes, parallelism: kdf.parallelism, tagLength: 32 });
  } else {
    key = scryptSync(message, salt, 32, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 256 * kdf.N * kdf.r + 64 * 1024 * 1024 });
  }
  derived.set(id, key);
  return key;
}

function isSealed(value: unknown): value is Sealed {
  const v = value as Sealed;
  return !!v && typeof v === "object" && typeof v.iv === "string" && typeof v.tag === "string" && typeof v.data === "string";
}

function int(value: unknown, min: number, max: number): boolean {
  return Number.isInteger(value) && (value as number) >= min && (value as number) <= max;
}

/** Validate a parsed vault file; the reason names what is wrong, never a value. */
function validate(raw: unknown): VaultFile | string {
  const file = raw as VaultFile;
  if (!file || typeof file !== "object" || Array.isArray(file)) return "not a JSON object";
  if (file.version !== 1) return `unsupported version ${JSON.stringify(file.version)} (this sluice reads version 1)`;
  const kdf = file.kdf as Record<string, unknown> | undefined;
  if (!kdf || typeof kdf !== "object") return "kdf is missing";
  if (kdf.name === "argon2id") {
    if (!int(kdf.memory, 8, 4 * 1024 * 1024) || !int(kdf.passes, 1, 64) || !int(kdf.parallelism, 1, 64) || typeof kdf.salt !== "string") return "kdf: bad argon2id parameters";
  } else if (kdf.name === "scrypt") {
    if (!int(kdf.N, 2, 2 ** 22) || !int(kdf.r, 1, 64) || !int(kdf.p, 1, 64) || typeof kdf.salt !== "string") return "kdf: bad scrypt parameters";
  } else if (kdf.name !== "raw") return `kdf: unknown name ${JSON.stringify(String(kdf.name)).slice(0, 40)}`;
  if (!isSealed(file.check)) return "check is missing";
  if (!file.entries || typeof file.entries !== "object" || Array.isArray(file.entries)) return "entries is not a mapping";
  for (const [name, entry] of Object.entries(file.entries)) {
    if (!isValidName(name)) return `entry name ${JSON.stringify(name.slice(0, 80))} is not valid`;
    if (!isSealed(entry) || typeof entry.created_at !== "string") return `entry "${name}" is incomplete`;
  }
  return file;
}

/**
 * The vault in `<dataDir>/vault.json`. Opening reads no secret and derives no key: the key is
 * derived (once, cached) on the first get/set. Readers notice when another process (the
 * `sluice vault` CLI) rewrote the file and read it again.
 */
export class Vault {
  readonly dir: string;
  readonly path: string;
  private file: VaultFile | undefined;
  private stamp = "";
  /** The master key, and the check it was verified against. */
  private key: { key: Buffer; check: string } | undefined;

  private constructor(dataDir: string, private readonly source: KeySource | undefined) {
    this.dir = resolve(dataDir);
    this.path = join(this.dir, VAULT_FILE);
  }

  static open(dataDir: string, source?: KeySource): Vault {
    const vault = new Vault(dataDir, source);
    vault.refresh();
    return vault;
  }

  /** Whether a key source was given (a vault without one can list names but not decrypt). */
  get hasKey(): boolean {
    return this.source !== undefined;
  }

  /** Whether the file exists (a vault with no file is empty). */
  get exists(): boolean {
    this.refresh();
    return this.file !== undefined;
  }

  /** The KDF on record ("raw" for a key given directly), or undefined before the first set. */
  get kdf(): Kdf["name"] | undefined {
    this.refresh();
    return this.file?.kdf.name;
  }

  has(name: string): boolean {
    this.refresh();
    return !!this.file && Object.hasOwn(this.file.entries, name);
  }

  names(): string[] {
    this.refresh();
    return this.file ? Object.keys(this.file.entries).sort() : [];
  }

  /** Names with when each value was set; never values. */
  list(): Array<{ name: string; created_at: string }> {
    this.refresh();
    const entries = this.file?.entries ?? {};
    return Object.keys(entries).sort().map((name) => ({ name, created_at: entries[name]!.created_at }));
  }

  /** Decrypt one entry. Throws a VaultError (no key, wrong key, no such entry, altered file). */
  get(name: string): string {
    checkName(name);
    this.refresh();
    const file = this.file;
    if (!file || !Object.hasOwn(file.entries, name)) throw new VaultError(`vault: no entry "${name}" in ${this.path}`);
    const key = this.masterKey(file);
    const value = open(key, file.entries[name]!, name);
    if (value === undefined) throw new VaultError(`vault: entry ${name} failed authentication (the file was altered)`);
    return value;
  }

  /** Store (or replace) an entry; the file is rewritten atomically, 0600. */
  set(name: string, value: string): void {
    checkName(name);
    if (typeof value !== "string" || value.length === 0) throw new VaultError("vault: the value is empty");
    if (Buffer.byteLength(value, "utf8") > MAX_VALUE_BYTES) throw new VaultError(`vault: the value is longer than ${MAX_VALUE_BYTES} bytes`);
    this.mutate((current) => {
      let file = current;
      if (!file) {
        if (!this.source) throw this.noKey();
        const kdf: Kdf = this.source.kind === "key" ? { name: "raw" } : defaultKdf();
        const key = this.source.kind === "key" ? this.source.key : deriveKey(kdf as Exclude<Kdf, { name: "raw" }>, this.source.passphrase);
        file = { version: 1, kdf, check: seal(key, CHECK_PLAINTEXT, CHECK_AAD), entries: {} };
      }
      const key = this.masterKey(file);
      file.entries[name] = { ...seal(key, value, name), created_at: new Date().toISOString() };
      return file;
    });
  }

  /** Delete an entry; false if there was none. Needs no key. */
  remove(name: string): boolean {
    checkName(name);
    let removed = false;
    this.mutate((file) => {
      if (!file || !Object.hasOwn(file.entries, name)) return undefined;
      delete file.entries[name];
      removed = true;
      return file;
    });
    return removed;
  }

  private noKey(): VaultError {
    return new VaultError(`vault: no vault key is set (set ${KEY_ENV_HINT})`);
  }

  /** The master key for `file`, verified against its check (derived at most once per process). */
  private masterKey(file: VaultFile): Buffer {
    if (this.key && this.key.check === file.check.data) return this.key.key;
    if (!this.source) throw this.noKey();
    let key: Buffer;
    if (this.source.kind === "key") key = this.source.key;
    else if (file.kdf.name === "raw") {
      throw new VaultError(`vault: ${this.path} is opened with a raw key (SLUICE_VAULT_KEY or SLUICE_VAULT_KEY_FILE), not a passphrase`);
    } else key = deriveKey(file.kdf, this.source.passphrase);
    if (open(key, file.check, CHECK_AAD) !== CHECK_PLAINTEXT) throw new VaultError("vault: wrong passphrase or key (the vault check did not decrypt)");
    this.key = { key, check: file.check.data };
    return key;
  }

  /** Read the file again if it changed on disk since the last read. */
  private refresh(): void {
    let stamp: string;
    try {
      const st = statSync(this.path);
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") {
        this.file = undefined;
        this.stamp = "";
        return;
      }
      throw new VaultError(`vault: cannot read ${this.path}: ${ioReason(error)}`);
    }
    if (stamp === this.stamp && this.file) return;
    this.file = this.read();
    this.stamp = stamp;
  }

  private read(): VaultFile | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new VaultError(`vault: cannot read ${this.path}: ${ioReason(error)}`);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new VaultError(`vault: ${this.path} is not a valid vault file (not JSON)`);
    }
    const file = validate(raw);
    if (typeof file === "string") throw new VaultError(`vault: ${this.path} is not a valid vault file (${file})`);
    return file;
  }

  /** Lock, read the file fresh, apply `change`, write atomically (undefined result: no write). */
  private mutate(change: (file: VaultFile | undefined) => VaultFile | undefined): void {
    this.ensureDir();
    const release = this.lock();
    try {
      this.stamp = "";
      this.refresh();
      const next = change(this.file ? structuredClone(this.file) : undefined);
      if (!next) return;
      this.write(next);
      this.stamp = "";
      this.refresh();
    } finally {
      release();
    }
  }

  private ensureDir(): void {
    try {
      if (existsSync(this.dir)) {
        if (!statSync(this.dir).isDirectory()) throw new VaultError(`vault: cannot use data dir ${this.dir}: not a directory`);
        return;
      }
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      chmodSync(this.dir, 0o700);
    } catch (error) {
      if (error instanceof VaultError) throw error;
      throw new VaultError(`vault: cannot use data dir ${this.dir}: ${ioReason(error)}`);
    }
  }

  private lock(): () => void {
    const lockPath = `${this.path}.lock`;
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        const fd = openSync(lockPath, "wx", 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return () => {
          try {
            unlinkSync(lockPath);
          } catch {
            // already gone
          }
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw new VaultError(`vault: cannot lock ${this.path}: ${ioReason(error)}`);
      }
      try {
        if (Date.now() - statSync(lockPath).mtimeMs > LOCK_STALE_MS) {
          unlinkSync(lockPath);
          continue;
        }
      } catch {
        continue; // released meanwhile
      }
      if (Date.now() > deadline) throw new VaultError(`vault: ${lockPath} is held by another sluice vault command (remove it if none is running)`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 25);
    }
  }

  private write(file: VaultFile): void {
    const tmp = `${this.path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
    const text = `${JSON.stringify(file, null, 2)}\n`;
    try {
      const fd = openSync(tmp, "wx", 0o600);
      try {
        if ((fstatSync(fd).mode & 0o777) !== 0o600) chmodSync(tmp, 0o600);
        writeSync(fd, text);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
    } catch (error) {
      try {
        unlinkSync(tmp);
      } catch {
        // never created
      }
      throw new VaultError(`vault: cannot write ${this.path}: ${ioReason(error)}`);
    }
    try {
      const dirFd = openSync(this.dir, "r");
      try {
        fsyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
    } catch {
      // not every file system syncs a directory; the rename itself is atomic
    }
  }
}
