/**
 * `withRetry`: runs an HTTP call again when a retry can help (see classify.ts), waiting
 * what the server asked (`Retry-After`) or an exponential backoff with full jitter.
 * Everything time-related is injectable (`now`, `random`, `sleep`) so tests are exact.
 */
import { clampUnit, fullJitterDelay } from './backoff.js';
import { isNetworkError, isResponseLike, isRetryableStatus } from './classify.js';
import { RetryAfterTooLongError } from './errors.js';
import { retryAfterOf } from './retry-after.js';
import { abortable, sleep as defaultSleep, type Sleep } from './sleep.js';
import { withTimeout } from './timeout.js';
import {
  nonNegativeInteger,
  nonNegativeNumber,
  optionalFunction,
  optionalSignal,
  plainOptions,
  positiveNumber,
  rejectUnknownKeys,
} from './validate.js';

/** What each attempt receives. */
export interface AttemptContext {
  /** 1 for the first call, 2 for the first retry, and so on. */
  readonly attempt: number;
  /**
   * Aborts when the caller's `signal` aborts or this attempt's `attemptTimeoutMs` runs
   * out. Pass it to `fetch` so an abandoned attempt frees its connection.
   */
  readonly signal: AbortSignal;
}

/** What an attempt ended with, as `shouldRetry` sees it: a response, or a thrown error. */
export type AttemptOutcome =
  | { readonly attempt: number; readonly response: Response; readonly error?: undefined }
  | { readonly attempt: number; readonly response?: undefined; readonly error: unknown };

/** Passed to `onRetry` before each wait. */
export interface RetryInfo {
  /** The attempt that just failed, 1-based: 1 before the first retry. */
  readonly attempt: number;
  /** How long the client is about to wait, in ms. */
  readonly delayMs: number;
  /** Short text for a log line: `HTTP 429` or `TypeError: fetch failed`. */
  readonly reason: string;
  /** The status of the failed attempt's response, or `undefined` when it threw. */
  readonly status: number | undefined;
  /** The error the failed attempt threw, or `undefined` when it returned a response. */
  readonly error: unknown;
  /** The failed attempt's response (its body is cancelled right after `onRetry` returns). */
  readonly response: Response | undefined;
  /** The wait the server asked for with `Retry-After`, in ms, when it set the delay. */
  readonly retryAfterMs: number | undefined;
}

/** Options of {@link withRetry}. */
export interface RetryOptions {
  /** Retries after the first attempt, so at most `retries + 1` calls. Default `5`. */
  readonly retries?: number;
  /** Backoff base: the first retry waits up to this long, in ms; each later one up to twice as long. Default `1_000`. */
  readonly baseDelayMs?: number;
  /** Backoff cap: no computed wait exceeds this, in ms. Does not apply to `Retry-After`. Default `60_000`. */
  readonly maxDelayMs?: number;
  /**
   * Longest `Retry-After` the client will wait, in ms. A longer one rejects at once with a
   * `RetryAfterTooLongError` (code `RETRY_AFTER_TOO_LONG`) instead of sleeping. Default `120_000`.
   */
  readonly maxRetryAfterMs?: number;
  /**
   * Extra random wait added on top of a `Retry-After`, from 0 up to this, in ms, so
   * clients told the same time do not all return in the same instant. Never subtracted:
   * the server's wait is a minimum. Default `500`.
   */
  readonly retryAfterJitterMs?: number;
  /**
   * Time limit for one attempt, in ms; an attempt that runs out is aborted (its `signal`
   * fires with a `TimeoutError`) and retried. `0` means no limit. Default `0`.
   */
  readonly attemptTimeoutMs?: number;
  /**
   * Cancels everything: the running attempt gets it through its context, and a wait
   * between attempts rejects at once with `signal.reason`.
   */
  readonly signal?: AbortSignal;
  /**
   * Called before each wait, for logging or metrics. Called synchronously; if it throws,
   * `withRetry` rejects with that error (a way to veto a retry).
   */
  readonly onRetry?: (info: RetryInfo) => void;
  /**
   * Overrides the built-in classification: return `true` to retry, `false` not to, or
   * `undefined` to keep the default (429, 408, every 5xx, network errors and
   * timeouts). Retries stay bounded by `retries`.
   */
  readonly shouldRetry?: (outcome: AttemptOutcome) => boolean | undefined;
  /** Clock in ms since the epoch, for HTTP-date `Retry-After` values and tests. Default `Date.now`. */
  readonly now?: () => number;
  /** Random source in [0, 1) for jitter; inject for deterministic tests. Default `Math.random`. */
  readonly random?: () => number;
  /** How to wait; inject for tests. Default: an abortable `setTimeout`. */
  readonly sleep?: Sleep;
}

