import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Static } from "@sinclair/typebox";
import type { KeyLimits } from "../../events/catalog/key.ts";
import { KeyCreated, KeyRevoked } from "../../events/catalog/key.ts";
import type { EventLog } from "../../events/log.ts";
import type { CallerKey, KeysState } from "../../events/projections/keys.ts";
import { modelMatches } from "../routing/resolve.ts";

// Caller keys: made here, shown once, kept only as a SHA-256 (the key is 256 random bits, so a
// plain hash is as strong as a slow one). Creating and revoking are events; the keys projection
// is the only place keys are read from.

export const KEY_PREFIX = "sk-sluice-";

export function hashKey(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Constant-time comparison of two secrets (of any length). */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(createHash("sha256").update(given).digest(), createHash("sha256").update(expected).digest());
}

export type NewKey = { name: string } & Static<typeof KeyLimits>;

// Limits are kept as numbers on the log and read back by every list, check and projection:
// values past these caps are typing accidents (or 1e23), and a date past year 275760 does not
// even print, so they are refused when the key is made.
export const MAX_COUNT_LIMIT = 1_000_000_000;
export const MAX_BUDGET_USD = 1_000_000_000;
export const MAX_EXPIRY_AHEAD_MS = 100 * 366 * 86_400_000;

export type LimitProblem = { field: "rpm" | "tpm" | "concurrency" | "budget_usd" | "expires_at"; message: string };

/** What is wrong with a new key's limits, if anything. */
export function limitProblem(fields: NewKey, now = Date.now()): LimitProblem | undefined {
  for (const field of ["rpm", "tpm", "concurrency"] as const) {
    const value = fields[field];
    if (value !== undefined && !(Number.isInteger(value) && value >= 1 && value <= MAX_COUNT_LIMIT)) {
      return { field, message: `expects a whole number from 1 to ${MAX_COUNT_LIMIT}` };
    }
  }
  const budget = fields.budget_usd;
  if (budget !== undefined && !(Number.isFinite(budget) && budget >= 0 && budget <= MAX_BUDGET_USD)) {
    return { field: "budget_usd", message: `expects an amount in USD from 0 to ${MAX_BUDGET_USD}` };
  }
  const expires = fields.expires_at;
  if (expires !== undefined && !(Number.isFinite(expires) && expires >= 0 && expires <= now + MAX_EXPIRY_AHEAD_MS)) {
    return { field: "expires_at", message: "expects a time (ms since epoch) at most 100 years ahead" };
  }
  return undefined;
}

/** Create a key: the event goes on the log, the secret is returned once. */
export async function createKey(log: EventLog, fields: NewKey, via: "cli" | "api"): Promise<{ id: string; secret: string }> {
  // Callers check first, to refuse in their own words; this is the last line.
  const problem = limitProblem(fields);
  if (problem) throw new RangeError(`${problem.field} ${problem.message}`);
  const secret = `${KEY_PREFIX}${randomBytes(32).toString("base64url")}`;
  const id = `key_${randomBytes(6).toString("hex")}`;
  await log.commit(KeyCreated, { ...fields, key: id, hash: hashKey(secret), prefix: secret.slice(0, KEY_PREFIX.length + 4), via });
  return { id, secret };
}

export async function revokeKey(log: EventLog, state: KeysState, id: string, via: "cli" | "api"): Promise<boolean> {
  const key = Object.hasOwn(state.keys, id) ? state.keys[id] : undefined;
  if (!key || key.revoked_at !== undefined) return false;
  await log.commit(KeyRevoked, { key: id, via });
  return true;
}

/** Whether caller keys are in use: once any key was created, every caller needs one. */
export function keysInUse(state: KeysState): boolean {
  for (const _ in state.keys) return true;
  return false;
}

export type KeyCheck = { ok: true; key: CallerKey } | { ok: false; why: "unknown" | "revoked" | "expired" | "address" };

/** The key a credential names, if it is one that may be used now from `ip`. */
export function checkKey(state: KeysState, credential: string | undefined, now: number, ip: string | undefined): KeyCheck {
  if (!credential) return { ok: false, why: "unknown" };
  const id = state.byHash[hashKey(credential)];
  const key = id === undefined ? undefined : state.keys[id];
  if (!key) return { ok: false, why: "unknown" };
  if (key.revoked_at !== undefined) return { ok: false, why: "revoked" };
  if (key.expires_at !== undefined && key.expires_at <= now) return { ok: false, why: "expired" };
  if (key.ips && !(ip !== undefined && key.ips.some((range) => ipInRange(ip, range)))) return { ok: false, why: "address" };
  return { ok: true, key };
}

/** Whether a key may ask for `model` (a model name, provider/model, route or alias). */
export function keyAllows(key: CallerKey, model: string): boolean {
  return key.models === undefined || key.models.some((pattern) => modelMatches(pattern, model));
}

/** A key without its hash: what lists and the API show. */
export function publicKey(key: CallerKey): Omit<CallerKey, "hash"> {
  const { hash: _hash, ...rest } = key;
  return rest;
}

function ipv4(ip: string): number | undefined {
  const parts = ip.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    n = n * 256 + Number(part);
  }
  return n;
}

/** `ip` is in `range`: an exact address (v4 or v6), or an IPv4 CIDR block. */
export function ipInRange(ip: string, range: string): boolean {
  const address = ip.replace(/^::ffff:/, "");
  const [base, bits] = range.split("/");
  if (bits === undefined) return address === base!.replace(/^::ffff:/, "");
  const a = ipv4(address);
  const b = ipv4(base!);
  const n = Number(bits);
  if (a === undefined || b === undefined || !Number.isInteger(n) || n < 0 || n > 32) return false;
  const mask = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}
