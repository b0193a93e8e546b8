/**
 * rate-limiter-flexible's RateLimiterUnion consumes from every limiter and never rolls
 * back, so a request denied by the per-key limit still spends the per-IP quota and the
 * other way round (SPEC section 6). Here all policies of a request are decided together.
 */
import { createRateLimiter } from '@tierlimit/core';
import { ManualClock } from '../support/clock';

test('a request denied by the key policy spends nothing from the IP policy, and vice versa', async () => {
  const clock = new ManualClock();
  const limiter = createRateLimiter({
    resolveTier: () => 'free',
    now: clock.now,
    ip: { limit: 10, windowMs: 60_000 },
    tiers: { free: { api: { limit: 2, windowMs: 60_000 } } },
  });
  const as = (key: string) => ({ ip: '198.51.100.1', headers: { 'x-api-key': key } });

  await limiter.check(as('a'));
  await limiter.check(as('a'));
  for (let i = 0; i < 5; i++) expect((await limiter.check(as('a'))).policy?.policy).toBe('api');
  // The five denied requests did not count against the IP: 8 of 10 left.
  const other = await limiter.check(as('b'));
  expect(other.policies.find((p) => p.policy === 'ip')?.remaining).toBe(7);
});