/** Every option name of {@link RetryOptions}, for typo checks. */
export const RETRY_OPTION_NAMES = [
  'retries',
  'baseDelayMs',
  'maxDelayMs',
  'maxRetryAfterMs',
  'retryAfterJitterMs',
  'attemptTimeoutMs',
  'signal',
  'onRetry',
  'shouldRetry',
  'now',
  'random',
  'sleep',
] as const;

export interface ResolvedRetryOptions {
  readonly retries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly maxRetryAfterMs: number;
  readonly retryAfterJitterMs: number;
  readonly attemptTimeoutMs: number;
  readonly signal: AbortSignal | undefined;
  readonly onRetry: ((info: RetryInfo) => void) | undefined;
  readonly shouldRetry: ((outcome: AttemptOutcome) => boolean | undefined) | undefined;
  readonly now: () => number;
  readonly random: () => number;
  readonly sleep: Sleep;
}

/** Checks and completes retry options once; throws a ClientConfigError on a bad value. */
export function resolveRetryOptions(options: RetryOptions = {}, prefix = ''): ResolvedRetryOptions {
  plainOptions(options, prefix === '' ? 'options' : prefix.slice(0, -1));
  return {
    retries: nonNegativeInteger(options.retries ?? 5, `${prefix}retries`),
    baseDelayMs: positiveNumber(options.baseDelayMs ?? 1_000, `${prefix}baseDelayMs`),
    maxDelayMs: nonNegativeNumber(options.maxDelayMs ?? 60_000, `${prefix}maxDelayMs`),
    maxRetryAfterMs: nonNegativeNumber(options.maxRetryAfterMs ?? 120_000, `${prefix}maxRetryAfterMs`),
    retryAfterJitterMs: nonNegativeNumber(options.retryAfterJitterMs ?? 500, `${prefix}retryAfterJitterMs`),
    attemptTimeoutMs: nonNegativeNumber(options.attemptTimeoutMs ?? 0, `${prefix}attemptTimeoutMs`),
    signal: optionalSignal(options.signal, `${prefix}signal`),
    onRetry: optionalFunction(options.onRetry, `${prefix}onRetry`),
    shouldRetry: optionalFunction(options.shouldRetry, `${prefix}shouldRetry`),
    now: optionalFunction(options.now, `${prefix}now`) ?? Date.now,
    random: optionalFunction(options.random, `${prefix}random`) ?? Math.random,
    sleep: optionalFunction(options.sleep, `${prefix}sleep`) ?? defaultSleep,
  };
}

/**
 * Calls `fn` until it returns a response worth keeping, and returns that.
 *
 * - `fn` returns a `Response` (or anything with a numeric `status` and `headers.get`):
 *   429, 408 and every 5xx are retried; every other status, 2xx or 4xx, is
 *   returned as is, as `fetch` itself does. When retries run out, the last response is
 *   returned (check `response.ok`), so `withRetry` is a drop-in wrapper around `fetch`.
 * - `fn` returns anything else (a parsed body, a number): that counts as success and is
 *   returned. To retry on such values, throw from `fn` instead.
 * - `fn` throws: network errors and timeouts are retried, anything else is rethrown at
 *   once; when retries run out, the last error is rethrown.
 *
 * The wait before a retry is the response's `Retry-After` (seconds or HTTP-date) plus up
 * to `retryAfterJitterMs`, never less; without a valid one, full-jitter backoff. A
 * `Retry-After` above `maxRetryAfterMs` rejects with `RetryAfterTooLongError`.
 * Aborting `signal` rejects with `signal.reason`, promptly, even in the middle of a wait.
 *
 * @example
 * const response = await withRetry(({ signal }) => fetch(url, { signal }), {
 *   onRetry: ({ attempt, delayMs, reason }) => console.warn(`retry ${attempt} in ${delayMs} ms: ${reason}`),
 * });
 */
