/**
 * What an algorithm is, for the stores (issue 14: one definition of each algorithm). Each
 * algorithm module defines its state (named fields) and its decision once, in five steps,
 * twice over: in TypeScript for the memory store, and in Lua, beside it, for the Redis
 * script, with the same names. The store suite (test/stores/store-suite.test.ts, exported
 * as `@tierlimit/core/testing`) runs every algorithm on every store to prove the two agree.
 *
 * The steps, for one check of a request:
 * 1. `current`: the stored state brought to `now` (an expired or missing state is fresh; an
 *    impossible one, such as a window ending more than one window from now, is clamped and
 *    marked dirty, to be written back even if nothing is charged);
 * 2. `fits`: whether `cost` units fit now;
 * 3. `charge`: take them (only when every check of the request fits);
 * 4. `report`: remaining units, the time until the state is back to full, the time until
 *    `cost` would fit;
 * 5. `expiresAt`: from when the stored state equals no state at all (its TTL).
 *
 * And, apart from a decision, `refund`: give back `cost` units charged by a decision made at
 * `at` (the store's clock then), on the stored state as it is, if it still counts them (a
 * window refunds only the window the charge was made in).
 */
import type { Algorithm, StoreCheck } from '../store.js';

/**
 * The working state of one check during a store call. Every algorithm's fields are here,
 * by name; each algorithm uses its own (listed in its `fields`).
 */
export interface Work {
  /** Units counted in the current window (fixed window, calendar, sliding window). */
  used: number;
  /** When the current window ends, ms since the epoch (fixed window, calendar, sliding window). */
  windowEnd: number;
  /** Units counted in the window before the current one (sliding window). */
  previous: number;
  /** Units held (token bucket); fractional while refilling. */
  tokens: number;
  /** When `tokens` was last brought up to date, ms since the epoch (token bucket). */
  refilledAt: number;
  /** Nothing was stored, or it no longer counts: a write starts the key's life (and TTL). */
  fresh: boolean;
  /** `current` repaired the stored state: write it back even if nothing is charged. */
  dirty: boolean;
}

/** A stored field of some algorithm. */
export type StoredField = 'used' | 'windowEnd' | 'previous' | 'tokens' | 'refilledAt';

/** What a check reports. Durations in ms, relative to the store's clock. */
export interface Report {
  /** Whole units left (after charging, when charged). */
  remaining: number;
  /** Until the state is back to its full limit. */
  resetMs: number;
  /** Until `cost` would fit; 0 when it fits. */
  retryMs: number;
}

/** One algorithm, as both stores run it. */
export interface AlgorithmSpec {
  readonly name: Algorithm;
  /** Its number in the Redis script's arguments. */
  readonly code: number;
  /** What it stores, in this order: a slot's numbers in memory, `"<a> <b> [<c>]"` in Redis. */
  readonly fields: readonly StoredField[];
  current(w: Work, check: StoreCheck, now: number): void;
  fits(w: Work, check: StoreCheck, cost: number, now: number): boolean;
  charge(w: Work, check: StoreCheck, cost: number): void;
  report(w: Work, check: StoreCheck, cost: number, fit: boolean, now: number, out: Report): void;
  expiresAt(w: Work, check: StoreCheck, now: number): number;
  /** Gives back a charge of `cost` made at `at` whose reported `resetMs` was as given; false when it no longer counts. */
  refund(w: Work, check: StoreCheck, cost: number, at: number, resetMs: number): boolean;
  /**
   * The same steps in Lua: a table with `current`, `fits`, `charge`, `report` (returning
   * remaining, resetMs, retryMs), `expires` and `refund`, over a table `w` with the same fields and a
   * parsed check `c` with the StoreCheck's names. The script supplies `EPSILON`, `floor`,
   * `ceil`, `max` and `min`.
   */
  readonly lua: string;
}

/** Floating-point slack for fractional units (a bucket refilling, a sliding window's weighted count). */
export const EPSILON = 1e-9;

/** A new working state (one per check slot of a call, reused). */
export function newWork(): Work {
  return { used: 0, windowEnd: 0, previous: 0, tokens: 0, refilledAt: 0, fresh: true, dirty: false };
}
