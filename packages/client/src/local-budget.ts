/**
 * `localBudget`: the budget of one process, in memory. Everything that holds the same
 * object shares it: several `createRateLimitedFetch` functions for one API key, and the
 * pause one of them sets after a 429. It runs the bucket of budget-bucket.ts, the same
 * decision the Redis script runs.
 */
import { type Budget, checkUnits, takeFromBudget } from './budget.js';
import { type BudgetRequest, type BudgetState, decideBudget, freshBudgetState } from './budget-bucket.js';
import { sleep as defaultSleep, type Sleep } from './sleep.js';
import { optionalFunction, plainOptions, positiveNumber, rejectUnknownKeys } from './validate.js';

/** Options of {@link localBudget}. */
export interface LocalBudgetOptions {
  /** Units added per `perMs` at full pace. Required. Example: `100` with `perMs: 1_000` for 100 a second. */
  readonly rate: number;
  /** The period `rate` is counted over, in ms. Default `1_000`. */
  readonly perMs?: number;
  /** Most units held at once: the burst allowed after an idle spell. Default: `rate`. */
  readonly burst?: number;
  /** Clock in ms; inject for tests. Default `Date.now`. */
  readonly now?: () => number;
  /** How to wait; inject for tests. Default: an abortable `setTimeout`. */
  readonly sleep?: Sleep;
}

/** A budget in this process's memory; see {@link localBudget}. */
export interface LocalBudget extends Budget {
  /** Units available now (fractional; 0 during a pause). */
  readonly available: number;
  /** Fraction of the configured rate in use: 1, lowered by each pause, recovering with time. */
  readonly pace: number;
}

export const BUDGET_OPTION_NAMES = ['rate', 'perMs', 'burst'] as const;

/**
 * Creates a budget for this process: `rate` units per `perMs`, bursts of `burst`, starting
 * full. Pass it to several `createRateLimitedFetch` calls to share it.
 *
 * @example
 * const budget = localBudget({ rate: 10, perMs: 1_000 }); // an API that allows 10 requests a second
 * await budget.take();
 */
export function localBudget(options: LocalBudgetOptions): LocalBudget {
  plainOptions(options, 'options');
  rejectUnknownKeys(options ?? {}, [...BUDGET_OPTION_NAMES, 'now', 'sleep'], 'budget');
  const rate = positiveNumber(options?.rate, 'rate');
  const perMs = positiveNumber(options.perMs ?? 1_000, 'perMs');
  const burst = positiveNumber(options.burst ?? rate, 'burst');
  const now = optionalFunction<() => number>(options.now, 'now') ?? Date.now;
  const sleep = optionalFunction<Sleep>(options.sleep, 'sleep') ?? defaultSleep;
  const shape = { ratePerMs: rate / perMs, burst };
  let state: BudgetState = freshBudgetState(shape, now());

  const decide = (request: BudgetRequest): number => {
    const decision = decideBudget(state, now(), request, shape);
    state = decision.state;
    return decision.waitMs;
  };

  return {
    burst,
    ratePerMs: shape.ratePerMs,
    get available() {
      decide({ op: 'peek', n: 0 });
      return state.tokens;
    },
    get pace() {
      decide({ op: 'peek', n: 0 });
      return state.pace;
    },
    async take(n = 1, signal) {
      checkUnits(n, burst);
      await takeFromBudget((units) => decide({ op: 'take', n: units }), n, signal, sleep);
    },
    async timeUntilAvailable(n = 1) {
      return decide({ op: 'peek', n: checkUnits(n, burst) });
    },
    async pauseUntil(time) {
      if (Number.isFinite(time)) decide({ op: 'pause', ms: time - now() });
    },
  };
}
