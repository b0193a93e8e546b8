/**
 * Redis decides with its own clock; the headers must say the same (issue 13). With the
 * application's clock an hour behind, X-RateLimit-Reset used to be an hour early: the
 * limiter added Redis's relative reset to its own time. It now takes the time the store
 * decided with (ConsumeResult.now).
 */
import { createRateLimiter } from '@tierlimit/core';
import { type RedisStore, redisStore } from '@tierlimit/redis';
import { describeWithRedis, RedisServer } from '../support/redis-server';

describeWithRedis('reset times on Redis', () => {
  let redis: RedisServer;
  let store: RedisStore;

  beforeAll(async () => {
    redis = await RedisServer.start();
    store = redisStore({ url: redis.url, onWarning: () => undefined });
    expect(await store.ready(5_000)).toBe(true);
  });

  afterAll(async () => {
    await store.close();
    await redis.stop();
  });

  test('X-RateLimit-Reset and resetAt follow Redis time, not a skewed application clock', async () => {
    const skewMs = 3_600_000;
    const limiter = createRateLimiter({
      resolveTier: () => 'free',
      tiers: { free: { api: { limit: 10, windowMs: 60_000 } } },
      ip: false,
      store,
      now: () => Date.now() - skewMs,
    });
    const before = Date.now();
    const decision = await limiter.check({ ip: '198.51.100.1', headers: { 'x-api-key': 'k' } });
    const after = Date.now();
    // A fresh window ends 60 s after Redis decided, in Redis (here: real) time.
    expect(decision.resetAt).toBeGreaterThanOrEqual(before + 60_000 - 1);
    expect(decision.resetAt).toBeLessThanOrEqual(after + 60_000 + 1);
    expect(Number(decision.headers['X-RateLimit-Reset'])).toBe(Math.ceil(decision.resetAt / 1_000));
  });
});
