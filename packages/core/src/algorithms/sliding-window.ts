/**
 * Sliding window, the weighted two-window counter: windows of `windowMs` aligned to the
 * clock (multiples of `windowMs` since the epoch); a request at a fraction `x` into the
 * current window counts the previous window's units weighted by `1 − x`, plus the current
 * window's: `previous × (1 − x) + used`. Constant memory per key (two counts and a time).
 *
 * Guarantee: at most `limit × (1 + t ÷ windowMs)` units in any interval of length
 * `t ≤ windowMs`. Around a window boundary (`t` near 0) that is the limit, where a fixed
 * window admits twice the limit; over a whole window length it approaches, and never
 * reaches, twice the limit, in the worst case (the previous window's units all at its very
 * end, the current window's all at its very end).
 */
import type { StoreCheck } from '../store.js';
import { type AlgorithmSpec, EPSILON, type Report, type Work } from './spec.js';

/** The weighted count of `w` at `now`: the previous window's units fading out, plus the current window's. */
function weighted(w: Work, check: StoreCheck, now: number): number {
  return (w.previous * (w.windowEnd - now)) / check.windowMs + w.used;
}

/**
 * The earliest time `cost` units fit. With room in the current window's own count, when
 * the previous window's share has faded enough; without, in the next window, when this
 * window's count (then the previous one) has faded enough.
 */
function fitsAt(w: Work, check: StoreCheck, cost: number): number {
  const slack = check.limit - w.used - cost;
  if (slack >= 0) return w.previous > 0 ? w.windowEnd - (check.windowMs * slack) / w.previous : w.windowEnd;
  const room = Math.max(0, check.limit - cost);
  return w.windowEnd + check.windowMs - (check.windowMs * room) / w.used;
}

export const slidingWindow: AlgorithmSpec = {
  name: 'sliding-window',
  code: 2,
  fields: ['used', 'windowEnd', 'previous'],
  current(w: Work, check: StoreCheck, now: number): void {
    const end = (Math.floor(now / check.windowMs) + 1) * check.windowMs;
    if (!w.fresh && w.windowEnd === end) return;
    // The stored window is the one before (its count now fades out), or older (or no window
    // of this policy at all: one ahead of now is repaired): then none of it counts.
    const previous = !w.fresh && w.windowEnd === end - check.windowMs ? w.used : 0;
    if (!w.fresh && w.windowEnd > end) w.dirty = true;
    w.previous = previous;
    w.used = 0;
    w.windowEnd = end;
  },
  fits: (w, check, cost, now) => weighted(w, check, now) + cost <= check.limit + EPSILON,
  charge(w, _check, cost) {
    w.used += cost;
  },
  report(w, check, cost, fit, now, out: Report) {
    out.remaining = Math.max(0, Math.floor(check.limit - weighted(w, check, now) + EPSILON));
    // Back to the full limit once both counts have faded: the end of the next window if the
    // current one holds units, else the end of this one.
    out.resetMs = w.used > 0 ? w.windowEnd + check.windowMs - now : w.previous > 0 ? w.windowEnd - now : 0;
    out.retryMs = fit ? 0 : Math.max(1, Math.ceil(fitsAt(w, check, cost) - now - EPSILON));
  },
  expiresAt: (w, check) => (w.used > 0 ? w.windowEnd + check.windowMs : w.windowEnd),
  refund(w, check, cost, at) {
    // Only the window the charge was made in (windows are aligned: `at` names it).
    if (w.fresh || w.windowEnd !== (Math.floor(at / check.windowMs) + 1) * check.windowMs) return false;
    w.used = Math.max(0, w.used - cost);
    return true;
  },
  lua: `{
  current = function(w, c, now)
    local window = c.windowMs
    local finish = (floor(now / window) + 1) * window
    if not w.fresh and w.windowEnd == finish then return end
    local previous = 0
    if not w.fresh and w.windowEnd == finish - window then previous = w.used end
    if not w.fresh and w.windowEnd > finish then w.dirty = true end
    w.previous, w.used, w.windowEnd = previous, 0, finish
  end,
  fits = function(w, c, cost, now)
    return w.previous * (w.windowEnd - now) / c.windowMs + w.used + cost <= c.limit + EPSILON
  end,
  charge = function(w, c, cost) w.used = w.used + cost end,
  report = function(w, c, cost, fit, now)
    local window = c.windowMs
    local count = w.previous * (w.windowEnd - now) / window + w.used
    local resetMs = 0
    if w.used > 0 then resetMs = w.windowEnd + window - now elseif w.previous > 0 then resetMs = w.windowEnd - now end
    local retryMs = 0
    if not fit then
      local at
      local slack = c.limit - w.used - cost
      if slack >= 0 then
        if w.previous > 0 then at = w.windowEnd - window * slack / w.previous else at = w.windowEnd end
      else
        at = w.windowEnd + window - window * max(0, c.limit - cost) / w.used
      end
      retryMs = max(1, ceil(at - now - EPSILON))
    end
    return max(0, floor(c.limit - count + EPSILON)), resetMs, retryMs
  end,
  expires = function(w, c, now)
    if w.used > 0 then return w.windowEnd + c.windowMs end
    return w.windowEnd
  end,
  refund = function(w, c, cost, at, resetMs)
    if w.fresh or w.windowEnd ~= (floor(at / c.windowMs) + 1) * c.windowMs then return false end
    w.used = max(0, w.used - cost)
    return true
  end,
}`,
};
