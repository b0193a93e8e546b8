/**
 * flexibleStore: request-window policies kept by rate-limiter-flexible limiters, on its
 * memory limiter and on real PostgreSQL and MariaDB servers.
 */
import {
  ConfigurationError,
  createRateLimiter,
  type FlexibleLimiter,
  flexibleStore,
  type RateLimiterOptions,
  type Store,
} from '@tierlimit/core';
import type mysql from 'mysql2';
import type pg from 'pg';
import { RateLimiterMemory, RateLimiterMySQL, RateLimiterPostgres } from 'rate-limiter-flexible';
import { mariadbPool, postgresPool } from '../support/databases';

const facts = (key: string, ip = '198.51.100.1') => ({ ip, headers: { 'x-api-key': key } });

function limiterOn(store: Store, extra: RateLimiterOptions = {}) {
  return createRateLimiter({
    resolveTier: () => 'free',
    store,
    tiers: { free: { api: { limit: 3, windowMs: 60_000 } } },
    ip: { limit: 5, windowMs: 60_000 },
    onWarning: () => undefined,
    ...extra,
  });
}

describe('flexibleStore on RateLimiterMemory', () => {
  const memory = () => flexibleStore({ create: ({ points, duration }) => new RateLimiterMemory({ points, duration }) });

  test('admits exactly the limit and reports headers from rate-limiter-flexible', async () => {
    const limiter = limiterOn(memory());
    for (let i = 2; i >= 0; i--) expect((await limiter.check(facts('a'))).remaining).toBe(i);
    const denied = await limiter.check(facts('a'));
    expect(denied.status).toBe(429);
    expect(denied.policy?.policy).toBe('api');
    expect(Number(denied.headers['Retry-After'])).toBeGreaterThan(50);
  });

  test('denied requests are rewarded back: they drain neither the key nor the IP', async () => {
    const limiter = limiterOn(memory());
    for (let i = 0; i < 3; i++) await limiter.check(facts('a'));
    for (let i = 0; i < 5; i++) expect((await limiter.check(facts('a'))).status).toBe(429);
    // Three requests charged the IP; the five denied ones gave theirs back: 2 of 5 left.
    const other = await limiter.check(facts('b'));
    expect(other.allowed).toBe(true);
    expect(other.policies.find((p) => p.policy === 'ip')?.remaining).toBe(1);
  });

  test('a peek reads without charging, and refund() gives a charge back within its window (issue 13)', async () => {
    const store = memory();
    const check = {
      key: 'api:hk',
      algorithm: 'fixed-window',
      limit: 2,
      windowMs: 60_000,
      capacity: 2,
      cost: 1,
    } as const;
    const peeked = await store.consume([check], { peek: true });
    expect(peeked).toMatchObject({ allowed: true, states: [{ allowed: true, remaining: 2 }] });
    const charged = await store.consume([check]);
    expect(charged.states[0]?.remaining).toBe(1);
    await store.refund?.([check], charged);
    expect((await store.consume([check])).states[0]?.remaining).toBe(1);
    await store.consume([check]);
    expect((await store.consume([check], { peek: true })).allowed).toBe(false);
  });

  test('a store failure (an Error) is never a 429', async () => {
    const broken: FlexibleLimiter = {
      consume: () => Promise.reject(new Error('connection refused')),
      reward: () => Promise.resolve(),
      get: () => Promise.resolve(null),
    };
    const limiter = limiterOn(flexibleStore({ create: () => broken }), { storeFaults: { mode: 'closed' } });
    expect((await limiter.check(facts('a'))).status).toBe(503);
  });

  test('token buckets and fractional-second windows are refused when the limiter is built', () => {
    expect(() => createRateLimiter({ resolveTier: () => 'free', store: memory() })).toThrow(
      new ConfigurationError(
        '`tiers.free.events` cannot be kept by the configured store: rate-limiter-flexible has no token bucket; remove `burst` or use the memory or Redis store for this policy.',
      ),
    );
    expect(() => limiterOn(memory(), { ip: { limit: 5, windowMs: 1_500 } })).toThrow(
      /`ip` cannot be kept .* whole seconds/,
    );
  });
});

async function exactUnderConcurrency(store: Store): Promise<number> {
  const limiter = createRateLimiter({
    resolveTier: () => 'free',
    store,
    tiers: { free: { api: { limit: 100, windowMs: 60_000 } } },
    ip: false,
    storeFaults: { mode: 'closed', timeoutMs: 10_000 },
    onWarning: () => undefined,
  });
  const key = `exact-${Date.now()}`;
  const decisions = await Promise.all(Array.from({ length: 300 }, () => limiter.check(facts(key))));
  expect(decisions.filter((d) => d.status === 503)).toHaveLength(0);
  return decisions.filter((d) => d.allowed).length;
}

describe('flexibleStore on PostgreSQL', () => {
  let pool: pg.Pool | undefined;
  let store: Store;

  beforeAll(async () => {
    pool = await postgresPool();
    if (!pool) return;
    await pool.query('DROP TABLE IF EXISTS tierlimit_rlf');
    await new Promise<void>((resolve, reject) => {
      new RateLimiterPostgres(
        { storeClient: pool, tableName: 'tierlimit_rlf', points: 1, duration: 1 },
        (error?: Error) => (error ? reject(error) : resolve()),
      );
    });
    store = flexibleStore({
      create: ({ points, duration }) =>
        new RateLimiterPostgres({
          storeClient: pool,
          tableName: 'tierlimit_rlf',
          tableCreated: true,
          points,
          duration,
        }),
    });
  });

  afterAll(async () => {
    await pool?.end();
  });

  test('300 concurrent requests on one key with limit 100: exactly 100 admitted', async () => {
    if (!pool) return;
    expect(await exactUnderConcurrency(store)).toBe(100);
  });

  test('all or nothing across the IP and key policies, with rewards', async () => {
    if (!pool) return;
    const limiter = limiterOn(store);
    const key = `pg-${Date.now()}`;
    for (let i = 0; i < 3; i++) await limiter.check(facts(key, '198.51.100.20'));
    for (let i = 0; i < 4; i++) expect((await limiter.check(facts(key, '198.51.100.20'))).status).toBe(429);
    const other = await limiter.check(facts(`${key}-b`, '198.51.100.20'));
    expect(other.policies.find((p) => p.policy === 'ip')?.remaining).toBe(1);
  });
});

describe('flexibleStore on MariaDB', () => {
  let pool: mysql.Pool | undefined;
  let store: Store;

  beforeAll(async () => {
    pool = await mariadbPool();
    if (!pool) return;
    await pool.promise().query('DROP TABLE IF EXISTS tierlimit_rlf');
    await new Promise<void>((resolve, reject) => {
      new RateLimiterMySQL(
        { storeClient: pool, storeType: 'pool', dbName: 'test', tableName: 'tierlimit_rlf', points: 1, duration: 1 },
        (error?: Error) => (error ? reject(error) : resolve()),
      );
    });
    store = flexibleStore({
      create: ({ points, duration }) =>
        new RateLimiterMySQL({
          storeClient: pool,
          storeType: 'pool',
          dbName: 'test',
          tableName: 'tierlimit_rlf',
          tableCreated: true,
          points,
          duration,
        }),
    });
  });

  afterAll(async () => {
    await pool?.promise().end();
  });

  test('300 concurrent requests on one key with limit 100: exactly 100 admitted', async () => {
    if (!pool) return;
    expect(await exactUnderConcurrency(store)).toBe(100);
  });
});
