/**
 * The Redis store sends the decisions asked for in one turn of the event loop as one
 * script call. Each must still be decided exactly as if it had been sent alone: in order,
 * all-or-nothing per request, never more admitted than the limit.
 */

import { createRateLimiter, type Decision, type RateLimiter } from '@tierlimit/core';
import { createRedisClient, type RedisStore, redisStore } from '@tierlimit/redis';
import type { Redis } from 'ioredis';
import { describeWithRedis, RedisServer } from '../support/redis-server';

describeWithRedis('decisions batched into one script call', () => {
  let redis: RedisServer;
  let client: Redis;
  let store: RedisStore;
  let limiter: RateLimiter;
  let sent = 0;

  beforeAll(async () => {
    redis = await RedisServer.start();
    client = createRedisClient(redis.url);
    const send = client.sendCommand.bind(client);
    // Script calls only (a new key's tier lookup also reads its override, once).
    client.sendCommand = ((...args: Parameters<Redis['sendCommand']>) => {
      if (/^eval/i.test(args[0].name)) sent++;
      return send(...args);
    }) as Redis['sendCommand'];
    store = redisStore({ client });
    expect(await store.ready(5_000)).toBe(true);
    limiter = createRateLimiter({
      resolveTier: () => 'free',
      store,
      tiers: {
        free: { api: { limit: 50, windowMs: 60_000 }, events: { limit: 10, windowMs: 1_000, burst: 30 } },
      },
      ip: { limit: 80, windowMs: 60_000 },
    });
    // Let the scripts load, so the counts below are the decisions' own commands.
    await limiter.check({ ip: '192.0.2.250', headers: { 'x-api-key': 'warm-up' } });
  });

  afterAll(async () => {
    await limiter.close();
    await store.close();
    client.disconnect();
    await redis.stop();
  });

  test('200 requests asked for at once: one script call each 128, exactly the limit admitted', async () => {
    sent = 0;
    const decisions = await Promise.all(
      Array.from({ length: 200 }, () => limiter.check({ ip: '192.0.2.1', headers: { 'x-api-key': 'key-a' } })),
    );
    expect(sent).toBe(2);
    const allowed = decisions.filter((d) => d.status === 200);
    expect(allowed).toHaveLength(50);
    // Decided in the order asked: the first 50 were admitted, with remaining counting down.
    expect(decisions.slice(0, 50).map((d) => d.status)).toEqual(new Array(50).fill(200));
    expect(decisions.slice(0, 50).map((d) => d.headers['X-RateLimit-Remaining'])).toEqual(
      Array.from({ length: 50 }, (_, i) => String(49 - i)),
    );
    expect(decisions.slice(50).every((d) => d.status === 429)).toBe(true);
    // All-or-nothing per request: the 150 denied by the key's limit took nothing from the IP's 80.
    const ipState = redis.cli('GET', 'tl:1:{i192.0.2.1}:ip') ?? '';
    expect(ipState.split(' ')[0]).toBe('50');
  });

  test('requests of different keys and costs in one batch are each decided on their own', async () => {
    // Resolve the keys' tiers first (a new key's override is read from Redis, on its own).
    for (const key of ['key-b', 'key-c', 'key-d'])
      await limiter.check({ ip: '192.0.2.2', headers: { 'x-api-key': key } });
    sent = 0;
    const ask = async (key: string, cost: number): Promise<Decision> =>
      limiter.check({ ip: '192.0.2.2', headers: { 'x-api-key': key } }, { policy: 'events', cost });
    const decisions = await Promise.all([ask('key-b', 30), ask('key-c', 31), ask('key-b', 1), ask('key-d', 20)]);
    expect(sent).toBe(1);
    expect(decisions.map((d) => d.status)).toEqual([200, 413, 429, 200]);
    expect(decisions[0]?.headers['X-RateLimit-Remaining']).toBe('0');
    expect(decisions[3]?.headers['X-RateLimit-Remaining']).toBe('10');
  });

  test('new limits reach Redis at once: the store caches each check, and new limits make new checks', async () => {
    const live = createRateLimiter({
      resolveTier: () => 'free',
      store,
      tiers: { free: { api: { limit: 50, windowMs: 60_000 } } },
      ip: false,
    });
    const ask = () => live.check({ ip: '192.0.2.5', headers: { 'x-api-key': 'key-g' } });
    for (let i = 0; i < 3; i++) await ask();
    expect((await ask()).headers['X-RateLimit-Remaining']).toBe('46');
    live.setTiers({ free: { api: { limit: 6, windowMs: 60_000 } } });
    const lowered = await ask();
    expect(lowered.headers['X-RateLimit-Limit']).toBe('6');
    expect(lowered.headers['X-RateLimit-Remaining']).toBe('1');
    expect((await ask()).status).toBe(200);
    expect((await ask()).status).toBe(429);
    await live.setOverride({ apiKey: 'key-g' }, { limits: { api: { limit: 8 } } });
    const raised = await ask();
    expect(raised.headers['X-RateLimit-Limit']).toBe('8');
    expect(raised.headers['X-RateLimit-Remaining']).toBe('1');
    await live.close();
  });

  test("a client with ioredis's stringNumbers (integer replies as strings) gets the same decisions", async () => {
    const other = createRedisClient(redis.url, { stringNumbers: true });
    const texts = redisStore({ client: other });
    expect(await texts.ready(5_000)).toBe(true);
    const limiter = createRateLimiter({
      resolveTier: () => 'free',
      store: texts,
      tiers: { free: { api: { limit: 2, windowMs: 60_000 } } },
      ip: false,
    });
    const ask = () => limiter.check({ ip: '192.0.2.6', headers: { 'x-api-key': 'key-h' } });
    const first = await ask();
    expect(first.status).toBe(200);
    expect(first.headers['X-RateLimit-Remaining']).toBe('1');
    expect((await ask()).status).toBe(200);
    const refused = await ask();
    expect(refused.status).toBe(429);
    expect(refused.headers['Retry-After']).toMatch(/^[1-9][0-9]*$/);
    await limiter.close();
    other.disconnect();
  });

  test('a reply of the wrong shape fails each decision of its batch with a StoreError, never a wrong answer', async () => {
    const other = createRedisClient(redis.url);
    const odd = redisStore({ client: other });
    expect(await odd.ready(5_000)).toBe(true);
    // The time, then one decision of two checks: fewer fields than the batch asked for, so
    // the offsets of every decision would be off.
    (other as unknown as { tierlimitConsume: () => Promise<unknown> }).tierlimitConsume = async () => [
      1_800_000_000_000, 1, 1, 49, 60_000, 0, 1, 79, 60_000, 0,
    ];
    const failing = createRateLimiter({ resolveTier: () => 'free', store: odd, storeFaults: { mode: 'closed' } });
    const errors: unknown[] = [];
    failing.on('storeError', (error) => errors.push(error));
    const decisions = await Promise.all(
      Array.from({ length: 3 }, () => failing.check({ ip: '192.0.2.4', headers: { 'x-api-key': 'key-f' } })),
    );
    expect(decisions.map((d) => d.status)).toEqual([503, 503, 503]);
    expect(errors.length).toBeGreaterThan(0);
    expect(String(errors[0])).toMatch(/unexpected reply from the tierlimit script/);
    await failing.close();
    other.disconnect();
  });

  test('a batch that fails fails each of its decisions, and the store answers again after', async () => {
    const failing = createRateLimiter({
      resolveTier: () => 'free',
      store,
      storeFaults: { mode: 'closed', failureThreshold: 1_000 },
    });
    client.disconnect();
    const refused = await Promise.all(
      Array.from({ length: 5 }, () => failing.check({ ip: '192.0.2.3', headers: { 'x-api-key': 'key-e' } })),
    );
    expect(refused.map((d) => d.status)).toEqual([503, 503, 503, 503, 503]);
    if (client.status !== 'end') await new Promise((resolve) => client.once('end', resolve));
    await client.connect();
    expect(await store.ready(5_000)).toBe(true);
    const served = await failing.check({ ip: '192.0.2.3', headers: { 'x-api-key': 'key-e' } });
    expect(served.status).toBe(200);
    await failing.close();
  });
});
