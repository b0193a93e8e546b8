/**
 * Plans as SaaS operators write them (issue 14): several limits per policy, sliding
 * windows, calendar quotas, concurrency, and a usage readout, through `check()` on the
 * memory store, one Redis server and a three-node Redis Cluster. Time is the test's own
 * (the Redis store is given the test's clock), so windows and periods move without sleeping.
 */
import {
  createRateLimiter,
  type Decision,
  MemoryStore,
  type RateLimiterOptions,
  type Store,
  type TierMap,
} from '@tierlimit/core';
import { RedisStore, recommendedRedisOptions } from '@tierlimit/redis';
import { Cluster, Redis } from 'ioredis';
import { ManualClock } from '../support/clock';
import { RedisCluster, RedisServer, redisAvailable } from '../support/redis-server';

const KEY = 'k-free';
const facts = (ip = '198.51.100.1', key = KEY) => ({ ip, headers: { 'x-api-key': key } });
const resolveTier = (key: string) => ({ 'k-free': 'free', 'k-other': 'free' })[key] ?? null;

interface Target {
  readonly name: string;
  /** A store on `clock`, emptied, and a function that ends it. */
  open(clock: ManualClock): Promise<{ store: Store; close(): Promise<void> }>;
}

let redis: RedisServer | undefined;
let cluster: RedisCluster | undefined;

const targets: Target[] = [
  {
    name: 'memory',
    open: async (clock) => {
      const store = new MemoryStore({ now: clock.now, sweepIntervalMs: 0 });
      return { store, close: async () => store.close() };
    },
  },
];
if (redisAvailable()) {
  targets.push({
    name: 'redis',
    open: async (clock) => {
      redis ??= await RedisServer.start();
      const client = new Redis(redis.url, recommendedRedisOptions());
      const store = new RedisStore({ client, now: clock.now });
      if (!(await store.ready(5_000))) throw new Error('Redis did not become ready');
      await client.flushall();
      return { store, close: async () => client.disconnect() };
    },
  });
  targets.push({
    name: 'redis cluster',
    open: async (clock) => {
      cluster ??= await RedisCluster.start();
      const client = new Cluster(
        cluster.nodes.map((node) => ({ host: '127.0.0.1', port: node.port })),
        { enableOfflineQueue: false, redisOptions: recommendedRedisOptions() },
      );
      const store = new RedisStore({ client, now: clock.now });
      if (!(await store.ready(10_000))) throw new Error('the Redis Cluster client did not become ready');
      await Promise.all(client.nodes('master').map((node) => node.flushall()));
      return { store, close: async () => client.disconnect() };
    },
  });
}

afterAll(async () => {
  await redis?.stop();
  await cluster?.stop();
});

/** Settles fire-and-forget store calls (a release on Redis is sent, not awaited). */
const drain = () => new Promise((resolve) => setTimeout(resolve, 30));

