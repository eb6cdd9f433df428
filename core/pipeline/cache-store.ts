import { createHash } from "node:crypto";
import type { DialectId } from "../dialects/codec.ts";
import type { Request, Response, Usage } from "../ir.ts";

// The response cache's memory: one shelf of answers per route, each bounded by entries and
// bytes, the least recently used out first; an expired answer is dropped when it is next asked
// for. Process memory only: a restart starts empty (the events say what was kept and served).

export interface CacheEntry {
  /** The answer as the IR, served again in any dialect, stream or not. */
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

  /** Forget the shelves of routes that no longer cache (after a reload). */
  keepOnly(routes: ReadonlySet<string>): void {
    for (const route of this.shelves.keys()) if (!routes.has(route)) this.shelves.delete(route);
  }
}

/** JSON with every object's keys sorted: the same text for the same value, however it was written. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(v).sort()) sorted[key] = (v as Record<string, unknown>)[key];
    return sorted;
  });
}

/**
 * The cache key: a SHA-256 digest of who asks (`scope`), the model name asked for, and the
 * decoded request without how it is to be delivered (stream or not, usage in the stream), so a
 * stream and a whole answer, in any dialect, share an entry.
 */
export function cacheKey(scope: string, model: string, request: Request): string {
  const { stream: _stream, streamUsage: _streamUsage, ...asked } = request;
  return createHash("sha256").update(canonicalJson([scope, model, asked])).digest("hex");
}
