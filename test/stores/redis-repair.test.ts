/**
 * Issue 13: one bad key affects one identity, and heals. Keys live in a database others
 * write to too (an operator's typo, another app, an old deployment). A tierlimit key of the
 * wrong type made `GET` raise WRONGTYPE inside the script and failed the whole batched
 * call, so every request in the batch got a 503 or a degraded answer, forever; malformed
 * strings were read as numbers (a negative count admitted more than the limit, NaN denied
 * forever); a time far ahead blocked until then; and a window's key kept no TTL after an
 * admitted request (KEEPTTL). Every test here writes the bad state itself, then checks that
 * only its identity is affected, that the answer is sane, and that the key is valid with a
 * TTL afterwards (or gone). The teardown fails on any key without a TTL.
 */
import { once } from 'node:events';
import type { StoreCheck } from '@tierlimit/core';
import { RedisStore, recommendedRedisOptions } from '@tierlimit/redis';
import { Redis } from 'ioredis';
import { ManualClock } from '../support/clock';
import { describeWithRedis, RedisServer } from '../support/redis-server';

const YEAR_MS = 365 * 24 * 3_600_000;

const window = (key: string, limit: number, cost = 1): StoreCheck => ({
  key,
  algorithm: 'fixed-window',
  limit,
  windowMs: 60_000,
  capacity: limit,
  cost,
});

const bucket = (key: string, burst: number, perMinute: number, cost = 1): StoreCheck => ({
  key,
  algorithm: 'token-bucket',
  limit: perMinute,
  windowMs: 60_000,
  capacity: burst,
  cost,
});

const guarded = (identity: string, limit = 2): StoreCheck => ({
  ...window(`api:${identity}`, limit),
  penalty: {
    violationKey: `violations:${identity}`,
    blockKey: `suspended:${identity}`,
    threshold: 3,
    windowMs: 60_000,
    blockMs: 300_000,
  },
});

