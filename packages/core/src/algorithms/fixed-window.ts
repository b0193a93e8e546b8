/**
 * Fixed window: at most `limit` units per window of `windowMs`; a window starts at the
 * identity's first charge and ends `windowMs` later. Guarantee: at most `limit` units in any
 * one window, but up to twice the limit in any interval that spans a window's end (the
 * boundary burst): `limit` just before it, `limit` just after.
 */

import type { StoreCheck } from '../store.js';
import type { AlgorithmSpec, Report, Work } from './spec.js';

export const fixedWindow: AlgorithmSpec = {
  name: 'fixed-window',
  code: 0,
  fields: ['used', 'windowEnd'],
  current(w: Work, check: StoreCheck, now: number): void {
    if (w.fresh || now >= w.windowEnd) {
      w.used = 0;
      w.windowEnd = now + check.windowMs;
      w.fresh = true;
    } else if (w.windowEnd > now + check.windowMs) {
      // A window never ends more than one window from now (a clock that stepped back).
      w.windowEnd = now + check.windowMs;
      w.dirty = true;
    }
  },
  fits: (w, check, cost) => w.used + cost <= check.limit,
  charge(w, _check, cost) {
    w.used += cost;
  },
  report(w, check, _cost, fit, now, out: Report) {
    out.remaining = Math.max(0, check.limit - w.used);
    out.resetMs = w.windowEnd - now;
    out.retryMs = fit ? 0 : out.resetMs;
  },
  expiresAt: (w) => w.windowEnd,
  refund(w, _check, cost, at, resetMs) {
    // Only the window the charge was made in: a new window owes nothing.
    if (w.fresh || w.windowEnd !== at + resetMs) return false;
    w.used = Math.max(0, w.used - cost);
    return true;
  },
  lua: `{
  current = function(w, c, now)
    if w.fresh or now >= w.windowEnd then
      w.used, w.windowEnd, w.fresh = 0, now + c.windowMs, true
    elseif w.windowEnd > now + c.windowMs then
      w.windowEnd, w.dirty = now + c.windowMs, true
    end
  end,
  fits = function(w, c, cost) return w.used + cost <= c.limit end,
  charge = function(w, c, cost) w.used = w.used + cost end,
  report = function(w, c, cost, fit, now)
    local resetMs = w.windowEnd - now
    local retryMs = 0
    if not fit then retryMs = resetMs end
    return max(0, c.limit - w.used), resetMs, retryMs
  end,
  expires = function(w, c, now) return w.windowEnd end,
  refund = function(w, c, cost, at, resetMs)
    if w.fresh or w.windowEnd ~= at + resetMs then return false end
    w.used = max(0, w.used - cost)
    return true
  end,
}`,
};
