/**
 * One store suite, every store: the same semantics on the memory store and on Redis (one
 * server, and a three-node Redis Cluster). The Redis store takes time from Redis itself in
 * production; here it is given the test's clock so windows move without sleeping.
 */
import {
  type AdminStore,
  type ConsumeOptions,
  type ConsumeResult,
  isAdminStore,
  isLeaseStore,
  type LeaseStore,
  MemoryStore,
  type Penalty,
  type Store,
  type StoreCheck,
} from '@tierlimit/core';
import { RedisStore, recommendedRedisOptions } from '@tierlimit/redis';
import { Cluster, Redis } from 'ioredis';
import { ManualClock } from '../support/clock';
import { RedisCluster, RedisServer, redisAvailable } from '../support/redis-server';

const window = (key: string, limit: number, cost = 1, windowMs = 60_000): StoreCheck => ({
  key,
  algorithm: 'fixed-window',
  limit,
  windowMs,
  capacity: limit,
  cost,
});

const sliding = (key: string, limit: number, cost = 1, windowMs = 60_000): StoreCheck => ({
  key,
  algorithm: 'sliding-window',
  limit,
  windowMs,
  capacity: limit,
  cost,
});

/** A calendar quota whose current period ends at `periodEnd` and lasts `windowMs`. */
const quota = (key: string, limit: number, periodEnd: number, windowMs: number, cost = 1): StoreCheck => ({
  key,
  algorithm: 'calendar',
  limit,
  windowMs,
  capacity: limit,
  cost,
  periodEnd,
});

/** At most `limit` requests in flight; a slot not released lapses after `leaseMs`. */
const slots = (key: string, limit: number, leaseMs = 30_000, cost = 1): StoreCheck => ({
  key,
  algorithm: 'concurrency',
  limit,
  windowMs: 0,
  capacity: limit,
  cost,
  leaseMs,
});

const bucket = (key: string, burst: number, perMinute: number, cost = 1): StoreCheck => ({
  key,
  algorithm: 'token-bucket',
  limit: perMinute,
  windowMs: 60_000,
  capacity: burst,
  cost,
});

const penaltyOf = (identity: string): Penalty => ({
  violationKey: `violations:${identity}`,
  blockKey: `suspended:${identity}`,
  threshold: 3,
  windowMs: 60_000,
  blockMs: 300_000,
});

interface Target {
  readonly name: string;
  setup(clock: ManualClock): Promise<{ store: Store; keyCount(): Promise<number>; teardown(): Promise<void> }>;
}

let redis: RedisServer | undefined;
let cluster: RedisCluster | undefined;

const targets: Target[] = [
  {
    name: 'memory',
    setup: async (clock) => {
      const store = new MemoryStore({ now: clock.now, sweepIntervalMs: 0 });
      return { store, keyCount: async () => store.size, teardown: async () => store.close() };
    },
  },
];
if (redisAvailable()) {
  targets.push({
    name: 'redis',
    setup: async (clock) => {
      redis ??= await RedisServer.start();
      const client = new Redis(redis.url, recommendedRedisOptions());
      const store = new RedisStore({ client, now: clock.now });
      if (!(await store.ready(5_000))) throw new Error('Redis did not become ready');
      await client.flushall();
      return {
        store,
        keyCount: () => client.dbsize(),
        teardown: async () => {
          const keys = await client.keys('*');
          for (const key of keys) expect(await client.pttl(key)).not.toBe(-1);
          client.disconnect();
        },
      };
    },
  });
  targets.push({
    name: 'redis cluster',
    setup: async (clock) => {
      cluster ??= await RedisCluster.start();
      const client = new Cluster(
        cluster.nodes.map((node) => ({ host: '127.0.0.1', port: node.port })),
        { enableOfflineQueue: false, redisOptions: recommendedRedisOptions() },
      );
      const store = new RedisStore({ client, now: clock.now });
      if (!(await store.ready(10_000))) throw new Error('the Redis Cluster client did not become ready');
      await Promise.all(client.nodes('master').map((node) => node.flushall()));
      const countKeys = async () => {
        const sizes = await Promise.all(client.nodes('master').map((node) => node.dbsize()));
        return sizes.reduce((a, b) => a + b, 0);
      };
      return {
        store,
        keyCount: countKeys,
        teardown: async () => {
          for (const node of client.nodes('master')) {
            for (const key of await node.keys('*')) expect(await node.pttl(key)).not.toBe(-1);
          }
          client.disconnect();
        },
      };
    },
  });
}

