/**
 * Redis misbehaving under a running limiter: paused (SIGSTOP), killed and restarted,
 * absent at boot, script cache flushed. Real redis-server on loopback; Redis's own clock.
 * Every request must be answered within about twice the store timeout, per the configured
 * fault mode, never with a 429 caused by the fault, and limits must be exact again soon
 * after Redis returns, without a restart and without unhandled rejections.
 */
import { createRateLimiter, type Decision, type FaultMode, type RateLimiter } from '@tierlimit/core';
import { type RedisStore, redisStore } from '@tierlimit/redis';
import { describeWithRedis, RedisServer } from '../support/redis-server';

const TIMEOUT_MS = 50;
/** "About twice the timeout", with room for a loaded 2-core machine. */
const LATENCY_BOUND_MS = 250;

const facts = (key: string) => ({ ip: '198.51.100.1', headers: { 'x-api-key': key } });

describeWithRedis('Redis faults', () => {
  let redis: RedisServer;
  let store: RedisStore;
  let limiter: RateLimiter;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(() => process.on('unhandledRejection', onUnhandled));
  afterAll(() => process.off('unhandledRejection', onUnhandled));

  async function start(mode: FaultMode, boot: 'up' | 'down' = 'up') {
    redis = boot === 'up' ? await RedisServer.start() : await RedisServer.reserve();
    store = redisStore({ url: redis.url, onWarning: () => undefined });
    if (boot === 'up') expect(await store.ready(5_000)).toBe(true);
    limiter = createRateLimiter({
      resolveTier: () => 'free',
      store,
      tiers: { free: { api: { limit: 5, windowMs: 60_000 } } },
      ip: false,
      storeFaults: { mode, timeoutMs: TIMEOUT_MS, failureThreshold: 3, cooldownMs: 200 },
      onWarning: () => undefined,
    });
  }

  afterEach(async () => {
    await limiter?.close();
    await redis?.stop();
    expect(unhandled).toEqual([]);
  });

  /** One request, timed. */
  async function timed(key: string): Promise<{ decision: Decision; ms: number }> {
    const started = performance.now();
    const decision = await limiter.check(facts(key));
    return { decision, ms: performance.now() - started };
  }

  /** Requests until one is answered by Redis again (not degraded); bounded. */
  async function untilRecovered(key: string): Promise<Decision> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const { decision } = await timed(key);
      if (decision.degraded === undefined && decision.status !== 503) return decision;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error('the limiter did not recover within 10 s of Redis returning');
  }

  /** Once recovered, a fresh key gets exactly its limit again. */
  async function expectExact(key: string) {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await limiter.check(facts(key))).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
  }

  test.each(['local', 'open', 'closed'] as const)('paused (SIGSTOP) and resumed, mode %s', async (mode) => {
    await start(mode);
    expect((await timed('warm')).decision.status).toBe(200);
    redis.pause();
    const during: Array<{ decision: Decision; ms: number }> = [];
    for (let i = 0; i < 20; i++) during.push(await timed(`paused-${i}`));
    for (const { decision, ms } of during) {
      expect(ms).toBeLessThan(LATENCY_BOUND_MS);
      expect(decision.status).not.toBe(429);
      if (mode === 'closed') expect(decision.status).toBe(503);
      else expect(decision).toMatchObject({ allowed: true, degraded: mode });
    }
    // Memory stays flat while Redis is away: nothing queued offline, and the circuit
    // stops sending, so at most a few commands wait for the paused server.
    const client = store.client as unknown as { offlineQueue: { length: number }; commandQueue: { length: number } };
    expect(client.offlineQueue.length).toBe(0);
    expect(client.commandQueue.length).toBeLessThanOrEqual(10);
    redis.resume();
    await untilRecovered('after-pause');
    await expectExact('exact-after-pause');
  });

  test('killed and restarted: served locally meanwhile, exact again without an app restart', async () => {
    await start('local');
    await expectExact('before-kill');
    await redis.kill();
    for (let i = 0; i < 10; i++) {
      const { decision, ms } = await timed(`while-dead-${i}`);
      expect(ms).toBeLessThan(LATENCY_BOUND_MS);
      expect(decision).toMatchObject({ allowed: true, degraded: 'local' });
    }
    await redis.restart();
    await untilRecovered('after-restart');
    await expectExact('exact-after-restart');
  });

  test('absent at boot: the limiter works (local) and becomes exact once Redis appears', async () => {
    await start('local', 'down');
    for (let i = 0; i < 5; i++) {
      const { decision, ms } = await timed('boot');
      expect(ms).toBeLessThan(LATENCY_BOUND_MS);
      expect(decision).toMatchObject({ allowed: true, degraded: 'local' });
    }
    await redis.restart();
    await untilRecovered('boot-recovered');
    await expectExact('exact-after-boot');
  });

  test('script cache flushed (or Redis restarted empty): the script reloads itself', async () => {
    await start('closed');
    await expectExact('before-flush');
    expect(redis.cli('SCRIPT', 'FLUSH')).toBe('OK');
    const after = await timed('after-flush');
    expect(after.decision.status).toBe(200);
    expect(after.decision.degraded).toBeUndefined();
    await expectExact('exact-after-flush');
  });

  test('a fault never turns into a 429 for a client under its limit (local mode)', async () => {
    await start('local');
    await limiter.check(facts('steady'));
    await redis.kill();
    // 4 more requests: under the limit of 5 both in Redis and locally.
    for (let i = 0; i < 4; i++) expect((await limiter.check(facts('steady'))).status).toBe(200);
  });
});
