import type { CallerKey } from "../../events/projections/keys.ts";
import { gatewayError, type GatewayError } from "../errors.ts";

// Per-key rate limits (requests and tokens per minute, requests in flight) and budget
// reservations, kept in memory: they guard the next minute, not history, so a restart resets
// them. What a key has spent is history, and comes from the keys projection (events).
//
// Budgets are reserve-then-settle: a request reserves what it may cost at most (its input and
// its output limit at the target's price) before it goes upstream, and gives the reservation
// back once its final event, carrying the real cost, is on record. Concurrent requests therefore
// see each other's reservations and cannot overspend together.

const MINUTE = 60_000;

interface Usage {
  /** Request start times in the last minute. */
  requests: number[];
  /** [time, tokens] in the last minute. */
  tokens: Array<[number, number]>;
  inFlight: number;
  reservedUsd: number;
}

export interface Admission {
  /** Give back the slot and the reservation; add the tokens the answer used. */
  release(outputTokens?: number): void;
  /** USD reserved by the other requests of this key (for the mid-stream budget check). */
  othersReserved(): number;
}

export class Limiter {
  private readonly byKey = new Map<string, Usage>();

  private usage(id: string): Usage {
    let usage = this.byKey.get(id);
    if (!usage) this.byKey.set(id, (usage = { requests: [], tokens: [], inFlight: 0, reservedUsd: 0 }));
    return usage;
  }

  /**
   * Admit one request of `key` or say why not (429 with Retry-After). `spent` is what the key has
   * spent in its budget period; `maxCostUsd` what this request may cost at most (0 if unknown).
   */
  admit(key: CallerKey, now: number, inputTokens: number, maxCostUsd: number, spent: number, defaultInFlight: number): Admission | GatewayError {
    const usage = this.usage(key.id);
    while (usage.requests.length > 0 && usage.requests[0]! <= now - MINUTE) usage.requests.shift();
    while (usage.tokens.length > 0 && usage.tokens[0]![0] <= now - MINUTE) usage.tokens.shift();

    const concurrency = key.concurrency ?? defaultInFlight;
    if (usage.inFlight >= concurrency) {
      return gatewayError("rate_limited", `this key has ${usage.inFlight} requests in flight, its limit`, { retryAfter: 1, code: "concurrency_limit" });
    }
    if (key.rpm !== undefined && usage.requests.length >= key.rpm) {
      const wait = usage.requests[0]! + MINUTE - now;
      return gatewayError("rate_limited", `this key's limit of ${key.rpm} requests per minute is reached`, { retryAfter: Math.max(1, Math.ceil(wait / 1000)), code: "rate_limit_exceeded" });
    }
    if (key.tpm !== undefined) {
      const used = usage.tokens.reduce((n, [, t]) => n + t, 0);
      if (used + inputTokens > key.tpm && usage.tokens.length > 0) {
        const wait = usage.tokens[0]![0] + MINUTE - now;
        return gatewayError("rate_limited", `this key's limit of ${key.tpm} tokens per minute is reached`, { retryAfter: Math.max(1, Math.ceil(wait / 1000)), code: "rate_limit_exceeded" });
      }
    }
    if (key.budget_usd !== undefined && spent + usage.reservedUsd + maxCostUsd > key.budget_usd) {
      const left = Math.max(0, key.budget_usd - spent - usage.reservedUsd);
      return gatewayError("rate_limited", `this key's budget of $${key.budget_usd} per ${key.budget_period ?? "total"} is spent (left: $${left.toFixed(6)}, this request may cost up to $${maxCostUsd.toFixed(6)})`, { code: "insufficient_quota" });
    }

    usage.requests.push(now);
    const tokenEntry: [number, number] = [now, inputTokens];
    usage.tokens.push(tokenEntry);
    usage.inFlight++;
    usage.reservedUsd += maxCostUsd;
    let released = false;
    return {
      release: (outputTokens = 0) => {
        if (released) return;
        released = true;
        usage.inFlight--;
        usage.reservedUsd = Math.max(0, usage.reservedUsd - maxCostUsd);
        tokenEntry[1] += outputTokens;
      },
      othersReserved: () => Math.max(0, usage.reservedUsd - (released ? 0 : maxCostUsd)),
    };
  }
}