afterAll(async () => {
  await redis?.stop();
  await cluster?.stop();
});

describe.each(targets)('$name store', (target) => {
  let clock: ManualClock;
  let store: Store;
  let keyCount: () => Promise<number>;
  let teardown: () => Promise<void>;
  const consume = (checks: StoreCheck[], options?: ConsumeOptions): Promise<ConsumeResult> =>
    Promise.resolve(store.consume(checks, options));
  const refund = async (checks: StoreCheck[], result: ConsumeResult): Promise<void> => {
    if (store.refund === undefined) throw new Error(`${target.name} cannot refund`);
    await store.refund(checks, result);
  };

  beforeEach(async () => {
    clock = new ManualClock();
    ({ store, keyCount, teardown } = await target.setup(clock));
  });

  afterEach(() => teardown());

  describe('fixed window', () => {
    test('admits exactly `limit` units per window, starting at the first hit', async () => {
      clock.advance(10_000);
      for (let i = 1; i <= 3; i++) {
        const result = await consume([window('api:ha', 3)]);
        expect(result.allowed).toBe(true);
        expect(result.states[0]).toEqual({ allowed: true, remaining: 3 - i, resetMs: 61_000 - i * 1_000, retryMs: 0 });
        clock.advance(1_000);
      }
      const denied = await consume([window('api:ha', 3)]);
      expect(denied.allowed).toBe(false);
      expect(denied.states[0]).toEqual({ allowed: false, remaining: 0, resetMs: 57_000, retryMs: 57_000 });
      clock.advance(57_000);
      expect((await consume([window('api:ha', 3)])).states[0]).toMatchObject({
        allowed: true,
        remaining: 2,
        resetMs: 60_000,
      });
    });

    test('a cost that does not fit is refused whole, even when some units remain', async () => {
      await consume([window('api:ha', 10, 8)]);
      expect((await consume([window('api:ha', 10, 3)])).states[0]).toMatchObject({ allowed: false, remaining: 2 });
      expect((await consume([window('api:ha', 10, 2)])).states[0]).toMatchObject({ allowed: true, remaining: 0 });
    });
  });

  describe('token bucket', () => {
    test('starts full, spends a burst, then refills continuously', async () => {
      expect((await consume([bucket('events:hb', 50, 500, 50)])).states[0]).toEqual({
        allowed: true,
        remaining: 0,
        resetMs: 6_000,
        retryMs: 0,
      });
      expect((await consume([bucket('events:hb', 50, 500)])).states[0]).toEqual({
        allowed: false,
        remaining: 0,
        resetMs: 6_000,
        retryMs: 120,
      });
      clock.advance(60);
      expect((await consume([bucket('events:hb', 50, 500)])).states[0]).toMatchObject({ allowed: false, retryMs: 60 });
      clock.advance(60);
      expect((await consume([bucket('events:hb', 50, 500)])).states[0]).toMatchObject({ allowed: true, remaining: 0 });
      clock.advance(1_200);
      expect((await consume([bucket('events:hb', 50, 500, 0)])).states[0]).toMatchObject({ remaining: 10 });
    });

    test('never holds more than its capacity however long it idles', async () => {
      await consume([bucket('events:hb', 5, 60, 5)]);
      clock.advance(3_600_000);
      expect((await consume([bucket('events:hb', 5, 60, 0)])).states[0]).toMatchObject({ remaining: 5, resetMs: 0 });
    });

    test('a clock that goes backwards mints no tokens', async () => {
      await consume([bucket('events:hb', 5, 60, 5)]);
      clock.advance(-10_000);
      expect((await consume([bucket('events:hb', 5, 60)])).allowed).toBe(false);
    });

    test('admits at most capacity + refill x time over a long run', async () => {
      let admitted = 0;
      for (let ms = 0; ms < 10_000; ms += 21) {
        if ((await consume([bucket('events:hb', 50, 500, 3)])).allowed) admitted += 3;
        clock.advance(21);
      }
      const bound = 50 + (500 * 10_000) / 60_000;
      expect(admitted).toBeLessThanOrEqual(bound);
      expect(admitted).toBeGreaterThan(bound - 6);
    });
  });

  describe('shadow checks', () => {
    test('a shadow check that does not fit refuses nothing and is not charged; one that fits is', async () => {
      const shadow = { ...window('api:ha', 1), shadow: true };
      const first = await consume([window('ip:i1', 10), shadow]);
      expect(first.allowed).toBe(true);
      const second = await consume([window('ip:i1', 10), shadow]);
      expect(second.allowed).toBe(true);
      expect(second.states[1]).toMatchObject({ allowed: false, remaining: 0 });
      // The enforced IP check was charged both times.
      expect((await consume([window('ip:i1', 10, 0)])).states[0]).toMatchObject({ remaining: 8 });
    });
  });

  describe('suspension', () => {
    const guarded = (cost = 1) => ({ ...window('api:ha', 2, cost), penalty: penaltyOf('ha') });

    test('the threshold-th denial within the window suspends the identity; the suspension ends on time', async () => {
      await consume([guarded()]);
      await consume([guarded()]);
      expect((await consume([guarded()])).states[0]).toMatchObject({ allowed: false, retryMs: expect.any(Number) });
      expect((await consume([guarded()])).states[0]?.suspended).toBeUndefined();
      const third = await consume([guarded()]);
      expect(third.states[0]).toMatchObject({ allowed: false, suspended: true, suspendedNow: true, retryMs: 300_000 });
      // The window resets after a minute, but the suspension holds for five.
      clock.advance(120_000);
      const still = await consume([guarded()]);
      expect(still.allowed).toBe(false);
      expect(still.states[0]).toMatchObject({ suspended: true, retryMs: 180_000 });
      expect(still.states[0]?.suspendedNow).toBeUndefined();
      clock.advance(180_000);
      expect((await consume([guarded()])).allowed).toBe(true);
    });

    test('a suspension refuses the whole request and charges nothing else', async () => {
      for (let i = 0; i < 5; i++) await consume([guarded()]);
      const refused = await consume([window('ip:i1', 10), guarded()]);
      expect(refused.allowed).toBe(false);
      expect((await consume([window('ip:i1', 10, 0)])).states[0]).toMatchObject({ remaining: 10 });
    });

    test('denials of another check do not count against an identity that fit', async () => {
      for (let i = 0; i < 6; i++) await consume([window('ip:i1', 1), guarded(0)]);
      expect((await consume([guarded()])).allowed).toBe(true);
    });

    test('operators list and lift suspensions', async () => {
      if (!isAdminStore(store)) throw new Error(`${target.name} keeps no suspensions`);
      const admin = store as Store & AdminStore;
      for (let i = 0; i < 5; i++) await consume([guarded()]);
      expect(await admin.listSuspensions()).toEqual([{ identity: 'ha', until: clock.now() + 300_000 }]);
      expect(await admin.liftSuspension('ha')).toBe(true);
      expect(await admin.liftSuspension('ha')).toBe(false);
      expect(await admin.listSuspensions()).toEqual([]);
      // Lifted: the window is still used up (2 of 2), but after it the key is free again.
      clock.advance(60_000);
      expect((await consume([guarded()])).allowed).toBe(true);
    });
  });

  describe('peeks (decide, charge nothing)', () => {
    test('a peek decides as if charging its cost, charges nothing and creates no state', async () => {
      await consume([window('api:ha', 3, 2)]);
      const tooMuch = await consume([window('api:ha', 3, 2)], { peek: true });
      expect(tooMuch.allowed).toBe(false);
      expect(tooMuch.states[0]).toEqual({ allowed: false, remaining: 1, resetMs: 60_000, retryMs: 60_000 });
      const fits = await consume([window('api:ha', 3, 1)], { peek: true });
      expect(fits.allowed).toBe(true);
      // Remaining as it stands: nothing was charged.
      expect(fits.states[0]).toEqual({ allowed: true, remaining: 1, resetMs: 60_000, retryMs: 0 });
      expect((await consume([window('api:ha', 3, 1)])).states[0]).toMatchObject({ allowed: true, remaining: 0 });
      const keys = await keyCount();
      const fresh = await consume([window('ip:i1', 10), bucket('events:hb', 5, 60, 2)], { peek: true });
      expect(fresh.allowed).toBe(true);
      expect(fresh.states).toEqual([
        { allowed: true, remaining: 10, resetMs: 60_000, retryMs: 0 },
        { allowed: true, remaining: 5, resetMs: 0, retryMs: 0 },
      ]);
      expect(await keyCount()).toBe(keys);
    });

    test('a peek counts no denial toward a suspension; a suspended identity still shows as suspended', async () => {
      const guarded = { ...window('api:ha', 2), penalty: penaltyOf('ha') };
      await consume([guarded]);
      await consume([guarded]);
      for (let i = 0; i < 5; i++) {
        const peek = await consume([guarded], { peek: true });
        expect(peek.allowed).toBe(false);
        expect(peek.states[0]?.suspended).toBeUndefined();
      }
      // Only real denials count: the third one suspends.
      expect((await consume([guarded])).states[0]?.suspended).toBeUndefined();
      expect((await consume([guarded])).states[0]?.suspended).toBeUndefined();
      expect((await consume([guarded])).states[0]).toMatchObject({ suspended: true, suspendedNow: true });
      clock.advance(1_000);
      const peek = await consume([guarded], { peek: true });
      expect(peek.allowed).toBe(false);
      expect(peek.states[0]).toEqual({
        allowed: false,
        remaining: 0,
        resetMs: 59_000,
        retryMs: 299_000,
        suspended: true,
      });
    });
  });

  describe('refunds and the store clock', () => {
    test("every answer carries the store's clock, also for a request across identities", async () => {
      clock.advance(1_234);
      expect((await consume([window('api:ha', 3)])).now).toBe(clock.now());
      expect((await consume([window('ip:i1', 10), window('api:ha', 3)])).now).toBe(clock.now());
    });

    test('a refund gives back what was charged: a window within its window, a bucket its units', async () => {
      const checks = [window('api:ha', 3), bucket('events:hb', 5, 60, 2)];
      const charged = await consume(checks);
      expect(charged.allowed).toBe(true);
      clock.advance(1_000);
      await refund(checks, charged);
      expect((await consume([window('api:ha', 3, 0), bucket('events:hb', 5, 60, 0)])).states).toEqual([
        { allowed: true, remaining: 3, resetMs: 59_000, retryMs: 0 },
        { allowed: true, remaining: 5, resetMs: 0, retryMs: 0 },
      ]);
    });

    test('a fixed window is refunded only in the window the charge was made in', async () => {
      const checks = [window('api:ha', 3)];
      const first = await consume(checks);
      clock.advance(60_000);
      await consume(checks);
      await refund(checks, first);
      expect((await consume([window('api:ha', 3, 0)])).states[0]).toMatchObject({ remaining: 2 });
    });

    test('a bucket gets its units back up to its capacity, never more', async () => {
      const checks = [bucket('events:hb', 5, 60, 2)];
      const charged = await consume(checks);
      await refund(checks, charged);
      await refund(checks, charged);
      expect((await consume([bucket('events:hb', 5, 60, 5)])).allowed).toBe(true);
      expect((await consume([bucket('events:hb', 5, 60, 1)])).allowed).toBe(false);
    });

    test('a denied answer refunds nothing, nor a shadow check that did not fit', async () => {
      await consume([window('ip:i1', 10)]);
      await consume([window('api:ha', 1)]);
      const denied = await consume([window('ip:i1', 10), window('api:ha', 1)]);
      expect(denied.allowed).toBe(false);
      await refund([window('ip:i1', 10), window('api:ha', 1)], denied);
      expect((await consume([window('ip:i1', 10, 0)])).states[0]).toMatchObject({ remaining: 9 });
      const shadow = { ...window('api:ha', 1), shadow: true };
      const admitted = await consume([window('ip:i1', 10), shadow]);
      expect(admitted.allowed).toBe(true);
      expect(admitted.states[1]).toMatchObject({ allowed: false });
      await refund([window('ip:i1', 10), shadow], admitted);
      expect((await consume([window('ip:i1', 10, 0), window('api:ha', 1, 0)])).states).toEqual([
        expect.objectContaining({ remaining: 9 }),
        expect.objectContaining({ remaining: 0 }),
      ]);
    });
  });

  describe('limit overrides', () => {
    test('set, read, list, expire and delete', async () => {
      if (!isAdminStore(store)) throw new Error(`${target.name} keeps no overrides`);
      const admin = store as Store & AdminStore;
      await admin.setOverride('ha', { limits: { api: { limit: 500 } } });
      await admin.setOverride('hb', { limits: { api: { limit: 9 } }, expiresAt: Date.now() + 60_000 });
      expect(await admin.getOverride('ha')).toEqual({ limits: { api: { limit: 500 } } });
      expect((await admin.listOverrides()).map((o) => o.identity).sort()).toEqual(['ha', 'hb']);
      expect(await admin.deleteOverride('ha')).toBe(true);
      expect(await admin.deleteOverride('ha')).toBe(false);
      expect(await admin.getOverride('ha')).toBeUndefined();
    });
  });

  describe('connection leases', () => {
    const leases = () => {
      if (!isLeaseStore(store)) throw new Error(`${target.name} keeps no leases`);
      return store as Store & LeaseStore;
    };

    test('at most `max` live leases per key; a refused acquire takes nothing', async () => {
      const l = leases();
      const taken = [];
      for (let i = 0; i < 3; i++) taken.push(await l.acquireLease('connections:ha', 3, 30_000));
      expect(taken.every((id) => typeof id === 'string')).toBe(true);
      expect(new Set(taken).size).toBe(3);
      expect(await l.acquireLease('connections:ha', 3, 30_000)).toBeUndefined();
      expect(await l.countLeases('connections:ha')).toBe(3);
      expect(await l.acquireLease('connections:hb', 3, 30_000)).toEqual(expect.any(String));
    });

    test('release is idempotent and the count never goes negative', async () => {
      const l = leases();
      const id = (await l.acquireLease('connections:ha', 2, 30_000)) as string;
      expect(await l.releaseLease('connections:ha', id)).toBe(true);
      expect(await l.releaseLease('connections:ha', id)).toBe(false);
      expect(await l.releaseLease('connections:ha', 'never-taken')).toBe(false);
      expect(await l.countLeases('connections:ha')).toBe(0);
      expect(await l.acquireLease('connections:ha', 2, 30_000)).toEqual(expect.any(String));
      expect(await l.acquireLease('connections:ha', 2, 30_000)).toEqual(expect.any(String));
      expect(await l.countLeases('connections:ha')).toBe(2);
    });

    test('a lease that is not renewed lapses, freeing its slot; a renewed one stays', async () => {
      const l = leases();
      const dead = (await l.acquireLease('connections:ha', 2, 10_000)) as string;
      const alive = (await l.acquireLease('connections:ha', 2, 10_000)) as string;
      clock.advance(6_000);
      expect(await l.renewLease('connections:ha', alive, 10_000)).toBe(true);
      clock.advance(6_000);
      expect(await l.countLeases('connections:ha')).toBe(1);
      expect(await l.renewLease('connections:ha', dead, 10_000)).toBe(false);
      expect(await l.acquireLease('connections:ha', 2, 10_000)).toEqual(expect.any(String));
      expect(await l.acquireLease('connections:ha', 2, 10_000)).toBeUndefined();
    });
  });

  describe('sliding window (weighted two-window counter)', () => {
    // ManualClock.START is on a minute: the 60 s windows are aligned to it.
    test("the previous window's units fade out linearly through the current one", async () => {
      clock.advance(50_000);
      for (let i = 0; i < 10; i++) expect((await consume([sliding('api:hs', 10)])).allowed).toBe(true);
      expect((await consume([sliding('api:hs', 10)])).states[0]).toMatchObject({
        allowed: false,
        remaining: 0,
        retryMs: 16_000,
      });
      // 15 s into the next window the 10 weigh 7.5: two more fit, not three.
      clock.advance(25_000);
      expect((await consume([sliding('api:hs', 10)])).states[0]).toEqual({
        allowed: true,
        remaining: 1,
        resetMs: 105_000,
        retryMs: 0,
      });
      expect((await consume([sliding('api:hs', 10)])).allowed).toBe(true);
      // A third waits until the faded share and the two fit: 120 - 60 x 7/10 = 78 s.
      expect((await consume([sliding('api:hs', 10)])).states[0]).toMatchObject({ allowed: false, retryMs: 3_000 });
      clock.advance(3_000);
      expect((await consume([sliding('api:hs', 10)])).allowed).toBe(true);
    });

    test('at a window boundary a fixed window admits twice the limit; the sliding window admits nothing more', async () => {
      const admitted = async (check: (key: string) => StoreCheck, key: string) => {
        let n = 0;
        for (let i = 0; i < 20; i++) if ((await consume([check(key)])).allowed) n++;
        return n;
      };
      // A first request at 0 s anchors the fixed window at [0, 60 s); then 9 more just
      // before the boundary and as many as possible just after it.
      await consume([window('api:hf', 10)]);
      await consume([sliding('api:hs', 10)]);
      clock.advance(59_999);
      expect(await admitted((key) => window(key, 10), 'api:hf')).toBe(9);
      expect(await admitted((key) => sliding(key, 10), 'api:hs')).toBe(9);
      clock.advance(2);
      // Two milliseconds later: 10 more through the fixed window (19 in 2 ms), none through
      // the sliding one (its bound in an interval of length t: 10 x (1 + t / 60 s)).
      expect(await admitted((key) => window(key, 10), 'api:hf')).toBe(10);
      expect(await admitted((key) => sliding(key, 10), 'api:hs')).toBe(0);
    });

    test('never more than limit x (1 + t / window) in any interval of length t', async () => {
      // Random arrivals over four windows, each request one unit; then every interval checked.
      let seed = 7;
      const random = () => {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        return seed / 2 ** 31;
      };
      const times: number[] = [];
      for (let t = 0; t < 240_000; t += Math.floor(random() * 4_000)) {
        clock.time = ManualClock.START + t;
        if ((await consume([sliding('api:hs', 10)])).allowed) times.push(t);
      }
      expect(times.length).toBeGreaterThan(30);
      for (let i = 0; i < times.length; i++) {
        for (let j = i; j < times.length; j++) {
          const span = (times[j] as number) - (times[i] as number);
          if (span > 60_000) break;
          expect(j - i + 1).toBeLessThanOrEqual(Math.floor(10 * (1 + span / 60_000) + 1e-9));
        }
      }
    });

    test('state older than the previous window counts nothing; the key expires after two windows', async () => {
      for (let i = 0; i < 4; i++) await consume([sliding('api:hs', 5)]);
      clock.advance(120_000);
      expect((await consume([sliding('api:hs', 5)])).states[0]).toMatchObject({ allowed: true, remaining: 4 });
      clock.advance(120_000);
      expect((await consume([sliding('api:hs', 5, 0)])).states[0]).toMatchObject({ remaining: 5, resetMs: 0 });
    });
  });

  describe('calendar quota', () => {
    const hour = 3_600_000;
    const end = ManualClock.START + hour;

    test('at most `limit` per period; the next period starts from zero; the reset is the period end', async () => {
      for (let i = 2; i >= 0; i--) {
        expect((await consume([quota('month:ha', 3, end, hour)])).states[0]).toMatchObject({
          allowed: true,
          remaining: i,
          resetMs: hour,
        });
      }
      clock.advance(1_000);
      expect((await consume([quota('month:ha', 3, end, hour)])).states[0]).toEqual({
        allowed: false,
        remaining: 0,
        resetMs: hour - 1_000,
        retryMs: hour - 1_000,
      });
      clock.time = end;
      expect((await consume([quota('month:ha', 3, end + hour, hour)])).states[0]).toMatchObject({
        allowed: true,
        remaining: 2,
        resetMs: hour,
      });
    });

    test('a refund gives back units of its own period only', async () => {
      const charged = await consume([quota('month:ha', 3, end, hour, 2)]);
      await refund([quota('month:ha', 3, end, hour, 2)], charged);
      expect((await consume([quota('month:ha', 3, end, hour, 0)])).states[0]).toMatchObject({ remaining: 3 });
      const again = await consume([quota('month:ha', 3, end, hour, 2)]);
      clock.time = end;
      await consume([quota('month:ha', 3, end + hour, hour, 1)]);
      await refund([quota('month:ha', 3, end, hour, 2)], again);
      expect((await consume([quota('month:ha', 3, end + hour, hour, 0)])).states[0]).toMatchObject({ remaining: 2 });
    });
  });

  describe('concurrency', () => {
    test('at most `limit` in flight; a released slot is free again; a refused request takes none', async () => {
      const first = await consume([slots('inflight:ha', 2)]);
      const second = await consume([slots('inflight:ha', 2)]);
      expect(first.states[0]).toMatchObject({ allowed: true, remaining: 1, lease: expect.any(String) });
      expect(second.states[0]).toMatchObject({ allowed: true, remaining: 0, lease: expect.any(String) });
      expect(first.states[0]?.lease).not.toBe(second.states[0]?.lease);
      const refused = await consume([slots('inflight:ha', 2)]);
      expect(refused.states[0]).toEqual({ allowed: false, remaining: 0, resetMs: 0, retryMs: 30_000 });
      if (!isLeaseStore(store)) throw new Error(`${target.name} keeps no leases`);
      expect(await store.releaseLease('inflight:ha', first.states[0]?.lease as string)).toBe(true);
      expect(await store.releaseLease('inflight:ha', first.states[0]?.lease as string)).toBe(false);
      expect((await consume([slots('inflight:ha', 2)])).allowed).toBe(true);
    });

    test('a slot never released lapses after its lease time (a crashed instance)', async () => {
      await consume([slots('inflight:ha', 1, 10_000)]);
      clock.advance(4_000);
      expect((await consume([slots('inflight:ha', 1, 10_000)])).states[0]).toMatchObject({
        allowed: false,
        retryMs: 6_000,
      });
      clock.advance(6_000);
      expect((await consume([slots('inflight:ha', 1, 10_000)])).allowed).toBe(true);
    });

    test('a refund releases the slot it took', async () => {
      const taken = await consume([slots('inflight:ha', 1)]);
      await refund([slots('inflight:ha', 1)], taken);
      expect((await consume([slots('inflight:ha', 1)])).allowed).toBe(true);
    });

    test('a peek takes no slot', async () => {
      expect((await consume([slots('inflight:ha', 1)], { peek: true })).states[0]).toMatchObject({ allowed: true });
      expect((await consume([slots('inflight:ha', 1)])).allowed).toBe(true);
      expect((await consume([slots('inflight:ha', 1)], { peek: true })).allowed).toBe(false);
    });
  });

  describe('several limits of one identity, together', () => {
    test('a request passes only if every limit has room; a refusal by one charges none of them', async () => {
      const hour = 3_600_000;
      const plan = (cost = 1) => [
        window('api:ha', 10, cost, 1_000),
        sliding('api-minute:ha', 100, cost),
        quota('api-month:ha', 3, ManualClock.START + hour, hour, cost),
        slots('api-inflight:ha', 5),
      ];
      for (let i = 0; i < 3; i++) expect((await consume(plan())).allowed).toBe(true);
      const refused = await consume(plan());
      expect(refused.allowed).toBe(false);
      expect(refused.states.map((state) => state.allowed)).toEqual([true, true, false, true]);
      // Nothing of the refused request was charged: the same counts as before it.
      const read = await consume([
        window('api:ha', 10, 0, 1_000),
        sliding('api-minute:ha', 100, 0),
        quota('api-month:ha', 3, ManualClock.START + hour, hour, 0),
      ]);
      expect(read.states.map((state) => state.remaining)).toEqual([7, 97, 0]);
      expect(await (store as Store & LeaseStore).countLeases('api-inflight:ha')).toBe(3);
    });
  });

  describe('all or nothing', () => {
    test('a request denied by one policy charges none of the others (keys of two identities)', async () => {
      await consume([window('ip:i198.51.100.1', 100), bucket('events:hb', 10, 600, 10)]);
      const denied = await consume([window('ip:i198.51.100.1', 100), bucket('events:hb', 10, 600, 5)]);
      expect(denied.allowed).toBe(false);
      expect(denied.states[0]).toMatchObject({ allowed: true, remaining: 99 });
      expect(denied.states[1]).toMatchObject({ allowed: false });
      expect((await consume([window('ip:i198.51.100.1', 100, 0)])).states[0]).toMatchObject({ remaining: 99 });
    });

    test('denied requests do not count against the policy that denied them', async () => {
      for (let i = 0; i < 3; i++) await consume([window('api:ha', 3)]);
      for (let i = 0; i < 20; i++) await consume([window('api:ha', 3)]);
      clock.advance(60_000);
      expect((await consume([window('api:ha', 3)])).states[0]).toMatchObject({ allowed: true, remaining: 2 });
    });

    test('a cost of 0 reads without creating state', async () => {
      const peek = await consume([window('api:ha', 5, 0), bucket('events:hb', 5, 60, 0)]);
      expect(peek.states).toEqual([
        { allowed: true, remaining: 5, resetMs: 60_000, retryMs: 0 },
        { allowed: true, remaining: 5, resetMs: 0, retryMs: 0 },
      ]);
      expect(await keyCount()).toBe(0);
    });
  });
});
