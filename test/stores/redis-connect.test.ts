/**
 * Issue 13: waiting for the connection at startup. With the offline queue off (the
 * recommended settings), a process that received requests before its Redis connection
 * was ready failed them at once and answered them from the limiter's local fallback: a
 * fresh instance with a limit of 3 admitted 4. Decisions asked for while the client
 * connects now wait for `ready` and are then sent; the wait is bounded (a failed
 * connection attempt, the limiter's timeout, the connect timeout, a cap on its length).
 */
import { createRateLimiter, type Decision, type StoreCheck } from '@tierlimit/core';
import { RedisStore, recommendedRedisOptions, redisStore } from '@tierlimit/redis';
import { Redis } from 'ioredis';
import { describeWithRedis, RedisServer } from '../support/redis-server';

const window = (key: string, limit = 5): StoreCheck => ({
  key,
  algorithm: 'fixed-window',
  limit,
  windowMs: 60_000,
  capacity: limit,
  cost: 1,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How a promise settled: 'ok', or the rejection's class name and message. */
const outcome = (promise: Promise<unknown>): Promise<string> =>
  promise.then(
    () => 'ok',
    (error: Error) => `${error.name}: ${error.message}`,
  );

describeWithRedis('waiting for the Redis connection', () => {
  let redis: RedisServer;
  const cleanup: Array<() => unknown> = [];

  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
    redis.resume();
    await redis.stop();
  });

  test('a fresh instance admits exactly its limit from its very first requests (limit 3: 3 of 4)', async () => {
    redis = await RedisServer.start();
    const store = redisStore({ url: redis.url, onWarning: () => undefined });
    const limiter = createRateLimiter({
      resolveTier: () => 'free',
      store,
      tiers: { free: { api: { limit: 3, windowMs: 60_000 } } },
      ip: false,
      // Room for a slow connect on a loaded machine: the wait is what is tested, not its speed.
      storeFaults: { timeoutMs: 2_000 },
      onWarning: () => undefined,
    });
    cleanup.push(() => limiter.close());
    expect(store.client.status).not.toBe('ready');
    const ask = () => limiter.check({ ip: '198.51.100.1', headers: { 'x-api-key': 'key-fresh' } });
    const first: Decision[] = await Promise.all([ask(), ask()]);
    const later: Decision[] = [await ask(), await ask()];
    const decisions = [...first, ...later];
    expect(decisions.map((d) => d.status)).toEqual([200, 200, 200, 429]);
    expect(decisions.map((d) => d.degraded)).toEqual([undefined, undefined, undefined, undefined]);
  });

  test('a decision asked for while connecting is sent once ready, and only then reported as sent', async () => {
    redis = await RedisServer.start();
    const store = redisStore({ url: redis.url, onWarning: () => undefined });
    cleanup.push(() => store.close());
    const statusWhenSent: string[] = [];
    const result = await store.consume([window('api:hw')], {
      timeoutMs: 5_000,
      sent: () => statusWhenSent.push(store.client.status),
    });
    expect(result).toMatchObject({ allowed: true, states: [{ allowed: true, remaining: 4 }] });
    expect(statusWhenSent).toEqual(['ready']);
  });

  test('a lazyConnect client is connected by the first decision', async () => {
    redis = await RedisServer.start();
    const client = new Redis(redis.url, { ...recommendedRedisOptions(), lazyConnect: true });
    cleanup.push(() => client.disconnect());
    const store = new RedisStore({ client });
    expect(client.status).toBe('wait');
    expect((await store.consume([window('api:hl')])).allowed).toBe(true);
  });

  test('a connection attempt that fails fails the waiting decisions at once, not at the connect timeout', async () => {
    redis = await RedisServer.reserve();
    const store = redisStore({ url: redis.url, onWarning: () => undefined });
    cleanup.push(() => store.close());
    const started = performance.now();
    expect(await outcome(store.consume([window('api:hd')]))).toMatch(
      /^StoreError: the Redis connection attempt failed/,
    );
    // The recommended connectTimeout is 2 s; a refused connection is known much sooner.
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  test("a decision that waits longer than the limiter's timeout fails and is never sent", async () => {
    redis = await RedisServer.start();
    // Paused: the TCP connection is accepted by the kernel, but Redis never answers the
    // ready check, so the client stays connecting.
    redis.pause();
    const store = redisStore({ url: redis.url, onWarning: () => undefined });
    cleanup.push(() => store.close());
    const started = performance.now();
    const waited = await outcome(store.consume([window('api:hp')], { timeoutMs: 150 }));
    const elapsed = performance.now() - started;
    expect(waited).toMatch(/^StoreError: waited \d+ ms for the Redis connection to become ready; not sent/);
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(900);
    redis.resume();
    expect(await store.ready(5_000)).toBe(true);
    await sleep(50);
    expect(redis.cli('EXISTS', 'tl:1:{hp}:api')).toBe('0');
  });

  test('the wait is bounded in length, and close() fails what still waits', async () => {
    redis = await RedisServer.start();
    redis.pause();
    const store = redisStore({ url: redis.url, onWarning: () => undefined });
    const results = Array.from({ length: 10_001 }, (_, i) => outcome(store.consume([window(`api:hq${i}`)])));
    // The 10,001st does not fit and fails at once; the others are still waiting.
    expect(await results[10_000]).toMatch(/^StoreError: 10000 decisions are already waiting/);
    const pending = await Promise.race([results[0], sleep(50).then(() => 'waiting')]);
    expect(pending).toBe('waiting');
    await store.close();
    const settled = await Promise.all(results.slice(0, 10_000));
    expect(new Set(settled)).toEqual(
      new Set(['StoreError: the Redis store was closed before its connection was ready; not sent']),
    );
  });
});
