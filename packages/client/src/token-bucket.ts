/**
 * A client-side token bucket: the same algorithm the server uses for event ingestion
 * (SPEC section 1), run locally so a client configured with its plan's numbers sends at
 * most what the server will accept, instead of finding out by 429.
 *
 * Waiting is by reservation: `take(n)` subtracts n at once, letting the balance go
 * negative, and waits until refill covers the debt. That makes waiters strictly
 * first-come-first-served (a large take is never starved by a stream of small ones)
 * without a queue or a timer per waiter.
 */
import { CostExceedsBurstError } from './errors.js';
import { abortable, sleep as defaultSleep, type Sleep } from './sleep.js';
import { optionalFunction, plainOptions, positiveNumber, rejectUnknownKeys } from './validate.js';

/** Options of {@link createTokenBucket}. */
export interface TokenBucketOptions {
  /** Tokens added per `perMs` (refill rate). Required. Example: `10_000` with `perMs: 60_000` for 10,000 a minute. */
  readonly rate: number;
  /** The period `rate` is counted over, in ms. Default `1_000` (so `rate` is per second). */
  readonly perMs?: number;
  /** Most tokens held at once (the burst a client may send after being idle). Default: `rate`. */
  readonly burst?: number;
  /** Clock in ms; inject for tests. Default `Date.now`. */
  readonly now?: () => number;
  /** How to wait; inject for tests. Default: an abortable `setTimeout`. */
  readonly sleep?: Sleep;
}

/** A token bucket; see {@link createTokenBucket}. */
export interface TokenBucket {
  /**
   * Takes `n` tokens (default 1), waiting until they are there. Waiters are served in
   * call order. Rejects with `signal.reason` when `signal` aborts (the tokens go back),
   * and with a `CostExceedsBurstError` when `n` exceeds `burst` (it could never succeed).
   */
  take(n?: number, signal?: AbortSignal): Promise<void>;
  /** Takes `n` tokens (default 1) if they are there now and nobody is waiting; never waits. */
  tryTake(n?: number): boolean;
  /** Tokens available now; negative while waiters hold reservations. */
  readonly available: number;
  /** Most tokens held at once. */
  readonly burst: number;
  /** Refill rate, in tokens per millisecond. */
  readonly ratePerMs: number;
}

const OPTIONS = ['rate', 'perMs', 'burst', 'now', 'sleep'];

/**
 * Creates a token bucket that starts full.
 *
 * @example
 * // The free tier's event limit: bursts of 50, 500 a minute sustained.
 * const bucket = createTokenBucket({ rate: 500, perMs: 60_000, burst: 50 });
 * await bucket.take(10); // then send a batch of 10 events
 */
export function createTokenBucket(options: TokenBucketOptions): TokenBucket {
  plainOptions(options, 'options');
  rejectUnknownKeys(options ?? {}, OPTIONS, 'token bucket');
  const rate = positiveNumber(options?.rate, 'rate');
  const perMs = positiveNumber(options.perMs ?? 1_000, 'perMs');
  const burst = positiveNumber(options.burst ?? rate, 'burst');
  const now = optionalFunction<() => number>(options.now, 'now') ?? Date.now;
  const sleep = optionalFunction<Sleep>(options.sleep, 'sleep') ?? defaultSleep;
  const perMsRate = rate / perMs;

  let tokens = burst;
  let updatedAt = now();

  const refill = () => {
    const time = now();
    if (time > updatedAt) {
      tokens = Math.min(burst, tokens + (time - updatedAt) * perMsRate);
      updatedAt = time;
    }
  };

  const checkCost = (n: number) => {
    if (!(typeof n === 'number' && n > 0 && Number.isFinite(n))) {
      throw new RangeError(`Expected the number of tokens to be a finite positive number, got ${String(n)}.`);
    }
    if (n > burst) throw new CostExceedsBurstError(n, burst);
  };

  return {
    burst,
    ratePerMs: perMsRate,
    get available() {
      refill();
      return tokens;
    },
    tryTake(n = 1) {
      checkCost(n);
      refill();
      if (tokens < n) return false;
      tokens -= n;
      return true;
    },
    async take(n = 1, signal) {
      checkCost(n);
      signal?.throwIfAborted();
      refill();
      tokens -= n;
      if (tokens >= 0) return;
      const waitMs = -tokens / perMsRate;
      try {
        await abortable(sleep(waitMs, signal), signal);
      } catch (error) {
        // Give the reservation back; waiters behind it keep their (now slightly pessimistic) wait.
        refill();
        tokens = Math.min(burst, tokens + n);
        throw error;
      }
    },
  };
}
