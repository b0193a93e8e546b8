/**
 * Public options of `createRateLimitedFetch`, and their resolved form, produced once at
 * construction by `resolveRateLimitedFetchOptions` (a bad value throws a
 * ClientConfigError there, not in the middle of an import).
 */
import type { Budget } from './budget.js';
import { BUDGET_OPTION_NAMES, type LocalBudgetOptions, localBudget } from './local-budget.js';
import type { Sleep } from './sleep.js';
import {
  fractionBelowOne,
  globalFetch,
  invalid,
  nonNegativeNumber,
  optionalFunction,
  plainOptions,
  positiveInteger,
  positiveNumber,
  rejectUnknownKeys,
  withoutUndefined,
} from './validate.js';
import { type AttemptOutcome, type ResolvedRetryOptions, type RetryInfo, resolveRetryOptions } from './with-retry.js';

/** The retry rules of `createRateLimitedFetch` (the `retry` option). */
export interface RateLimitedFetchRetryOptions {
  /** Retries after the first attempt, so at most `maxRetries + 1` calls per request. Default `5`. */
  readonly maxRetries?: number;
  /** Backoff base, in ms: the first retry waits up to this long, each later one up to twice as long. Default `1_000`. */
  readonly baseDelayMs?: number;
  /** Backoff cap, in ms. Does not limit a `Retry-After`. Default `60_000`. */
  readonly maxDelayMs?: number;
  /** Longest `Retry-After` honoured, in ms; a longer one rejects with `RetryAfterTooLongError`. Default `120_000`. */
  readonly maxRetryAfterMs?: number;
  /** Random extra wait on top of a `Retry-After`, up to this many ms. Default `500`. */
  readonly retryAfterJitterMs?: number;
  /** Overrides what is retried: `true`, `false`, or `undefined` for the default rules. Default: none. */
  readonly shouldRetry?: (outcome: AttemptOutcome) => boolean | undefined;
  /** Called before each retry wait, for logs and metrics (`RetryInfo`). Default: none. */
  readonly onRetry?: (info: RetryInfo) => void;
}

/** A request's options: fetch's `RequestInit`, plus what this request costs. */
export interface RateLimitedRequestInit extends RequestInit {
  /**
   * Units this request takes from the budget: a batch call that the API counts as N
   * requests (or N items) costs N. Default `1`. Above the budget's `burst` it rejects
   * with `CostExceedsBurstError` (it could never be sent).
   */
  readonly weight?: number;
}

/** A function with fetch's signature that takes from a budget, limits concurrency and retries. */
export type RateLimitedFetch = (input: string | URL | Request, init?: RateLimitedRequestInit) => Promise<Response>;

/** Options of {@link createRateLimitedFetch}. Every one is optional. */
export interface RateLimitedFetchOptions {
  /**
   * What every request takes its units from before it is sent: a `Budget`
   * (`localBudget(...)`, or `redisBudget(...)` from `@tierlimit/client/redis` to share it
   * between processes), or `{ rate, perMs, burst }` for a budget of this function alone.
   * Default: none (only `concurrency`, the API's rate-limit headers and its 429s pace).
   */
  readonly budget?: Budget | Pick<LocalBudgetOptions, 'rate' | 'perMs' | 'burst'>;
  /** Most requests in flight at once (until their response headers arrive). Default `10`. */
  readonly concurrency?: number;
  /** The retry rules (see `RateLimitedFetchRetryOptions`), or `false` for none. Default: `{ maxRetries: 5 }`. */
  readonly retry?: RateLimitedFetchRetryOptions | false;
  /**
   * Time limit of one attempt, from sending to the response headers, in ms; waits for the
   * budget are not counted. A timed-out attempt is retried as a timeout (never as a rate
   * limit). `0` means no limit. Default `30_000`.
   */
  readonly attemptTimeoutMs?: number;
  /** Pace by the API's `X-RateLimit-*` / IETF `RateLimit` headers when it sends them. Default `true`. */
  readonly adaptive?: boolean;
  /** Below this fraction of the reported limit, the remaining quota is spread over the time to reset. Default `0.1`. */
  readonly lowWatermark?: number;
  /** The fetch implementation. Default: `globalThis.fetch`. */
  readonly fetch?: typeof fetch;
  /** Clock in ms since the epoch; inject for tests. Default `Date.now`. */
  readonly now?: () => number;
  /** Random source in [0, 1) for jitter; inject for tests. Default `Math.random`. */
  readonly random?: () => number;
  /** How to wait; inject for tests. Default: an abortable `setTimeout`. */
  readonly sleep?: Sleep;
}