describe.each(targets)('$name store', (target) => {
  let clock: ManualClock;
  let store: Store;
  let close: () => Promise<void>;
  const limiters: ReturnType<typeof createRateLimiter>[] = [];

  function limiter(tiers: TierMap, options: RateLimiterOptions = {}) {
    const made = createRateLimiter({
      tiers,
      resolveTier,
      store,
      now: clock.now,
      ip: false,
      storeFaults: { timeoutMs: 2_000 },
      ...options,
    });
    limiters.push(made);
    return made;
  }

  async function send(l: ReturnType<typeof limiter>, count: number, route = {}): Promise<Decision[]> {
    const decisions: Decision[] = [];
    for (let i = 0; i < count; i++) decisions.push(await l.check(facts(), route));
    return decisions;
  }

  beforeEach(async () => {
    clock = new ManualClock();
    ({ store, close } = await target.open(clock));
  });

  afterEach(async () => {
    for (const made of limiters.splice(0)) {
      if (made.store !== store) await made.close();
    }
    await close();
  });

  test('a request passes only if every limit has room; a refusal charges none of them', async () => {
    const l = limiter({
      free: {
        api: [
          { limit: 3, windowMs: 1_000 },
          { limit: 5, windowMs: 60_000, algorithm: 'sliding-window' },
          { limit: 100, per: 'month' },
        ],
      },
    });
    const admitted = await send(l, 3);
    expect(admitted.map((d) => d.status)).toEqual([200, 200, 200]);
    // The second limit is the closest to exhaustion after the first request... until the
    // one-second window runs out: then it is the one reported.
    expect(admitted[2]?.policy?.name).toBe('api.1s');
    expect(admitted[2]?.headers['X-RateLimit-Remaining']).toBe('0');

    const refused = await l.check(facts());
    expect(refused.status).toBe(429);
    expect(refused.policy?.name).toBe('api.1s');
    expect(refused.body).toMatchObject({
      error: { code: 'RATE_LIMITED', details: { limit: 3, window: '1 second', retryAfter: 1, policy: 'api.1s' } },
    });
    // Nothing was charged to the minute and the month by the refused request.
    const usage = await l.usage(KEY);
    expect(usage?.policies.api?.map((limit) => [limit.name, limit.remaining])).toEqual([
      ['api.1s', 0],
      ['api.sliding-1m', 2],
      ['api.month', 97],
    ]);

    clock.advance(1_000);
    await send(l, 2);
    const byMinute = await l.check(facts());
    expect(byMinute.status).toBe(429);
    expect(byMinute.policy?.name).toBe('api.sliding-1m');
    expect((await l.usage(KEY))?.policies.api?.find((limit) => limit.per === 'month')?.remaining).toBe(95);
  });

  test('a 429 reports the refusing limit with the longest wait', async () => {
    const l = limiter({
      free: {
        api: [
          { limit: 2, windowMs: 1_000 },
          { limit: 2, per: 'day' },
        ],
      },
    });
    clock.time = Date.UTC(2026, 11, 3, 23, 0, 0);
    await send(l, 2);
    const refused = await l.check(facts());
    expect(refused.status).toBe(429);
    expect(refused.policy?.name).toBe('api.day');
    expect(refused.headers['Retry-After']).toBe('3600');
    expect(refused.body).toMatchObject({ error: { details: { window: '1 day', policy: 'api.day' } } });
    expect(refused.resetAt).toBe(Date.UTC(2026, 11, 4));
  });

  test('at a window boundary a fixed window admits twice its limit, a sliding window its limit', async () => {
    const limit = 10;
    const windowMs = 60_000;
    const fixed = limiter({ free: { api: { limit, windowMs } } });
    const sliding = limiter({ free: { api: { limit, windowMs, algorithm: 'sliding-window' } } });
    // Sliding windows are aligned to the clock: start one second before a boundary.
    const boundary = (Math.floor(clock.time / windowMs) + 2) * windowMs;
    clock.time = boundary - windowMs; // the fixed window starts here, at the first hit
    expect((await fixed.check(facts('198.51.100.1', 'k-free'))).allowed).toBe(true);
    clock.time = boundary - 1_000;
    let fixedCount = 1;
    let slidingCount = 0;
    // The last second before the boundary, then the first second after it.
    for (const at of [boundary - 1_000, boundary + 1]) {
      clock.time = at;
      for (let i = 0; i < limit * 2; i++) {
        if ((await fixed.check(facts('198.51.100.1', 'k-free'))).allowed) fixedCount++;
        if ((await sliding.check(facts('198.51.100.2', 'k-other'))).allowed) slidingCount++;
      }
    }
    // Within about one second, the fixed window admitted its whole limit twice.
    expect(fixedCount).toBe(2 * limit);
    // The sliding window's bound over an interval of t ≤ W: limit × (1 + t/W), here t = 1 s.
    expect(slidingCount).toBeLessThanOrEqual(Math.floor(limit * (1 + 1_001 / windowMs)));
    expect(slidingCount).toBe(limit);
  });

  test('a monthly quota resets on the first of the month, a daily one at local midnight', async () => {
    const l = limiter({
      free: {
        api: { limit: 2, per: 'month' },
        events: { limit: 1, per: 'day', timeZone: 'America/New_York' },
      },
    });
    clock.time = Date.UTC(2024, 1, 29, 23, 59, 0); // 29 February, a leap year
    await send(l, 2);
    const spent = await l.check(facts());
    expect(spent.status).toBe(429);
    expect(spent.headers['Retry-After']).toBe('60');
    expect(spent.headers['X-RateLimit-Reset']).toBe(String(Date.UTC(2024, 2, 1) / 1000));
    clock.time = Date.UTC(2024, 2, 1);
    expect((await l.check(facts())).allowed).toBe(true);

    // 2026-03-08 is 23 hours long in New York: its midnight-to-midnight is 05:00Z to 04:00Z.
    clock.time = Date.UTC(2026, 2, 8, 12);
    expect((await l.check(facts(), { policy: 'events' })).allowed).toBe(true);
    const tomorrow = await l.check(facts(), { policy: 'events' });
    expect(tomorrow.status).toBe(429);
    expect(tomorrow.resetAt).toBe(Date.UTC(2026, 2, 9, 4));
    expect(tomorrow.policy?.windowMs).toBe(23 * 3_600_000);
    clock.time = Date.UTC(2026, 2, 9, 4);
    expect((await l.check(facts(), { policy: 'events' })).allowed).toBe(true);
  });

  test('concurrency: slots are taken on admission and given back once by release()', async () => {
    const l = limiter({ free: { api: [{ limit: 100, windowMs: 60_000 }, { concurrency: 2 }] } });
    const [first, second] = await send(l, 2);
    expect(first?.inFlight).toBe(true);
    // X-RateLimit-* describe the window, not the slots.
    expect(second?.headers['X-RateLimit-Limit']).toBe('100');
    const third = await l.check(facts());
    expect(third.status).toBe(429);
    expect(third.inFlight).toBe(false);
    expect(third.headers['Retry-After']).toBe('1');
    expect(third.headers['X-RateLimit-Limit']).toBe('2');
    expect(third.body).toMatchObject({
      error: {
        message: expect.stringMatching(/^Too many requests in flight: at most 2 at once/),
        details: { inFlight: true, limit: 2, policy: 'api.concurrency' },
      },
    });
    first?.release();
    first?.release(); // a second release gives back nothing more
    expect(first?.inFlight).toBe(false);
    await drain();
    const fourth = await l.check(facts());
    expect(fourth.allowed).toBe(true);
    expect((await l.check(facts())).status).toBe(429);
    // The refused requests took no slot and no unit of the window.
    const usage = await l.usage(KEY);
    expect(usage?.policies.api?.map((limit) => [limit.name, limit.remaining])).toEqual([
      ['api.1m', 97],
      ['api.concurrency', 0],
    ]);
    second?.release();
    fourth.release();
    await drain();
    expect((await l.usage(KEY))?.policies.api?.[1]).toMatchObject({ concurrency: 2, remaining: 2 });
  });

  test('a slot never released (a crashed instance) lapses after leaseMs', async () => {
    const tiers = { free: { api: { concurrency: 1, leaseMs: 5_000 } } };
    const crashed = limiter(tiers);
    expect((await crashed.check(facts())).allowed).toBe(true);
    const other = limiter(tiers);
    expect((await other.check(facts())).status).toBe(429);
    clock.advance(5_000);
    expect((await other.check(facts())).allowed).toBe(true);
  });

  test('usage reads every limit without charging, and knows no unknown key', async () => {
    const l = limiter({
      free: {
        api: [
          { limit: 10, windowMs: 1_000 },
          { limit: 1_000, per: 'month', timeZone: 'Europe/Berlin' },
          { concurrency: 3 },
        ],
        events: { limit: 500, windowMs: 60_000, burst: 50 },
      },
    });
    expect(await l.usage('nobody')).toBeNull();
    const before = await l.usage(KEY);
    expect(await l.usage(KEY)).toEqual(before);
    expect(before).toEqual({
      tier: 'free',
      policies: {
        api: [
          {
            algorithm: 'fixed-window',
            name: 'api.1s',
            limit: 10,
            remaining: 10,
            resetAt: expect.any(Number),
            windowMs: 1_000,
          },
          {
            algorithm: 'calendar',
            name: 'api.month-Europe/Berlin',
            limit: 1_000,
            remaining: 1_000,
            resetAt: Date.UTC(2025, 0, 31, 23),
            per: 'month',
            timeZone: 'Europe/Berlin',
          },
          {
            algorithm: 'concurrency',
            name: 'api.concurrency',
            limit: 3,
            remaining: 3,
            resetAt: clock.time,
            concurrency: 3,
          },
        ],
        events: [
          { algorithm: 'token-bucket', name: 'events', limit: 50, remaining: 50, resetAt: clock.time, windowMs: 6_000 },
        ],
      },
    });
    const decision = await l.check(facts());
    await l.check(facts(), { policy: 'events', cost: 20 });
    const after = await l.usage(KEY);
    expect(after?.policies.api?.map((limit) => limit.remaining)).toEqual([9, 999, 2]);
    expect(after?.policies.events?.[0]?.remaining).toBe(30);
    decision.release();
  });

  test('a batch larger than the smallest limit of its policy is a 413 naming that limit', async () => {
    const l = limiter({
      free: {
        events: [
          { limit: 500, windowMs: 60_000, burst: 50 },
          { limit: 40, per: 'hour' },
        ],
      },
    });
    const tooBig = await l.check(facts(), { policy: 'events', cost: 45 });
    expect(tooBig.status).toBe(413);
    expect(tooBig.body).toMatchObject({ error: { details: { cost: 45, limit: 40, policy: 'events.hour' } } });
    expect((await l.check(facts(), { policy: 'events', cost: 40 })).allowed).toBe(true);
  });

  test('a policy of false charges the per-IP limit only, and still needs a valid key', async () => {
    const l = limiter({ free: { api: { limit: 1, windowMs: 60_000 } } }, { ip: { limit: 3, windowMs: 60_000 } });
    expect((await l.check(facts())).allowed).toBe(true);
    const usagePage = await l.check(facts(), { policy: false });
    expect(usagePage.allowed).toBe(true);
    expect(usagePage.policies.map((outcome) => outcome.name)).toEqual(['ip']);
    expect((await l.check(facts('198.51.100.1', 'nobody'), { policy: false })).status).toBe(401);
  });

  test('per-customer limits change one limit of a policy by naming it, or replace the array', async () => {
    const tiers = {
      free: {
        api: [
          { limit: 10, windowMs: 1_000 },
          { limit: 2, per: 'month' as const },
        ],
      },
    };
    const l = limiter(tiers, {
      resolveTier: (key) => (key === 'k-free' ? { tier: 'free', limits: { api: { limit: 3, per: 'month' } } } : null),
    });
    expect((await send(l, 4)).map((d) => d.status)).toEqual([200, 200, 200, 429]);
    await expect(l.setOverride({ apiKey: KEY }, { limits: { api: { limit: 5 } } })).rejects.toThrow(
      '`override.limits.api` must name one limit of the policy by what it counts',
    );
  });
});

