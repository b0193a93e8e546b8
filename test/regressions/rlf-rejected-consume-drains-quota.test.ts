/**
 * rate-limiter-flexible 11.4: a rejected `consume()` still adds its points, so an oversized
 * batch (or a client hammering after its limit) drains the quota for later requests
 * (SPEC section 6). Here a refused request charges nothing, and a cost above capacity is a
 * 413 that never touches the bucket.
 */
import { createRateLimiter } from '@tierlimit/core';
import { ManualClock } from '../support/clock';

test('an oversized batch and repeated denied requests leave the bucket untouched', async () => {
  const clock = new ManualClock();
  const limiter = createRateLimiter({ resolveTier: () => 'free', now: clock.now });
  const facts = { ip: '198.51.100.1', headers: { 'x-api-key': 'k' } };

  const oversized = await limiter.check(facts, { policy: 'events', cost: 51 });
  expect(oversized.status).toBe(413);
  expect(oversized.headers['Retry-After']).toBeUndefined();

  expect((await limiter.check(facts, { policy: 'events', cost: 40 })).allowed).toBe(true);
  for (let i = 0; i < 20; i++) expect((await limiter.check(facts, { policy: 'events', cost: 20 })).status).toBe(429);
  const after = await limiter.check(facts, { policy: 'events', cost: 10 });
  expect(after.allowed).toBe(true);
  expect(after.remaining).toBe(0);
});
