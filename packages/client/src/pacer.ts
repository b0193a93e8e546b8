/**
 * Proactive pacing: decides when the next request may go, from what the server last said
 * about its quota (`X-RateLimit-Remaining` / `-Reset`, or the IETF fields), from an
 * optional client-side token bucket, and from any `Retry-After` pause.
 *
 * The rule for the server's state: while plenty remains, send freely; once the remaining
 * budget would drop below `lowWatermark` of the limit, spread what remains evenly over
 * the time to reset. For a fixed window that is exactly the safe rate. For a token bucket
 * (whose reset is "full again") it is conservative at first, but it converges: sending at
 * remaining ÷ time-to-full lets the bucket refill towards half full, where that rate
 * equals the refill rate, so throughput settles at what the server sustains, without 429s.
 *
 * When the plan's bucket is configured (`bucket`), its refill rate is known, and the
 * server's report is read as the level of a bucket refilling at that rate: from the last
 * `Remaining`, the pacer computes exactly how much has come back since, and sends as soon
 * as the next request fits. Spreading (above) would then only slow a client that already
 * paces itself right, so it is not used.
 *
 * Requests in flight are counted: each permit remembers how many units had been granted
 * when it was sent, so a response's `Remaining` is reduced by whatever was sent after it.
 */
import type { Budget } from './budget.js';
import { CostExceedsBurstError } from './errors.js';
import type { RateLimitInfo } from './rate-limit-headers.js';
import { sleep as defaultSleep, type Sleep } from './sleep.js';
import { createTokenBucket, type TokenBucket, type TokenBucketOptions } from './token-bucket.js';
import { fractionBelowOne, optionalFunction, plainOptions, rejectUnknownKeys } from './validate.js';

/** Options of {@link createPacer}. */
export interface PacerOptions {
  /**
   * A client-side token bucket every permit also draws from (a bucket, a `Budget` such as
   * `localBudget` or `redisBudget`, or options to make a token bucket with this pacer's
   * clock): set it to your plan's rate and burst so the client never sends faster than the
   * server refills. Default: none.
   */
  readonly bucket?: TokenBucket | Budget | TokenBucketOptions;
  /**
   * Adapt to the server's reported state. `false` keeps only the bucket and `pauseUntil`.
   * Default `true`.
   */
  readonly adaptive?: boolean;
  /**
   * Below this fraction of the reported limit, the remaining budget is spread evenly over
   * the time to reset. `0` spreads only when the next request would not fit. Default `0.1`.
   */
  readonly lowWatermark?: number;
  /** Clock in ms since the epoch; inject for tests. Default `Date.now`. */
  readonly now?: () => number;
  /** How to wait; inject for tests. Default: an abortable `setTimeout`. */
  readonly sleep?: Sleep;
}

/** The right to send one request; tell the pacer what came back, then release it. */
export interface Permit {
  /** Reports the rate-limit state of this request's response (`parseRateLimit(response.headers)`). */
  observe(info: RateLimitInfo | undefined): void;
  /** Marks the request finished, answered or not. Call it exactly once, in a `finally`. */
  release(): void;
}

/** A pacer; see {@link createPacer}. */
export interface Pacer {
  /**
   * Waits until a request costing `n` units (default 1; a batch of n events costs n) may
   * be sent, then returns its permit. Permits are granted in call order. Rejects with
   * `signal.reason` when `signal` aborts first.
   */
  acquire(n?: number, signal?: AbortSignal): Promise<Permit>;
  /** Holds every permit until `time` (ms since the epoch): after a 429 or 503, nobody should send before the server's `Retry-After`. */
  pauseUntil(time: number): void;
  /** The server state being paced by, or `undefined` when nothing current is known. */
  readonly state: RateLimitInfo | undefined;
}

const OPTIONS = ['bucket', 'adaptive', 'lowWatermark', 'now', 'sleep'];

/** What the pacer draws from: a token bucket or a budget (which may only be asked asynchronously). */
type Bucket = Pick<TokenBucket, 'take' | 'burst' | 'ratePerMs'> & { tryTake?: (n: number) => boolean };

interface Waiter {
  readonly n: number;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (permit: Permit) => void;
  readonly reject: (error: unknown) => void;
  tokensTaken: boolean;
  dispose(): void;
}

interface Observation {
  readonly info: RateLimitInfo;
  /** Units granted up to and including the observed request; later grants are not in `info.remaining`. */
  readonly grantedAtSend: number;
  /** When the report arrived, ms since the epoch. */
  readonly observedAt: number;
}

/**
 * Creates a pacer. Use one per rate-limited resource (one per API key and endpoint family).
 *
 * @example
 * const pacer = createPacer({ bucket: { rate: 10_000, perMs: 60_000, burst: 1_000 } });
 * const permit = await pacer.acquire(batch.length);
 * try {
 *   const response = await fetch(url, init);
 *   permit.observe(parseRateLimit(response.headers));
 * } finally {
 *   permit.release();
 * }
 */
