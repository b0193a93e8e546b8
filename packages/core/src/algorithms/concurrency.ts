/**
 * Concurrency: at most `limit` requests of an identity in flight at once. Each admitted
 * request holds a lease (a slot) until it is released, when its response finishes or its
 * connection closes, or until `leaseMs` passes, so the slots of a crashed instance come back
 * on their own (as the WebSocket connection leases do). Leases are members of a set, not a
 * count: releasing twice is harmless, and a count never goes negative.
 *
 * Not a counting algorithm (spec.ts): the stores keep a set of leases with their expiry
 * times (a map in memory, a sorted set in Redis); this module is the decision over it.
 */
import type { StoreCheck } from '../store.js';
import type { Report } from './spec.js';

export const concurrency = {
  name: 'concurrency',
  code: 4,
  /** Whether `cost` more slots fit beside the `live` leases. */
  fits: (live: number, check: StoreCheck, cost: number): boolean => live + cost <= check.limit,
  /**
   * With `live` leases after the decision (the new one included when it was taken), the
   * soonest of them lapsing at `soonest` (ms since the epoch; 0 with none).
   */
  report(live: number, soonest: number, check: StoreCheck, fit: boolean, now: number, out: Report): void {
    out.remaining = Math.max(0, check.limit - live);
    out.resetMs = 0;
    // A slot frees when a request finishes; at the latest when the soonest lease lapses.
    out.retryMs = fit ? 0 : Math.max(1, soonest > now ? soonest - now : (check.leaseMs ?? 0));
  },
  lua: `{
  fits = function(live, c, cost) return live + cost <= c.limit end,
  report = function(live, soonest, c, fit, now)
    local retryMs = 0
    if not fit then
      if soonest > now then retryMs = max(1, soonest - now) else retryMs = max(1, c.leaseMs) end
    end
    return max(0, c.limit - live), 0, retryMs
  end,
}`,
} as const;
