import type { Limiter } from "./keys/limits.ts";
import type { Vault } from "./vault/index.ts";
import type { Logger } from "pino";
import type { EventLog } from "../events/log.ts";
import type { LiveProjections } from "../events/projections/index.ts";
import type { Config } from "../schemas/config.ts";
import type { Codec, DialectId } from "./dialects/codec.ts";
import type { PluginHost } from "./plugins/host.ts";
import type { ResponseCache } from "./pipeline/cache-store.ts";

/** Everything a request needs, shared by the server, the pipeline and the CLI. */
export interface Gateway {
  /** The config in force; replaced as a whole on a valid reload. */
  config: Config;
  readonly log: EventLog;
  readonly projections: LiveProjections;
  readonly plugins: PluginHost;
  readonly logger: Logger;
  readonly codecs: ReadonlyMap<DialectId, Codec>;
  /** False while draining or when the log cannot be written. */
  accepting: boolean;
  /** Generation requests between arrival and their response headers (streams leave at their first byte). */
  inFlight: number;
  /** Provider secrets in force, to scrub from any text that leaves the gateway. */
  secrets: string[];
  /** Round-robin positions per route: decisions made so far (started from the routing projection). */
  readonly routePositions: Map<string, number>;
  /** Attempts beyond a request's first fallback now running (the retry budget, RELIABILITY §3.8). */
  retriesInFlight: number;
  /** Provider secrets encrypted at rest, referred to as `vault:NAME` in the config. */
  readonly vault: Vault | undefined;
  /** Per-key rate limits and budget reservations (in memory: they guard the next minute). */
  readonly limiter: Limiter;
  /** Each request's peer address, set as it arrives (for key and global IP allowlists). */
  readonly peers: WeakMap<globalThis.Request, string>;
  /** Answers kept for routes with a `cache` (in memory: a restart starts empty). */
  readonly cache: ResponseCache;
}

export function secretsOf(config: Config): string[] {
  const values = [config.admin_key, ...config.providers.flatMap((p) => [p.api_key, ...Object.values(p.headers)])];
  // A `vault:NAME` reference is not a secret (its value is added by vaultSecrets).
  return values.filter((v): v is string => typeof v === "string" && v.length >= 4 && !v.startsWith("vault:"));
}

/** Replace every known secret in `text`: upstream error bodies can echo a key back. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join("[redacted]");
  return out;
}

/** Shapes of credentials that may sit in text the gateway does not know as secrets. */
const KEY_SHAPES = /\b(sk-[A-Za-z0-9_-]{16,}|sk-ant-[A-Za-z0-9_-]{16,}|AIza[0-9A-Za-z_-]{30,}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abprs]-[A-Za-z0-9-]{10,}|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})/g;

/** Known secrets scrubbed, and anything shaped like a credential (caller keys included) redacted. */
export function redact(text: string, secrets: readonly string[]): string {
  return scrub(text, secrets).replace(KEY_SHAPES, "[redacted]");
}