describeWithRedis('bad keys on Redis: one identity affected, repaired', () => {
  let redis: RedisServer;
  let client: Redis;

  beforeAll(async () => {
    redis = await RedisServer.start();
    client = new Redis(redis.url, recommendedRedisOptions());
    await once(client, 'ready');
  });

  afterAll(async () => {
    client.disconnect();
    await redis.stop();
  });

  beforeEach(() => client.flushall());

  afterEach(async () => {
    for (const key of await client.keys('*')) expect([key, await client.pttl(key)]).not.toEqual([key, -1]);
  });

  /** The store on Redis's own clock (`clock` absent) or a test clock. */
  function storeOn(clock?: ManualClock): RedisStore {
    return new RedisStore(clock === undefined ? { client } : { client, now: clock.now });
  }

  /** The key's state "<v> <t>" as numbers, and its TTL in ms. */
  async function stored(key: string): Promise<{ value: number; time: number; ttl: number }> {
    const raw = (await client.get(key)) ?? '';
    const [value, time] = raw.split(' ').map(Number);
    return { value: value as number, time: time as number, ttl: await client.pttl(key) };
  }

  describe('a policy key', () => {
    test('of another type (a hash) fails no other decision of its batch, and is rewritten as a valid state with a TTL', async () => {
      const store = storeOn();
      await client.hset('tl:1:{hbad}:api', 'field', 'value');
      // Asked for in one turn of the event loop: one script call decides all three.
      const [before, bad, after] = await Promise.all(
        ['hgood1', 'hbad', 'hgood2'].map((identity) => store.consume([window(`api:${identity}`, 5)])),
      );
      expect(before?.states[0]).toMatchObject({ allowed: true, remaining: 4 });
      expect(after?.states[0]).toMatchObject({ allowed: true, remaining: 4 });
      // The bad key counts as no state: a fresh window.
      expect(bad?.states[0]).toMatchObject({ allowed: true, remaining: 4, resetMs: 60_000 });
      const repaired = await stored('tl:1:{hbad}:api');
      expect(repaired.value).toBe(1);
      expect(repaired.ttl).toBeGreaterThan(0);
      expect(repaired.ttl).toBeLessThanOrEqual(60_000);
    });

    test('of another type, in a request that is not charged, is deleted', async () => {
      const store = storeOn();
      await store.consume([window('ip:i1', 1)]);
      await client.hset('tl:1:{hbad}:api', 'field', 'value');
      await client.hset('tl:1:{hpeek}:api', 'field', 'value');
      const [denied, peeked] = await Promise.all([
        store.consume([window('ip:i1', 1), window('api:hbad', 5)]),
        store.consume([window('api:hpeek', 5)], { peek: true }),
      ]);
      expect(denied?.allowed).toBe(false);
      expect(denied?.states[1]).toMatchObject({ allowed: true, remaining: 5 });
      expect(peeked?.allowed).toBe(true);
      expect(await client.exists('tl:1:{hbad}:api', 'tl:1:{hpeek}:api')).toBe(0);
    });

    test.each([
      ['a negative count', (now: number) => `-3 ${now + 30_000}`],
      ['a NaN count', (now: number) => `nan ${now + 30_000}`],
      ['an infinite window end', () => '1 inf'],
      ['an infinite count', (now: number) => `1e999 ${now + 30_000}`],
      ['no space', () => '17'],
      ['no numbers', () => 'not a state'],
      ['a negative time', () => '1 -5'],
    ])('holding %s, counts as no state and is rewritten with a TTL', async (_label, value) => {
      const store = storeOn();
      await client.set('tl:1:{hbad}:api', value(Date.now()));
      const result = await store.consume([window('api:hbad', 5)]);
      expect(result.states[0]).toMatchObject({ allowed: true, remaining: 4, resetMs: 60_000 });
      const repaired = await stored('tl:1:{hbad}:api');
      expect(repaired.value).toBe(1);
      expect(repaired.ttl).toBeGreaterThan(0);
    });

    test('of a bucket holding garbage counts as a full bucket and is rewritten', async () => {
      const store = storeOn();
      await client.set('tl:1:{hbad}:events', 'x y');
      expect((await store.consume([bucket('events:hbad', 5, 60, 2)])).states[0]).toMatchObject({
        allowed: true,
        remaining: 3,
      });
      const repaired = await stored('tl:1:{hbad}:events');
      expect(repaired.value).toBe(3);
      expect(repaired.ttl).toBeGreaterThan(0);
    });

    test('without a TTL gets one after an admitted request', async () => {
      const store = storeOn();
      await client.set('tl:1:{hk}:api', `1 ${Date.now() + 30_000}`);
      expect(await client.pttl('tl:1:{hk}:api')).toBe(-1);
      expect((await store.consume([window('api:hk', 5)])).states[0]).toMatchObject({ allowed: true, remaining: 3 });
      const after = await stored('tl:1:{hk}:api');
      expect(after.value).toBe(2);
      expect(after.ttl).toBeGreaterThan(0);
      expect(after.ttl).toBeLessThanOrEqual(30_000);
    });

    test('with a window end a year ahead blocks for at most one window', async () => {
      const clock = new ManualClock();
      const store = storeOn(clock);
      await client.set('tl:1:{hk}:api', `5 ${clock.now() + YEAR_MS}`, 'PX', YEAR_MS);
      const denied = await store.consume([window('api:hk', 5)]);
      expect(denied.states[0]).toMatchObject({ allowed: false, resetMs: 60_000, retryMs: 60_000 });
      // Rewritten, so the next reads do not clamp it again one window further each time.
      const clamped = await stored('tl:1:{hk}:api');
      expect(clamped.time).toBe(clock.now() + 60_000);
      expect(clamped.ttl).toBeLessThanOrEqual(60_000);
      clock.advance(30_000);
      expect((await store.consume([window('api:hk', 5)])).states[0]).toMatchObject({ allowed: false, resetMs: 30_000 });
      clock.advance(30_000);
      expect((await store.consume([window('api:hk', 5)])).states[0]).toMatchObject({ allowed: true, remaining: 4 });
    });

    test('of a bucket whose refill time is a year ahead refills from now; tokens above capacity count as capacity', async () => {
      const clock = new ManualClock();
      const store = storeOn(clock);
      await client.set('tl:1:{hk}:events', `0 ${clock.now() + YEAR_MS}`, 'PX', YEAR_MS);
      expect((await store.consume([bucket('events:hk', 5, 5)])).allowed).toBe(false);
      expect(await client.pttl('tl:1:{hk}:events')).toBeLessThanOrEqual(60_000);
      // 5 per minute: one unit every 12 s, counted from now.
      clock.advance(12_000);
      expect((await store.consume([bucket('events:hk', 5, 5)])).allowed).toBe(true);
      await client.set('tl:1:{hl}:events', `1000 ${clock.now()}`);
      expect((await store.consume([bucket('events:hl', 5, 5, 0)])).states[0]).toMatchObject({
        allowed: true,
        remaining: 5,
      });
      // Rewritten at the capacity (full: nothing left to keep).
      expect(Number((await client.get('tl:1:{hl}:events'))?.split(' ')[0] ?? 5)).toBeLessThanOrEqual(5);
    });
  });

  describe('the penalty keys', () => {
    test('a suspension marker of another type or malformed is no suspension, and is deleted', async () => {
      const store = storeOn();
      await client.hset('tl:1:{ha}:suspended', 'field', 'value');
      await client.set('tl:1:{hb}:suspended', 'forever');
      const [a, b, other] = await Promise.all([
        store.consume([guarded('ha')]),
        store.consume([guarded('hb')]),
        store.consume([window('api:hc', 5)]),
      ]);
      expect(a?.states[0]).toEqual({ allowed: true, remaining: 1, resetMs: 60_000, retryMs: 0 });
      expect(b?.states[0]).toEqual({ allowed: true, remaining: 1, resetMs: 60_000, retryMs: 0 });
      expect(other?.allowed).toBe(true);
      expect(await client.exists('tl:1:{ha}:suspended', 'tl:1:{hb}:suspended')).toBe(0);
    });

    test('a suspension a year ahead lasts at most the suspension time', async () => {
      const clock = new ManualClock();
      const store = storeOn(clock);
      await client.set('tl:1:{ha}:suspended', String(clock.now() + YEAR_MS), 'PX', YEAR_MS);
      expect((await store.consume([guarded('ha')])).states[0]).toMatchObject({
        allowed: false,
        suspended: true,
        retryMs: 300_000,
      });
      expect(await client.pttl('tl:1:{ha}:suspended')).toBeLessThanOrEqual(300_000);
      clock.advance(300_000);
      expect((await store.consume([guarded('ha')])).allowed).toBe(true);
    });

    test('a denial count of another type is counted afresh and rewritten with a TTL', async () => {
      const store = storeOn();
      await client.hset('tl:1:{ha}:violations', 'field', 'value');
      await store.consume([guarded('ha')]);
      await store.consume([guarded('ha')]);
      const [denied, other] = await Promise.all([store.consume([guarded('ha')]), store.consume([window('api:hc', 5)])]);
      expect(denied?.states[0]).toMatchObject({ allowed: false });
      expect(denied?.states[0]?.suspended).toBeUndefined();
      expect(other?.allowed).toBe(true);
      const count = await stored('tl:1:{ha}:violations');
      expect(count.value).toBe(1);
      expect(count.ttl).toBeGreaterThan(0);
    });

    test('a denial window ending a year ahead ends within the penalty window', async () => {
      const clock = new ManualClock();
      const store = storeOn(clock);
      await client.set('tl:1:{ha}:violations', `1 ${clock.now() + YEAR_MS}`, 'PX', YEAR_MS);
      await store.consume([guarded('ha')]);
      await store.consume([guarded('ha')]);
      await store.consume([guarded('ha')]);
      const count = await stored('tl:1:{ha}:violations');
      expect(count.value).toBe(2);
      expect(count.time).toBe(clock.now() + 60_000);
      expect(count.ttl).toBeLessThanOrEqual(60_000);
    });
  });

  describe('a lease set', () => {
    test('overwritten with a string is no leases: acquire, count, renew and release work and repair it', async () => {
      const store = storeOn();
      const key = 'tl:1:{ha}:connections';
      await client.set(key, 'oops');
      expect(await store.countLeases('connections:ha')).toBe(0);
      await client.set(key, 'oops');
      expect(await store.renewLease('connections:ha', 'some-lease', 10_000)).toBe(false);
      await client.set(key, 'oops');
      expect(await store.releaseLease('connections:ha', 'some-lease')).toBe(false);
      await client.set(key, 'oops');
      const lease = await store.acquireLease('connections:ha', 2, 10_000);
      expect(lease).toEqual(expect.any(String));
      expect(await client.type(key)).toBe('zset');
      expect(await store.countLeases('connections:ha')).toBe(1);
      expect(await store.releaseLease('connections:ha', lease as string)).toBe(true);
    });
  });
});
