/**
 * `createRateLimitedFetch`: a function with fetch's signature for any HTTP API (issue 16).
 * It is assembled from the package's parts, each doing one step:
 *
 *   retryLoop (with-retry.ts)   the retry rules: 429, 408, 5xx, network errors and
 *                               timeouts; Retry-After first, else backoff with full jitter
 *     createQueue (queue.ts)    at most `concurrency` attempts in flight
 *       createPacer (pacer.ts)  the API's rate-limit headers, and the budget's units
 *         withTimeout           the attempt's time limit, around the fetch only
 *
 * A 429 pauses the budget (every caller of it, in every process that shares it) for the
 * response's Retry-After; a timeout, a 408 or a 5xx is retried but pauses nobody: it says
 * nothing about the rate.
 */
import { createPacer } from './pacer.js';
import { createQueue } from './queue.js';
import { parseRateLimit } from './rate-limit-headers.js';
import {
  type RateLimitedFetch,
  type RateLimitedFetchOptions,
  resolveRateLimitedFetchOptions,
} from './rate-limited-fetch-options.js';
import { retryAfterOf } from './retry-after.js';
import { withTimeout } from './timeout.js';
import { retryLoop } from './with-retry.js';

/**
 * Creates a rate-limited fetch. Requests through it take `init.weight` units (default 1)
 * from the budget, wait for a free slot of `concurrency`, and are retried per the README's
 * rules; the result is what fetch gives (check `response.ok`: after the last retry the last
 * response is returned as is).
 *
 * @example
 * const cioFetch = createRateLimitedFetch({ budget: { rate: 100, perMs: 1_000 }, concurrency: 10 });
 * const response = await cioFetch('https://track.customer.io/api/v1/customers/42', { method: 'PUT', body, headers });
 */
export function createRateLimitedFetch(options: RateLimitedFetchOptions = {}): RateLimitedFetch {
  const resolved = resolveRateLimitedFetchOptions(options);
  const { budget, retry } = resolved;
  const { now, sleep } = retry;
  const queue = createQueue({ concurrency: resolved.concurrency });
  const pacer = createPacer({
    adaptive: resolved.adaptive,
    lowWatermark: resolved.lowWatermark,
    now,
    sleep,
    ...(budget === undefined ? {} : { bucket: budget }),
  });

  /** The API said it is full: nobody sends before its Retry-After (without one, the backoff base). */
  const pauseAfter = (response: Response) => {
    const time = now();
    const waitMs = Math.min(retryAfterOf(response, time) ?? retry.baseDelayMs, retry.maxRetryAfterMs);
    pacer.pauseUntil(time + waitMs);
    // A budget's pause never rejects by contract; one of your own that does must not become an unhandled rejection.
    if (budget !== undefined) Promise.resolve(budget.pauseUntil(time + waitMs)).catch(() => {});
  };

  return (input, init = {}) => {
    const { weight = 1, signal, ...requestInit } = init;
    if (!(typeof weight === 'number' && weight > 0 && Number.isFinite(weight))) {
      return Promise.reject(
        new RangeError(`Expected \`weight\` to be a finite positive number, got ${String(weight)}.`),
      );
    }
    // A Request's body can be read once: each attempt sends a copy, so a retry has one.
    const original = input instanceof Request ? input : undefined;
    // A stream body cannot be sent twice: such a request gets one attempt.
    const once = isStream(requestInit.body);
    return retryLoop(
      async ({ signal: attemptSignal }) =>
        queue.add(
          async () => {
            const permit = await pacer.acquire(weight, attemptSignal);
            try {
              const response = await withTimeout(
                (timed) => resolved.fetch(original?.clone() ?? input, { ...requestInit, signal: timed }),
                resolved.attemptTimeoutMs,
                attemptSignal,
                sleep,
              );
              permit.observe(parseRateLimit(response.headers, { now: now() }));
              if (response.status === 429) pauseAfter(response);
              else if (response.status === 503 && response.headers.has('retry-after')) {
                // Overloaded, not rate-limited: hold this function's requests, but leave the budget's pace alone.
                pacer.pauseUntil(now() + (retryAfterOf(response, now()) ?? 0));
              }
              return response;
            } finally {
              permit.release();
            }
          },
          { signal: attemptSignal },
        ),
      { ...retry, ...(once ? { retries: 0 } : {}), signal: signal ?? undefined },
    );
  };
}

function isStream(body: unknown): boolean {
  return typeof (body as { getReader?: unknown } | null | undefined)?.getReader === 'function';
}
