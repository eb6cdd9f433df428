import { UpstreamEjected, UpstreamRestored } from "../../events/catalog/routing.ts";
import type { Health } from "../../events/projections/health.ts";
import type { Gateway } from "../gateway.ts";

// The health projection decides ejections from attempt outcomes; this puts each transition on
// record as it happens (upstream.ejected / upstream.restored), for operators and the dashboard.
// They are notes, not inputs: health is folded from attempts alone, so replay needs none of them.

const WATCHED = new Set(["attempt.succeeded", "attempt.failed", "request.failed"]);

export function watchHealth(gw: Gateway): () => void {
  const seen = new Map<string, number>();
  const initial = gw.projections.get("health");
  for (const [key, h] of [...Object.entries(initial.providers), ...Object.entries(initial.targets)]) if (h.ejections > 0) seen.set(key, h.ejections);

  // After the commit that caused it, never inside it; a log closing meanwhile just drops the note.
  const note = (append: () => Promise<void>) => queueMicrotask(() => {
    try {
      append().catch(() => {});
    } catch {
      // the log is closed: the server is stopping
    }
  });

  const check = (key: string | undefined, h: Health | undefined) => {
    if (key === undefined || h === undefined) return;
    const before = seen.get(key) ?? 0;
    if (h.ejections > before && h.ejectedUntil !== undefined) {
      seen.set(key, h.ejections);
      const data = { target: key, until: h.ejectedUntil, ejections: h.ejections, reason: h.lastFailureReason ?? "failures" };
      note(() => gw.log.append(UpstreamEjected, data));
      gw.logger.warn(data, "upstream ejected");
    } else if (h.ejections === 0 && before > 0) {
      seen.delete(key);
      note(() => gw.log.append(UpstreamRestored, { target: key }));
      gw.logger.info({ target: key }, "upstream restored");
    }
  };

  return gw.log.subscribe((event) => {
    if (!WATCHED.has(event.type)) return;
    const { target, provider } = event.data as { target?: string; provider?: string };
    const state = gw.projections.get("health");
    check(target, target === undefined ? undefined : state.targets[target]);
    check(provider, provider === undefined ? undefined : state.providers[provider]);
  });
}
