/**
 * Hostile API keys against the Redis store: whatever a client sends, a Redis key is the
 * documented fixed format, never contains the raw key, and always has a TTL. Keys that are
 * not printable ASCII are refused before they reach a resolver or a store.
 */

import type { ErrorBody } from '@tierlimit/core';
import { createRateLimiter, type RateLimiter } from '@tierlimit/core';
import { type RedisStore, redisStore } from '@tierlimit/redis';
import { describeWithRedis, RedisServer } from '../support/redis-server';

describeWithRedis('hostile API keys on Redis', () => {
  let redis: RedisServer;
  let store: RedisStore;
  let limiter: RateLimiter;

  beforeAll(async () => {
    redis = await RedisServer.start();
    store = redisStore({ url: redis.url });
    expect(await store.ready(5_000)).toBe(true);
    limiter = createRateLimiter({ resolveTier: () => 'free', store, maxApiKeyLength: 8_192 });
  });

  afterAll(async () => {
    await limiter.close();
    await redis.stop();
  });

  const check = (key: string) =>
    limiter.check({ ip: '198.51.100.1', headers: { 'x-api-key': key } }, { policy: 'events' });

  test('printable hostile keys are hashed into fixed-length keys', async () => {
    const hostile = ['*', '{}', '{tag}', 'a:b:c', '}{', '"quoted"', 'back\\slash', 'tl:1:{x}:api', 'k'.repeat(8_192)];
    for (const key of hostile) expect((await check(key)).status).toBe(200);
    const keys = (redis.cli('--scan') ?? '').split('\n').filter(Boolean);
    expect(keys).toHaveLength(hostile.length + 1);
    for (const key of keys) {
      expect(key).toMatch(/^tl:1:\{(h[A-Za-z0-9_-]{22}|i198\.51\.100\.1)\}:(events|ip)$/);
      // Every key has a TTL (-1 would mean none); a bucket refilled by now is already gone (-2).
      expect(Number(redis.cli('PTTL', key))).not.toBe(-1);
      for (const raw of hostile.slice(3)) expect(key).not.toContain(raw);
    }
  });

  test.each([
    ['CR/LF', 'line\r\nbreak'],
    ['NUL', 'nul\u0000byte'],
    ['emoji', 'emoji-🙂'],
    ['a space', 'has space'],
    ['too long', 'x'.repeat(8_193)],
  ])('a key with %s is a 400 and writes nothing but the address counts', async (_label, key) => {
    const scan = () => new Set((redis.cli('--scan') ?? '').split('\n').filter(Boolean));
    const before = scan();
    const decision = await check(key);
    expect(decision.status).toBe(400);
    expect((decision.body as ErrorBody | undefined)?.error.code).toBe('INVALID_API_KEY');
    const added = [...scan()].filter((k) => !before.has(k));
    // Only the client address's own counts: requests, and unknown or malformed keys.
    expect(added.every((k) => k === 'tl:1:{i198.51.100.1}:ip' || k === 'tl:1:{i198.51.100.1}:unknown-keys')).toBe(true);
  });
});
