/**
 * Exponential backoff with full jitter: the wait before retry number `attempt` (1-based)
 * is uniform in [0, min(maxDelayMs, baseDelayMs × 2^(attempt-1))). "Full" jitter spreads
 * clients that failed together over the whole interval, which is what stops a crowd of
 * them from retrying in lockstep and failing together again (AWS Architecture Blog,
 * "Exponential Backoff And Jitter", 2015: full jitter does the least total work).
 */
export function fullJitterDelay(
  attempt: number,
  baseDelayMs: number,
  maxDelayMs: number,
  random: () => number,
): number {
  // 2 ** attempt overflows to Infinity past 1023; min() with the cap keeps the result finite.
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(attempt - 1, 1023));
  return Math.floor(clampUnit(random()) * ceiling);
}

/** A random source that returns 1 or a NaN would break the bounds; clamp to [0, 1). */
export function clampUnit(value: number): number {
  if (!(value > 0)) return 0;
  return value >= 1 ? 1 - Number.EPSILON : value;
}
