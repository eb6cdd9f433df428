import { createHash } from "node:crypto";
import type { DialectId } from "../dialects/codec.ts";
import type { Request, Response, Usage } from "../ir.ts";

// The response cache's memory: one shelf of answers per route, each bounded by entries and
// bytes, the least recently used out first; an expired answer is dropped when it is next asked
// for. Process memory only: a restart starts empty (the events say what was kept and served).

export interface CacheEntry {
  /** The answer as the IR, served again stream or not (to its own dialect: the key holds the dialect). */
  response: Response;
  /** The upstream's own JSON body of a passthrough answer, served as is to a non-stream client of that dialect. */
  raw?: { dialect: DialectId; text: string };
  /** What the answer cost when it was made (not spent again when it is served). */
  usage?: Usage;
  costUsd?: number;
  /** Who made it. */
  target: string;
  provider: string;
  model: string;
  /** The request it answered first. */
  request: string;
  createdAt: number;
  expiresAt: number;
  bytes: number;
}

export interface ShelfLimits {
  max_entries: number;
  max_bytes: number;
}

interface Shelf {
  /** In order of last use, oldest first. */
  entries: Map<string, CacheEntry>;
  bytes: number;
}

export class ResponseCache {
  private readonly shelves = new Map<string, Shelf>();

  constructor(readonly now: () => number = Date.now) {}

  /** The live answer under `key` on `route`'s shelf (and it becomes the most recently used). */
  get(route: string, key: string): CacheEntry | undefined {
    const shelf = this.shelves.get(route);
    const entry = shelf?.entries.get(key);
    if (!shelf || !entry) return undefined;
    shelf.entries.delete(key);
    if (entry.expiresAt <= this.now()) {
      shelf.bytes -= entry.bytes;
      return undefined;
    }
    shelf.entries.set(key, entry);
    return entry;
  }

  /** Keep an answer, making room by dropping the least recently used; false when it alone is too large. */
  put(route: string, key: string, entry: CacheEntry, limits: ShelfLimits): boolean {
    if (entry.bytes > limits.max_bytes) return false;
    let shelf = this.shelves.get(route);
    if (!shelf) this.shelves.set(route, (shelf = { entries: new Map(), bytes: 0 }));
    const old = shelf.entries.get(key);
    if (old) {
      shelf.entries.delete(key);
      shelf.bytes -= old.bytes;
    }
    shelf.entries.set(key, entry);
    shelf.bytes += entry.bytes;
    for (const [oldest, dropped] of shelf.entries) {
      if (shelf.entries.size <= limits.max_entries && shelf.bytes <= limits.max_bytes) break;
      shelf.entries.delete(oldest);
      shelf.bytes -= dropped.bytes;
    }
    return true;
  }

  /** Entries and bytes on a route's shelf (expired ones included until they are dropped). */
  size(route: string): { entries: number; bytes: number } {
    const shelf = this.shelves.get(route);
    return { entries: shelf?.entries.size ?? 0, bytes: shelf?.bytes ?? 0 };
  }

  /** The shelves holding answers now. */
  names(): string[] {
    return [...this.shelves.keys()];
  }

  /** Forget the shelves of routes that no longer cache (after a reload). */
  keepOnly(routes: ReadonlySet<string>): void {
    for (const route of this.shelves.keys()) if (!routes.has(route)) this.shelves.delete(route);
  }
}

/** JSON with every object's keys sorted: the same text for the same value, however it was written. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return v;
    // No prototype: a "__proto__" key is an ordinary key here, not a prototype to set.
    const sorted: Record<string, unknown> = Object.create(null);
    for (const key of Object.keys(v).sort()) sorted[key] = (v as Record<string, unknown>)[key];
    return sorted;
  });
}

/** Top-level fields that say how an answer is delivered, not what is asked (left out of the key). */
const DELIVERY = ["stream", "stream_options"];

/**
 * The cache key: a SHA-256 digest of who asks (`scope`), the model name asked for, the client's
 * dialect and body as it wrote it (parsed, keys sorted, without how the answer is delivered), and
 * the request as it goes upstream (after compressors and terse mode). The body is in it because
 * a dialect can carry content the IR has no place for (an Anthropic document block): two requests
 * that differ only there must not share an answer. So a stream and a whole answer share an entry,
 * but two dialects do not.
 */
export function cacheKey(scope: string, model: string, request: Request, client: { dialect: DialectId; raw: string }): string {
  const { stream: _stream, streamUsage: _streamUsage, ...asked } = request;
  let body: unknown;
  try {
    body = JSON.parse(client.raw);
  } catch {
    body = client.raw;
  }
  if (typeof body === "object" && body !== null && !Array.isArray(body)) {
    body = Object.fromEntries(Object.entries(body).filter(([field]) => !DELIVERY.includes(field)));
  }
  return createHash("sha256").update(canonicalJson([scope, model, client.dialect, body, asked])).digest("hex");
}
