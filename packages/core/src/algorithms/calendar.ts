/**
 * Calendar quota: at most `limit` units per calendar period (an hour, a day, a month) in a
 * time zone. The limiter computes the current period (see calendar-periods.ts: the zone's
 * rules, DST included) and gives its end in the check (`periodEnd`), with `windowMs` the
 * period's length; the state belongs to the period it was counted in, so a new period
 * starts from zero. Guarantee: at most `limit` units per period, and, as with any fixed
 * window, up to twice the limit in an interval that spans a period's end.
 */
import type { StoreCheck } from '../store.js';
import type { AlgorithmSpec, Report, Work } from './spec.js';

export const calendar: AlgorithmSpec = {
  name: 'calendar',
  code: 3,
  fields: ['used', 'windowEnd'],
  current(w: Work, check: StoreCheck, now: number): void {
    if (w.fresh || w.windowEnd !== (check.periodEnd as number) || now >= w.windowEnd) {
      w.used = 0;
      w.windowEnd = check.periodEnd as number;
    }
  },
  fits: (w, check, cost) => w.used + cost <= check.limit,
  charge(w, _check, cost) {
    w.used += cost;
  },
  report(w, check, _cost, fit, now, out: Report) {
    out.remaining = Math.max(0, check.limit - w.used);
    out.resetMs = Math.max(0, w.windowEnd - now);
    out.retryMs = fit ? 0 : Math.max(1, out.resetMs);
  },
  expiresAt: (w) => w.windowEnd,
  refund(w, check, cost) {
    if (w.fresh || w.windowEnd !== (check.periodEnd as number)) return false;
    w.used = Math.max(0, w.used - cost);
    return true;
  },
  lua: `{
  current = function(w, c, now)
    if w.fresh or w.windowEnd ~= c.periodEnd or now >= w.windowEnd then
      w.used, w.windowEnd = 0, c.periodEnd
    end
  end,
  fits = function(w, c, cost) return w.used + cost <= c.limit end,
  charge = function(w, c, cost) w.used = w.used + cost end,
  report = function(w, c, cost, fit, now)
    local resetMs = max(0, w.windowEnd - now)
    local retryMs = 0
    if not fit then retryMs = max(1, resetMs) end
    return max(0, c.limit - w.used), resetMs, retryMs
  end,
  expires = function(w, c, now) return w.windowEnd end,
  refund = function(w, c, cost, at, resetMs)
    if w.fresh or w.windowEnd ~= c.periodEnd then return false end
    w.used = max(0, w.used - cost)
    return true
  end,
}`,
};
