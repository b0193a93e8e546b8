/**
 * Connection caps across instances sharing one Redis: the cap holds in total, a crashed
 * instance's leases lapse after the TTL (its process is killed with SIGKILL, so nothing
 * is released), releasing twice never frees a phantom slot, and Redis down at upgrade is
 * answered per `onStoreFailure`. Time is Redis's own here.
 */
import { createRateLimiter, type RateLimiter, storageKey } from '@tierlimit/core';
import { type RedisStore, redisStore } from '@tierlimit/redis';
import type { WebSocketGuardOptions } from '@tierlimit/ws';
import type { WebSocket } from 'ws';
import { describeWithRedis, RedisServer } from '../support/redis-server';
import { closeAll, connect, type GuardServer, open, refused, sleep, startFixture, startGuardServer } from './helpers';

interface Instance {
  readonly server: GuardServer;
  readonly limiter: RateLimiter;
  readonly store: RedisStore;
  close(): Promise<void>;
}

async function instance(url: string, options: Partial<WebSocketGuardOptions> = {}): Promise<Instance> {
  const store = redisStore({ url, onWarning: () => undefined });
  await store.ready(5_000);
  const limiter = createRateLimiter({
    resolveTier: (key) => (key.startsWith('key-free') ? 'free' : null),
    store,
    onWarning: () => undefined,
  });
  const server = await startGuardServer({ limiter, onWarning: () => undefined, ...options });
  return {
    server,
    limiter,
    store,
    async close() {
      await server.close();
      await limiter.close();
    },
  };
}

describeWithRedis('connection leases on Redis', () => {
  let redis: RedisServer;
  const cleanup: Array<() => Promise<void> | void> = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
  }, 30_000);

  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
    redis.cli('FLUSHALL');
  });

  afterAll(() => redis?.stop());

  test('the cap holds across instances: 6 + 4 connections, then the 11th is refused on either', async () => {
    const a = await instance(redis.url);
    const b = await instance(redis.url);
    cleanup.push(
      () => a.close(),
      () => b.close(),
    );
    const clients: WebSocket[] = [];
    cleanup.push(() => closeAll(clients));
    for (let i = 0; i < 6; i++) clients.push(await open(a.server.url, 'key-free'));
    for (let i = 0; i < 4; i++) clients.push(await open(b.server.url, 'key-free'));
    expect((await refused(a.server.url, 'key-free')).status).toBe(429);
    expect((await refused(b.server.url, 'key-free')).status).toBe(429);
    const identity = a.server.accepted[0]?.identity as string;
    expect(await a.store.countLeases(storageKey('connections', identity))).toBe(10);

    // A slot freed on A is taken on B.
    await closeAll(clients.splice(0, 1));
    let admitted: WebSocket | undefined;
    for (let attempt = 0; attempt < 50 && admitted === undefined; attempt++) {
      const result = await connect(b.server.url, 'key-free');
      if (result.ok) admitted = result.ws;
      else await sleep(20);
    }
    expect(admitted).toBeDefined();
    clients.push(admitted as WebSocket);
  });

  test("a killed instance's leases lapse after the TTL; then another instance takes the slots", async () => {
    const ttl = 3_000;
    // Its own process, so it can be killed like a crash.
    const crashed = await startFixture('lease-server', { REDIS_URL: redis.url, LEASE_TTL_MS: String(ttl) });
    cleanup.push(() => {
      crashed.child.kill('SIGKILL');
    });
    const survivor = await instance(redis.url, { connections: { leaseTtlMs: ttl } });
    cleanup.push(() => survivor.close());
    const clients: WebSocket[] = [];
    cleanup.push(() => closeAll(clients));

    const held = await Promise.all(Array.from({ length: 10 }, () => open(crashed.url, 'key-free')));
    expect((await refused(survivor.server.url, 'key-free')).status).toBe(429);

    const gone = Promise.all(held.map((ws) => new Promise((resolve) => ws.once('close', resolve))));
    const exited = new Promise((resolve) => crashed.child.once('exit', resolve));
    crashed.child.kill('SIGKILL');
    const killedAt = Date.now();
    await exited;
    await gone;
    // Nothing was released: the slots stay taken until the leases lapse (renewed at most a
    // heartbeat, TTL/3, before the kill). Only asserted while that is surely so.
    const early = await connect(survivor.server.url, 'key-free');
    if (early.ok) clients.push(early.ws);
    if (Date.now() - killedAt < ttl / 3) expect(early.ok).toBe(false);

    // Within the TTL (plus slack for a loaded machine), all ten slots are free again.
    const deadline = killedAt + ttl + 5_000;
    while (clients.length < 10 && Date.now() < deadline) {
      const result = await connect(survivor.server.url, 'key-free');
      if (result.ok) clients.push(result.ws);
      else await sleep(100);
    }
    expect(clients).toHaveLength(10);
    expect(Date.now() - killedAt).toBeGreaterThan(ttl / 3);
    expect((await refused(survivor.server.url, 'key-free')).status).toBe(429);
  }, 30_000);

  test('release is idempotent on Redis: the count never goes negative', async () => {
    const store = redisStore({ url: redis.url });
    cleanup.push(() => store.close());
    await store.ready(5_000);
    const key = storageKey('connections', 'htest');
    const lease = (await store.acquireLease(key, 2, 10_000)) as string;
    expect(await store.releaseLease(key, lease)).toBe(true);
    expect(await store.releaseLease(key, lease)).toBe(false);
    expect(await store.countLeases(key)).toBe(0);
    expect(await store.acquireLease(key, 2, 10_000)).toEqual(expect.any(String));
    expect(await store.acquireLease(key, 2, 10_000)).toEqual(expect.any(String));
    expect(await store.acquireLease(key, 2, 10_000)).toBeUndefined();
    expect(await store.countLeases(key)).toBe(2);
  });

  test('connections through the guard leave no lease behind, and the lease set expires', async () => {
    const a = await instance(redis.url, { connections: { leaseTtlMs: 1_500 } });
    cleanup.push(() => a.close());
    const clients = await Promise.all(Array.from({ length: 3 }, () => open(a.server.url, 'key-free')));
    const key = storageKey('connections', a.server.accepted[0]?.identity as string);
    expect(await a.store.countLeases(key)).toBe(3);
    expect(Number(redis.cli('PTTL', a.store.keyFor(key)))).toBeGreaterThan(0);
    await closeAll(clients);
    await a.server.guard.close();
    for (let i = 0; i < 50 && (await a.store.countLeases(key)) > 0; i++) await sleep(20);
    expect(await a.store.countLeases(key)).toBe(0);
  });

  test('Redis down at upgrade: local mode admits at once; closed mode answers 503', async () => {
    const lost = await RedisServer.start();
    const local = await instance(lost.url);
    const closed = await instance(lost.url, { connections: { onStoreFailure: 'closed' } });
    cleanup.push(
      () => local.close(),
      () => closed.close(),
      () => lost.stop(),
    );
    await lost.kill();
    const started = Date.now();
    const ws = await open(local.server.url, 'key-free');
    cleanup.push(() => closeAll([ws]));
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(local.server.accepted[0]?.leaseHolding).toBe('local');
    const response = await refused(closed.server.url, 'key-free');
    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('5');
  });
});
