/**
 * rate-limiter-flexible's memory limiter expires keys with a timer, and a window above
 * 2^31-1 ms (about 24.8 days) overflows setTimeout and resets at once (SPEC section 6).
 * Ours keeps no timer per key, so a 30-day window keeps counting.
 */

import type { ErrorBody } from '@tierlimit/core';
import { createRateLimiter } from '@tierlimit/core';
import { ManualClock } from '../support/clock';

test('a 30-day window keeps counting across days', async () => {
  const clock = new ManualClock();
  const limiter = createRateLimiter({
    resolveTier: () => 'free',
    now: clock.now,
    tiers: { free: { api: { limit: 2, windowMs: 30 * 86_400_000 } } },
  });
  const facts = { ip: '198.51.100.1', headers: { 'x-api-key': 'k' } };
  await limiter.check(facts);
  await limiter.check(facts);
  clock.advance(86_400_000);
  const denied = await limiter.check(facts);
  expect(denied.status).toBe(429);
  expect(denied.headers['Retry-After']).toBe(String(29 * 86_400));
  expect((denied.body as ErrorBody | undefined)?.error.details?.window).toBe('30 days');
});