export function createPacer(options: PacerOptions = {}): Pacer {
  plainOptions(options, 'options');
  rejectUnknownKeys(options, OPTIONS, 'pacer');
  const now = optionalFunction<() => number>(options.now, 'now') ?? Date.now;
  const sleep = optionalFunction<Sleep>(options.sleep, 'sleep') ?? defaultSleep;
  const lowWatermark = fractionBelowOne(options.lowWatermark ?? 0.1, 'lowWatermark');
  const adaptive = options.adaptive ?? true;
  const bucket: Bucket | undefined =
    options.bucket === undefined
      ? undefined
      : typeof (options.bucket as Bucket).take === 'function'
        ? (options.bucket as Bucket)
        : createTokenBucket({ now, sleep, ...(options.bucket as TokenBucketOptions) });
  const refillPerMs = bucket?.ratePerMs;

  const queue: Waiter[] = [];
  let granted = 0;
  let outstanding = 0;
  // Until the first answer, one request at a time: nothing is known yet about the quota.
  let probed = false;
  let observed: Observation | undefined;
  let lastGrantAt = Number.NEGATIVE_INFINITY;
  let pausedUntil = 0;
  let pumping = false;
  let wake: (() => void) | undefined;

  const changed = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };

  /** 0: grant now; a number: wait that long (or for a change); Infinity: wait for a change. */
  const delayFor = (n: number): number => {
    const time = now();
    if (pausedUntil > time) return pausedUntil - time;
    if (!adaptive) return 0;
    if (!probed && outstanding > 0) return Number.POSITIVE_INFINITY;
    if (observed === undefined) return 0;
    const { info, grantedAtSend, observedAt } = observed;
    const used = granted - grantedAtSend;
    if (refillPerMs !== undefined && info.limit !== undefined) {
      // The plan's refill rate is known: the server's bucket holds what it reported plus
      // what has refilled since, up to its capacity, minus what was sent after the report.
      const available = Math.min(info.limit, info.remaining + refillPerMs * Math.max(0, time - observedAt)) - used;
      if (available >= n) return 0;
      // Always finite: refill alone makes room, even if no response reports again.
      return Math.ceil((n - available) / refillPerMs);
    }
    if (time < info.resetAt) {
      const available = info.remaining - used;
      const threshold = info.limit === undefined ? 0 : lowWatermark * info.limit;
      if (available - n >= threshold) return 0;
      if (available >= n) {
        // Spread: each unit gets an equal share of the time left before the reset.
        const spacing = (info.resetAt - time) / available;
        return Math.max(0, lastGrantAt + n * spacing - time);
      }
      return info.resetAt - time;
    }
    // Past the reset the quota is full again, minus what was sent since: without that
    // subtraction every waiter would be let go at the reset instant, together.
    if (info.limit !== undefined && info.limit - used >= n) return 0;
    // Does not fit, or the limit is unknown: requests in flight will bring fresh numbers.
    // With nothing in flight nothing will, so forget the stale state and let one through.
    if (outstanding === 0) {
      observed = undefined;
      return 0;
    }
    return info.limit === undefined ? 0 : Number.POSITIVE_INFINITY;
  };

  const waitFor = async (ms: number): Promise<void> => {
    const change = new Promise<void>((resolve) => {
      wake = resolve;
    });
    if (ms === Number.POSITIVE_INFINITY) return change;
    const timer = new AbortController();
    try {
      await Promise.race([change, sleep(ms, timer.signal).catch(() => {})]);
    } finally {
      timer.abort();
      wake = undefined;
    }
  };

  const grant = (waiter: Waiter) => {
    granted += waiter.n;
    outstanding++;
    lastGrantAt = now();
    waiter.dispose();
    const seq = granted;
    let released = false;
    waiter.resolve({
      observe(info) {
        if (info === undefined || released) return;
        probed = true;
        // A response to an older request, arriving late, knows less than the one we have.
        if (observed !== undefined && observed.grantedAtSend > seq) return;
        observed = { info, grantedAtSend: seq, observedAt: now() };
        changed();
      },
      release() {
        if (released) return;
        released = true;
        probed = true;
        outstanding--;
        changed();
      },
    });
  };

  const pump = async () => {
    if (pumping) return;
    pumping = true;
    try {
      while (queue.length > 0) {
        const head = queue[0] as Waiter;
        const delay = delayFor(head.n);
        if (delay > 0) {
          await waitFor(delay);
          continue;
        }
        if (bucket !== undefined && !head.tokensTaken) {
          if (bucket.tryTake?.(head.n) !== true) {
            try {
              await bucket.take(head.n, head.signal);
            } catch (error) {
              // On abort the abort handler already removed and rejected the waiter; anything else ends it here.
              const index = queue.indexOf(head);
              if (index !== -1) {
                queue.splice(index, 1);
                head.dispose();
                head.reject(error);
              }
              continue;
            }
          }
          head.tokensTaken = true;
          continue; // time passed while taking tokens; check the server state again
        }
        queue.shift();
        grant(head);
      }
    } finally {
      pumping = false;
    }
  };

  return {
    get state() {
      return observed?.info;
    },
    pauseUntil(time) {
      if (time > pausedUntil) {
        pausedUntil = time;
        changed();
      }
    },
    acquire(n = 1, signal) {
      if (!(typeof n === 'number' && n > 0 && Number.isFinite(n))) {
        return Promise.reject(new RangeError(`Expected the cost to be a finite positive number, got ${String(n)}.`));
      }
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (bucket !== undefined && n > bucket.burst) return Promise.reject(new CostExceedsBurstError(n, bucket.burst));
      return new Promise<Permit>((resolve, reject) => {
        const waiter: Waiter = { n, signal, resolve, reject, tokensTaken: false, dispose: () => {} };
        if (signal !== undefined) {
          const onAbort = () => {
            const index = queue.indexOf(waiter);
            if (index !== -1) queue.splice(index, 1);
            reject(signal.reason);
            changed();
          };
          signal.addEventListener('abort', onAbort, { once: true });
          waiter.dispose = () => signal.removeEventListener('abort', onAbort);
        }
        queue.push(waiter);
        changed();
        void pump();
      });
    },
  };
}