export interface ResolvedRateLimitedFetchOptions {
  readonly budget: Budget | undefined;
  readonly concurrency: number;
  /** Without a signal, and without an attempt time limit: both are applied per request. */
  readonly retry: ResolvedRetryOptions;
  readonly attemptTimeoutMs: number;
  readonly adaptive: boolean;
  readonly lowWatermark: number;
  readonly fetch: typeof fetch;
}

const OPTION_NAMES = [
  'budget',
  'concurrency',
  'retry',
  'attemptTimeoutMs',
  'adaptive',
  'lowWatermark',
  'fetch',
  'now',
  'random',
  'sleep',
] as const;

const RETRY_OPTION_NAMES = [
  'maxRetries',
  'baseDelayMs',
  'maxDelayMs',
  'maxRetryAfterMs',
  'retryAfterJitterMs',
  'shouldRetry',
  'onRetry',
] as const;

export function resolveRateLimitedFetchOptions(options: RateLimitedFetchOptions = {}): ResolvedRateLimitedFetchOptions {
  plainOptions(options, 'options');
  rejectUnknownKeys(options, OPTION_NAMES, 'createRateLimitedFetch');
  const { retry } = options;
  if (retry !== undefined && retry !== false) {
    plainOptions(retry, 'retry');
    rejectUnknownKeys(retry, RETRY_OPTION_NAMES, 'retry');
  }
  const rules = retry === false ? { maxRetries: 0 } : (retry ?? {});
  const resolvedRetry = resolveRetryOptions(
    withoutUndefined({
      retries: rules.maxRetries,
      baseDelayMs: rules.baseDelayMs,
      maxDelayMs: rules.maxDelayMs,
      maxRetryAfterMs: rules.maxRetryAfterMs,
      retryAfterJitterMs: rules.retryAfterJitterMs,
      shouldRetry: rules.shouldRetry,
      onRetry: rules.onRetry,
      now: options.now,
      random: options.random,
      sleep: options.sleep,
    }),
    'retry.',
  );
  if (options.adaptive !== undefined && typeof options.adaptive !== 'boolean') {
    invalid('adaptive', 'a boolean', options.adaptive);
  }
  return {
    budget: budgetOf(options.budget, resolvedRetry),
    concurrency: concurrencyOf(options.concurrency ?? 10),
    retry: resolvedRetry,
    attemptTimeoutMs: nonNegativeNumber(options.attemptTimeoutMs ?? 30_000, 'attemptTimeoutMs'),
    adaptive: options.adaptive ?? true,
    lowWatermark: fractionBelowOne(options.lowWatermark ?? 0.1, 'lowWatermark'),
    fetch: optionalFunction<typeof fetch>(options.fetch, 'fetch') ?? globalFetch(),
  };
}

/** A budget object as given, or a local budget made from `{ rate, perMs, burst }` with the clock of these options. */
function budgetOf(value: unknown, clock: Pick<ResolvedRetryOptions, 'now' | 'sleep'>): Budget | undefined {
  if (value === undefined) return undefined;
  plainOptions(value, 'budget');
  const candidate = value as Partial<Budget>;
  if (typeof candidate.take === 'function') {
    for (const method of ['timeUntilAvailable', 'pauseUntil'] as const) {
      if (typeof candidate[method] !== 'function') invalid(`budget.${method}`, 'a function', candidate[method]);
    }
    if (!(typeof candidate.burst === 'number' && candidate.burst > 0)) {
      invalid('budget.burst', 'a positive number', candidate.burst);
    }
    return value as Budget;
  }
  rejectUnknownKeys(value as object, BUDGET_OPTION_NAMES, 'budget');
  const { rate, perMs, burst } = value as Partial<LocalBudgetOptions>;
  const checkedRate = positiveNumber(rate, 'budget.rate');
  return localBudget({
    rate: checkedRate,
    perMs: positiveNumber(perMs ?? 1_000, 'budget.perMs'),
    burst: positiveNumber(burst ?? checkedRate, 'budget.burst'),
    now: clock.now,
    sleep: clock.sleep,
  });
}

function concurrencyOf(value: unknown): number {
  return value === Number.POSITIVE_INFINITY ? value : positiveInteger(value, 'concurrency');
}