export function withRetry<T>(fn: (context: AttemptContext) => T | Promise<T>, options?: RetryOptions): Promise<T> {
  let resolved: ResolvedRetryOptions;
  try {
    if (options !== undefined && typeof options === 'object' && options !== null) {
      rejectUnknownKeys(options, RETRY_OPTION_NAMES, 'withRetry');
    }
    resolved = resolveRetryOptions(options);
  } catch (error) {
    return Promise.reject(error);
  }
  return retryLoop(fn, resolved);
}

/** The loop behind `withRetry`, for callers that resolved their options once (the client). */
export async function retryLoop<T>(
  fn: (context: AttemptContext) => T | Promise<T>,
  options: ResolvedRetryOptions,
): Promise<T> {
  const { signal } = options;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    let outcome: AttemptOutcome;
    try {
      const value = await withTimeout(
        (attemptSignal) => fn({ attempt, signal: attemptSignal }),
        options.attemptTimeoutMs,
        signal,
        options.sleep,
      );
      if (!isResponseLike(value)) return value;
      outcome = { attempt, response: value };
    } catch (error) {
      // The caller cancelled: never retry that, and report the caller's reason, not the fetch's AbortError.
      signal?.throwIfAborted();
      outcome = { attempt, error };
    }

    const { response } = outcome;
    const retryable =
      options.shouldRetry?.(outcome) ??
      (response === undefined ? isNetworkError(outcome.error) : isRetryableStatus(response.status));
    if (!retryable || attempt > options.retries) {
      if (response === undefined) throw outcome.error;
      return response as T;
    }

    const now = options.now();
    const retryAfterMs = response === undefined ? undefined : retryAfterOf(response, now);
    let delayMs: number;
    if (retryAfterMs !== undefined && response !== undefined) {
      if (retryAfterMs > options.maxRetryAfterMs) {
        throw new RetryAfterTooLongError(response, retryAfterMs, options.maxRetryAfterMs);
      }
      delayMs = retryAfterMs + Math.floor(clampUnit(options.random()) * options.retryAfterJitterMs);
    } else {
      delayMs = fullJitterDelay(attempt, options.baseDelayMs, options.maxDelayMs, options.random);
    }

    options.onRetry?.({
      attempt,
      delayMs,
      reason: response === undefined ? describeError(outcome.error) : `HTTP ${response.status}`,
      status: response?.status,
      error: outcome.error,
      response,
      retryAfterMs,
    });
    // An unread body pins its connection (undici keeps the socket until the body is consumed).
    if (response !== undefined) cancelBody(response);
    await abortable(options.sleep(delayMs, signal), signal);
  }
}

function describeError(error: unknown): string {
  // Duck-typed: errors from another realm (fetch in an iframe or a VM) fail instanceof Error.
  const { name, message, code, cause } = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    cause?: { code?: unknown } | null;
  };
  if (typeof name !== 'string' || typeof message !== 'string') return String(error);
  const errorCode = code ?? cause?.code;
  return `${name}: ${message}${typeof errorCode === 'string' ? ` (${errorCode})` : ''}`;
}

function cancelBody(response: Response): void {
  try {
    if (response.bodyUsed || response.body === null || response.body === undefined) return;
    response.body.cancel().catch(() => {});
  } catch {
    // A locked or exotic body: nothing more to free here.
  }
}
