/**
 * Token bucket: holds up to `capacity` (the policy's `burst`) units, refilled continuously
 * at `limit` units per `windowMs`; a request takes its cost. Guarantee: at most
 * `capacity + limit × t ÷ windowMs` units in any interval of length `t`.
 */
import type { StoreCheck } from '../store.js';
import { type AlgorithmSpec, EPSILON, type Report, type Work } from './spec.js';

export const tokenBucket: AlgorithmSpec = {
  name: 'token-bucket',
  code: 1,
  fields: ['tokens', 'refilledAt'],
  current(w: Work, check: StoreCheck, now: number): void {
    if (w.fresh) {
      w.tokens = check.capacity;
    } else {
      if (w.refilledAt > now) {
        // A refill time ahead of now (a clock that stepped back) would withhold the refill.
        w.refilledAt = now;
        w.dirty = true;
      }
      if (w.tokens > check.capacity) {
        w.tokens = check.capacity;
        w.dirty = true;
      }
      w.tokens = Math.min(check.capacity, w.tokens + ((now - w.refilledAt) * check.limit) / check.windowMs);
    }
    w.refilledAt = now;
  },
  fits: (w, _check, cost) => w.tokens + EPSILON >= cost,
  charge(w, _check, cost) {
    w.tokens -= cost;
  },
  report(w, check, cost, fit, _now, out: Report) {
    const msPerUnit = check.windowMs / check.limit;
    out.remaining = Math.max(0, Math.floor(w.tokens + EPSILON));
    out.resetMs = Math.max(0, Math.ceil((check.capacity - w.tokens) * msPerUnit - EPSILON));
    out.retryMs = fit ? 0 : Math.max(1, Math.ceil((cost - w.tokens) * msPerUnit - EPSILON));
  },
  expiresAt(w, check, now) {
    return now + Math.max(0, Math.ceil((check.capacity - w.tokens) * (check.windowMs / check.limit) - EPSILON));
  },
  refund(w, check, cost) {
    if (w.fresh) return false;
    w.tokens = Math.min(check.capacity, w.tokens + cost);
    return true;
  },
  lua: `{
  current = function(w, c, now)
    if w.fresh then
      w.tokens = c.capacity
    else
      if w.refilledAt > now then w.refilledAt, w.dirty = now, true end
      if w.tokens > c.capacity then w.tokens, w.dirty = c.capacity, true end
      w.tokens = min(c.capacity, w.tokens + (now - w.refilledAt) * c.limit / c.windowMs)
    end
    w.refilledAt = now
  end,
  fits = function(w, c, cost) return w.tokens + EPSILON >= cost end,
  charge = function(w, c, cost) w.tokens = w.tokens - cost end,
  report = function(w, c, cost, fit, now)
    local msPerUnit = c.windowMs / c.limit
    local retryMs = 0
    if not fit then retryMs = max(1, ceil((cost - w.tokens) * msPerUnit - EPSILON)) end
    return max(0, floor(w.tokens + EPSILON)), max(0, ceil((c.capacity - w.tokens) * msPerUnit - EPSILON)), retryMs
  end,
  expires = function(w, c, now)
    return now + max(0, ceil((c.capacity - w.tokens) * (c.windowMs / c.limit) - EPSILON))
  end,
  refund = function(w, c, cost, at, resetMs)
    if w.fresh then return false end
    w.tokens = min(c.capacity, w.tokens + cost)
    return true
  end,
}`,
};
