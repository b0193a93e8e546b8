/**
 * rate-limiter-flexible rejects `consume()` with a RateLimiterRes when limited and with an
 * Error when the store fails; callers routinely confuse the two and turn a Redis outage
 * into 429s (STYLE.md). Our stores return a decision value; any rejection, whatever it
 * carries, is a store failure and is never answered with 429.
 */
import { createRateLimiter, type Store } from '@tierlimit/core';

test.each([
  ['closed', 503],
  ['local', 200],
  ['open', 200],
] as const)(
  'a store rejecting with a limiter-result-like object is a failure (%s: %i), never a 429',
  async (mode, status) => {
    const rateLimiterRes = { msBeforeNext: 1000, remainingPoints: 0, consumedPoints: 101, isFirstInDuration: false };
    const store: Store = { consume: () => Promise.reject(rateLimiterRes) };
    const limiter = createRateLimiter({
      resolveTier: () => 'free',
      store,
      storeFaults: { mode },
      onWarning: () => undefined,
    });
    const decision = await limiter.check({ ip: '198.51.100.1', headers: { 'x-api-key': 'k' } });
    expect(decision.status).toBe(status);
    expect(decision.code).toBe(mode === 'closed' ? 'SERVICE_UNAVAILABLE' : undefined);
  },
);