describe('configuration', () => {
  const make = (api: unknown) => () =>
    createRateLimiter({ resolveTier, tiers: { free: { api } } as unknown as TierMap });

  test.each([
    [[], 'Expected `tiers.free.api` to be a limit or a non-empty array of limits, got an array.'],
    [
      [
        { limit: 1, windowMs: 60_000 },
        { limit: 2, windowMs: 60_000 },
      ],
      '`tiers.free.api[1]` counts the same thing as `tiers.free.api[0]` (both are `api.1m`); keep one of them.',
    ],
    [
      { limit: 1, windowMs: 1_000, algorithm: 'sliding-window', burst: 5 },
      'Expected `tiers.free.api.burst` to be no burst',
    ],
    [
      { limit: 1, windowMs: 1_000, algorithm: 'leaky' },
      "Expected `tiers.free.api.algorithm` to be 'fixed-window', 'sliding-window' or 'token-bucket', got \"leaky\"",
    ],
    [[{ limit: 1, per: 'week' }], "Expected `tiers.free.api[0].per` to be 'hour', 'day' or 'month', got \"week\""],
    [
      { limit: 1, per: 'day', timeZone: 'Mars/Olympus' },
      'Expected `tiers.free.api.timeZone` to be an IANA time zone name',
    ],
    [{ limit: 1, per: 'day', windowMs: 1_000 }, 'windowMs'],
    [{ concurrency: 0 }, 'Expected `tiers.free.api.concurrency` to be a positive integer, got 0'],
    [
      { concurrency: 2, leaseMs: 10 },
      'Expected `tiers.free.api.leaseMs` to be an integer from 1000 to 86400000, got 10',
    ],
  ])('%j is refused at construction', (api, message) => {
    expect(make(api)).toThrow(message);
  });

  test('the per-IP limit is a window limit', () => {
    expect(() => createRateLimiter({ resolveTier, ip: { limit: 1, per: 'day' } as never })).toThrow(
      'Unknown option `ip.per`',
    );
  });

  test('IETF fields list every limit; draft-10 says when a bucket has its next unit', async () => {
    const clock = new ManualClock();
    const options = (standard: 'draft-8' | 'draft-10'): RateLimiterOptions => ({
      resolveTier,
      now: clock.now,
      ip: false,
      headers: { standard },
      tiers: {
        free: {
          api: [{ limit: 10, windowMs: 1_000 }, { limit: 1_000, per: 'month' }, { concurrency: 5 }],
          events: { limit: 600, windowMs: 60_000, burst: 60 },
        },
      },
    });
    const draft8 = createRateLimiter(options('draft-8'));
    const api = await draft8.check(facts());
    expect(api.headers['RateLimit-Policy']).toMatch(
      /^"api\.1s";q=10;w=1;pk=:[^:]+:, "api\.month";q=1000;w=2678400;pk=:[^:]+:, "api\.concurrency";q=5;qu="concurrent-requests";pk=:[^:]+:$/,
    );
    expect(api.headers.RateLimit).toMatch(
      /^"api\.1s";r=9;t=1;pk=:[^:]+:, "api\.month";r=999;t=\d+;pk=:[^:]+:, "api\.concurrency";r=4;pk=:[^:]+:$/,
    );
    api.release();
    // A bucket of 60 refilling 600 a minute: one unit every 100 ms, full again after 6 s.
    const events8 = await draft8.check(facts(), { policy: 'events', cost: 60 });
    expect(events8.headers.RateLimit).toMatch(/^"events";r=0;t=6;/);
    const draft10 = createRateLimiter(options('draft-10'));
    const events10 = await draft10.check(facts(), { policy: 'events', cost: 60 });
    expect(events10.headers.RateLimit).toMatch(/^"events";r=0;t=1;/);
    expect(events10.headers['Retry-After']).toBeUndefined();
    const refused = await draft10.check(facts(), { policy: 'events', cost: 10 });
    expect(refused.headers['Retry-After']).toBe('1');
    expect(refused.headers.RateLimit).toMatch(/^"events";r=0;t=1;/);
  });
});
