/**
 * What `createRateLimitedFetch` takes units from before each request: a budget. Two kinds
 * ship: `localBudget` (this process) and `redisBudget` (`@tierlimit/client/redis`, every
 * process with the same key). Both decide with budget-bucket.ts and wait with
 * `takeFromBudget` below; any object with this shape works (a budget in another store).
 */
import { CostExceedsBurstError } from './errors.js';
import { abortable, type Sleep } from './sleep.js';

/** A rate budget shared by every caller that holds it. */
export interface Budget {
  /**
   * Takes `n` units (default 1), waiting until they are there and no pause holds them.
   * Rejects with `signal.reason` when `signal` aborts, and with a `CostExceedsBurstError`
   * when `n` exceeds `burst` (it could never succeed).
   */
  take(n?: number, signal?: AbortSignal): Promise<void>;
  /** How long until `n` units (default 1) could be taken, in ms (0: now). Takes nothing. */
  timeUntilAvailable(n?: number): Promise<number>;
  /**
   * Holds every taker of this budget until `time` (ms since the epoch) and empties it, so
   * nobody comes back with a burst: call it when the API answers 429. Never rejects.
   */
  pauseUntil(time: number): Promise<void>;
  /** Most units held at once. */
  readonly burst: number;
  /** Refill rate at full pace, in units per ms. */
  readonly ratePerMs: number;
}

/** Rejects a cost the budget could never grant, before any wait. */
export function checkUnits(n: unknown, burst: number): number {
  if (!(typeof n === 'number' && n > 0 && Number.isFinite(n))) {
    throw new RangeError(`Expected the number of units to be a finite positive number, got ${String(n)}.`);
  }
  if (n > burst) throw new CostExceedsBurstError(n, burst);
  return n;
}

/**
 * Asks `decide` for `n` units until it grants them (answers 0), sleeping what it says in
 * between: the wait loop of every budget. Each sleep is bounded by what the bucket
 * reports (the pause left plus the refill time of `n` units), and `signal` ends it.
 */
export async function takeFromBudget(
  decide: (n: number) => number | Promise<number>,
  n: number,
  signal: AbortSignal | undefined,
  sleep: Sleep,
): Promise<void> {
  for (;;) {
    signal?.throwIfAborted();
    const waitMs = await abortable(Promise.resolve(decide(n)), signal);
    if (waitMs <= 0) return;
    await abortable(sleep(waitMs, signal), signal);
  }
}
