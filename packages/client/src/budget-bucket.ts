/**
 * The budget's bucket: its state and its one decision, defined once. `localBudget` runs it
 * in memory; the Redis script (redis-budget-script.ts) runs the same steps on Redis, field
 * for field, and test/client/budget-agreement.test.ts proves the two agree.
 *
 * It is a token bucket (`burst` units, refilled at `ratePerMs`) with two additions that a
 * plain bucket lacks and that a budget shared by several callers needs:
 *
 * - A pause. After a 429 the API is full: every caller waits until `pausedUntil`, and the
 *   bucket is emptied and does not refill during the pause, so the callers do not come
 *   back with a full burst and hit the same wall (issue 16).
 * - A learned pace. An API's published limit is often a sliding window, which admits less
 *   than a bucket of the same numbers (a full burst plus the rate within one window), and
 *   requests reach the API with jitter. A 429 is the proof that the budget is too generous
 *   for this API right now: each pause (not each 429 of one pause) multiplies the refill
 *   rate by `PACE_DECREASE`, never below `PACE_FLOOR` of the configured rate, and the pace
 *   recovers by one step every `PACE_RECOVERY_MS` without a 429: the additive-increase,
 *   multiplicative-decrease rule that keeps TCP under a link's capacity. While the pace is
 *   below 1 the bucket also holds at most half of `(1 − pace)` of its burst (`capacityAt`):
 *   callers that stall and catch up then still send less than `burst` in any window of
 *   `burst ÷ rate` (what a sliding window of `burst` per such a window admits), and the
 *   other half of the slack is left for the jitter of the way to the API.
 *
 * Taking does not reserve: a request that does not fit is told how long to wait and asks
 * again then, so a pause set in the meantime (by another process) is always seen.
 */

/** What the bucket holds between decisions. Times are ms since the epoch on the deciding clock. */
export interface BudgetState {
  /** Units available now (fractional; never above the burst). */
  readonly tokens: number;
  /** When `tokens` was last brought up to date. */
  readonly updatedAt: number;
  /** Nobody takes before this time; 0 when never paused. */
  readonly pausedUntil: number;
  /** Fraction of the configured rate in use, from `PACE_FLOOR` to 1. */
  readonly pace: number;
}

/** The bucket's configuration. */
export interface BudgetShape {
  /** Refill rate at full pace, in units per ms. */
  readonly ratePerMs: number;
  /** Most units held at once. */
  readonly burst: number;
}

/**
 * One request to the bucket: take `n` units if they are there, only ask how long until
 * they would be (`peek`), or pause every taker for `ms`.
 */
export type BudgetRequest =
  | { readonly op: 'take'; readonly n: number }
  | { readonly op: 'peek'; readonly n: number }
  | { readonly op: 'pause'; readonly ms: number };

/** Each pause multiplies the pace by this. */
export const PACE_DECREASE = 0.95;
/** The pace never drops below this fraction of the configured rate. */
export const PACE_FLOOR = 0.5;
/** Time without a pause in which the pace recovers by one step (1 − PACE_DECREASE), in ms. */
export const PACE_RECOVERY_MS = 120_000;

/** A full bucket at full pace: what a budget nobody has used yet holds. */
export function freshBudgetState(shape: BudgetShape, now: number): BudgetState {
  return { tokens: shape.burst, updatedAt: now, pausedUntil: 0, pace: 1 };
}

/**
 * Applies `request` at time `now`. Returns the new state and `waitMs`: for a take, 0 when
 * the units were taken, else how long until they would be there (the caller asks again
 * then); for a peek, the same without taking; for a pause, 0.
 */
export function decideBudget(
  previous: BudgetState,
  now: number,
  request: BudgetRequest,
  shape: BudgetShape,
): { state: BudgetState; waitMs: number } {
  let { tokens, pausedUntil, pace } = previous;
  const elapsed = now - previous.updatedAt;
  if (elapsed > 0) {
    // Refill at the pace in force before this decision, and never during a pause.
    const refillFrom = Math.max(previous.updatedAt, pausedUntil);
    const refillPace = pace;
    pace = Math.min(1, pace + (elapsed * (1 - PACE_DECREASE)) / PACE_RECOVERY_MS);
    if (now > refillFrom) {
      tokens = Math.min(capacityAt(pace, shape.burst), tokens + (now - refillFrom) * shape.ratePerMs * refillPace);
    }
  }
  const updatedAt = Math.max(now, previous.updatedAt);

  if (request.op === 'pause') {
    const until = now + request.ms;
    if (until > pausedUntil) {
      // A pause that starts while another runs is the same episode: the pace drops once.
      if (pausedUntil <= now) pace = Math.max(PACE_FLOOR, pace * PACE_DECREASE);
      pausedUntil = until;
      tokens = Math.min(tokens, 0);
    }
    return { state: { tokens, updatedAt, pausedUntil, pace }, waitMs: 0 };
  }

  // A request larger than the (lowered) capacity goes once the bucket is full, leaving a debt.
  const missing = Math.max(0, Math.min(request.n, capacityAt(pace, shape.burst)) - tokens);
  const waitMs = Math.ceil(Math.max(0, pausedUntil - now) + missing / (shape.ratePerMs * pace));
  if (request.op === 'take' && waitMs === 0) tokens -= request.n;
  return { state: { tokens, updatedAt, pausedUntil, pace }, waitMs };
}

/** The most the bucket holds at `pace`: the whole burst at full pace, else half of `(1 − pace)` of it (at least 1 unit). */
export function capacityAt(pace: number, burst: number): number {
  return pace >= 1 ? burst : Math.min(burst, Math.max(1, (burst * (1 - pace)) / 2));
}

/**
 * How long the state must be kept, in ms: until the bucket is full again, the pause is
 * over and the pace has recovered. After that it equals a fresh state, so a store may
 * forget it (the Redis key's TTL).
 */
export function budgetStateTtl(state: BudgetState, now: number, shape: BudgetShape): number {
  const paused = Math.max(0, state.pausedUntil - now);
  const refill = Math.max(0, shape.burst - state.tokens) / (shape.ratePerMs * state.pace);
  const recover = ((1 - state.pace) / (1 - PACE_DECREASE)) * PACE_RECOVERY_MS;
  return Math.ceil(paused + Math.max(refill, recover)) + 1_000;
}
