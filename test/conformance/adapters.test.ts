/**
 * One suite, every adapter: the same cases run against the minimal app of Express, Koa and
 * Fastify (newest and older majors; test/support/minimal-apps) over real HTTP on
 * 127.0.0.1, each built from a limiter the case made. The demos keep their own tests
 * (test/examples), so a change to a demo cannot change what the adapters are held to
 * (issue 14). Time is injected, so windows and buckets move when the test says, never by
 * sleeping.
 */
import {
  createRateLimiter,
  memoryStore,
  type RateLimiter,
  type RateLimiterOptions,
  type TierResolver,
} from '@tierlimit/core';
import request from 'supertest';
import { ManualClock } from '../support/clock';
import { type MinimalApp, minimalTargets } from '../support/minimal-apps';

const FREE_KEY = 'key-free';
const ISO_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/** The suite's own keys; every limiter resolves them unless a case says otherwise. The tiers are the defaults. */
const testTiers: TierResolver = (key) =>
  ({
    [FREE_KEY]: 'free',
    'free-a': 'free',
    'free-b': 'free',
    'starter-a': 'starter',
    sk_live_0123456789abcdef: 'pro',
  })[key] ?? null;

/**
 * Which proxies the app trusts for the client address: `false` (the socket address),
 * `'loopback'` (one hop from a loopback proxy), `true` (every proxy: unsafe, so the
 * limiter warns).
 */
type Trust = false | 'loopback' | true;

function events(count: number) {
  return { events: Array.from({ length: count }, (_, i) => ({ name: 'page_view', i })) };
}

describe.each(minimalTargets)('$name', (target) => {
  let clock: ManualClock;
  let server: MinimalApp | undefined;

  /**
   * A limiter on the test's clock and keys. Koa can only trust proxies by hop count, so
   * there the limiter trusts the loopback proxy by address (`trustedProxies`); Express and
   * Fastify use their own setting, which the adapter passes on.
   */
  function limiterOf(options: RateLimiterOptions = {}, trust: Trust = false): RateLimiter {
    const own = trust === 'loopback' && target.framework === 'koa' ? { trustedProxies: ['loopback'] } : {};
    return createRateLimiter({ resolveTier: testTiers, now: clock.now, ...own, ...options });
  }

  async function serve(limiter: RateLimiter, trust: Trust = false) {
    const byAddress = trust === 'loopback' && target.framework === 'koa';
    server = await target.start({ limiter, ...(trust === false || byAddress ? {} : { trustProxy: trust }) });
    return request(server.url);
  }

  function start(options: RateLimiterOptions = {}, trust: Trust = false) {
    return serve(limiterOf(options, trust), trust);
  }

  beforeEach(() => {
    clock = new ManualClock();
  });

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  test('an allowed request carries X-RateLimit-* of its tier', async () => {
    const api = await start();
    const res = await api.get('/api/players').set('X-API-Key', FREE_KEY);
    expect(res.status).toBe(200);
    expect(res.headers['x-ratelimit-limit']).toBe('100');
    expect(res.headers['x-ratelimit-remaining']).toBe('99');
    expect(res.headers['x-ratelimit-reset']).toBe(String((ManualClock.START + 60_000) / 1000));
    expect(res.headers['retry-after']).toBeUndefined();
  });

  test('the 101st request of a free key gets the exact 429 of SPEC section 2', async () => {
    const api = await start();
    for (let i = 1; i <= 100; i++) {
      const res = await api.get('/api/players').set('X-API-Key', FREE_KEY);
      expect(res.status).toBe(200);
      expect(res.headers['x-ratelimit-remaining']).toBe(String(100 - i));
    }
    clock.advance(1_500);
    const res = await api.get('/api/players').set('X-API-Key', FREE_KEY).set('X-Request-Id', 'req-abc123');
    expect(res.status).toBe(429);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['retry-after']).toBe('59');
    expect(res.headers['x-ratelimit-limit']).toBe('100');
    expect(res.headers['x-ratelimit-remaining']).toBe('0');
    expect(res.headers['x-ratelimit-reset']).toBe(String((ManualClock.START + 60_000) / 1000));
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['x-request-id']).toBe('req-abc123');
    expect(res.body).toEqual({
      error: {
        code: 'RATE_LIMITED',
        message: 'Rate limit exceeded. Retry after 59 seconds.',
        details: { limit: 100, window: '1 minute', retryAfter: 59, policy: 'api' },
        requestId: 'req-abc123',
        timestamp: '2025-01-21T10:00:01Z',
      },
    });

    clock.advance(58_500);
    const again = await api.get('/api/players').set('X-API-Key', FREE_KEY);
    expect(again.status).toBe(200);
    expect(again.headers['x-ratelimit-remaining']).toBe('99');
  });

  test('a 429 without an incoming request id gets a fresh one, echoed in X-Request-Id', async () => {
    const api = await start({ tiers: { free: { api: { limit: 1, windowMs: 60_000 }, events: false } } });
    await api.get('/api/players').set('X-API-Key', FREE_KEY).expect(200);
    const res = await api.get('/api/players').set('X-API-Key', FREE_KEY).set('X-Request-Id', 'bad id\twith tab');
    expect(res.status).toBe(429);
    expect(res.body.error.requestId).toMatch(/^req-[0-9a-f-]{36}$/);
    expect(res.headers['x-request-id']).toBe(res.body.error.requestId);
    expect(res.body.error.timestamp).toMatch(ISO_SECONDS);
  });

  test('tiers are independent per key', async () => {
    const api = await start();
    for (let i = 0; i < 100; i++) await api.get('/api/players').set('X-API-Key', 'free-a').expect(200);
    await api.get('/api/players').set('X-API-Key', 'free-a').expect(429);
    const other = await api.get('/api/players').set('X-API-Key', 'free-b');
    expect(other.status).toBe(200);
    expect(other.headers['x-ratelimit-remaining']).toBe('99');
    const starter = await api.get('/api/players').set('X-API-Key', 'starter-a');
    expect(starter.headers['x-ratelimit-limit']).toBe('500');
    expect(starter.headers['x-ratelimit-remaining']).toBe('499');
  });

  test('the IP limit applies across all keys and tiers', async () => {
    const api = await start({ ip: { limit: 3, windowMs: 60_000 } });
    await api.get('/api/players').set('X-API-Key', 'free-a').expect(200);
    await api.get('/api/players').set('X-API-Key', 'free-b').expect(200);
    const third = await api.get('/api/players').set('X-API-Key', 'starter-a').expect(200);
    // Closest to exhaustion: the IP policy, 0 left of 3.
    expect(third.headers['x-ratelimit-limit']).toBe('3');
    expect(third.headers['x-ratelimit-remaining']).toBe('0');
    const denied = await api.get('/api/players').set('X-API-Key', 'free-a');
    expect(denied.status).toBe(429);
    expect(denied.body.error.details).toEqual({ limit: 3, window: '1 minute', retryAfter: 60, policy: 'ip' });
    // The key's own quota was not charged by the request the IP policy denied.
    clock.advance(60_000);
    const next = await api.get('/api/players').set('X-API-Key', 'free-a');
    expect(next.status).toBe(200);
  });

  test('event bucket: a burst of 50, then 429 with Retry-After 1, then continuous refill', async () => {
    const api = await start();
    const burst = await api.post('/api/events/batch').set('X-API-Key', FREE_KEY).send(events(50));
    expect(burst.status).toBe(202);
    expect(burst.body).toEqual({ accepted: 50 });
    expect(burst.headers['x-ratelimit-limit']).toBe('50');
    expect(burst.headers['x-ratelimit-remaining']).toBe('0');
    expect(burst.headers['x-ratelimit-reset']).toBe(String((ManualClock.START + 6_000) / 1000));

    const denied = await api.post('/api/events').set('X-API-Key', FREE_KEY).send({ name: 'signup' });
    expect(denied.status).toBe(429);
    expect(denied.headers['retry-after']).toBe('1');
    expect(denied.body.error.details).toEqual({ limit: 50, window: '6 seconds', retryAfter: 1, policy: 'events' });

    // 500 per minute refills one event every 120 ms.
    clock.advance(119);
    await api.post('/api/events').set('X-API-Key', FREE_KEY).send({ name: 'signup' }).expect(429);
    clock.advance(1);
    await api.post('/api/events').set('X-API-Key', FREE_KEY).send({ name: 'signup' }).expect(202);
    clock.advance(6_000);
    const full = await api.post('/api/events/batch').set('X-API-Key', FREE_KEY).send(events(50));
    expect(full.status).toBe(202);
  });

  test('a batch costs one token per event', async () => {
    const api = await start();
    const res = await api.post('/api/events/batch').set('X-API-Key', FREE_KEY).send(events(10));
    expect(res.status).toBe(202);
    expect(res.headers['x-ratelimit-remaining']).toBe('40');
    const one = await api.post('/api/events').set('X-API-Key', FREE_KEY).send({ name: 'click' });
    expect(one.headers['x-ratelimit-remaining']).toBe('39');
  });

  test('event endpoints use the event bucket, not the API request limit', async () => {
    const api = await start({
      tiers: { free: { api: { limit: 2, windowMs: 60_000 }, events: { limit: 500, windowMs: 60_000, burst: 50 } } },
    });
    for (let i = 0; i < 5; i++)
      await api.post('/api/events').set('X-API-Key', FREE_KEY).send({ name: 'x' }).expect(202);
    const res = await api.get('/api/players').set('X-API-Key', FREE_KEY);
    expect(res.status).toBe(200);
    expect(res.headers['x-ratelimit-remaining']).toBe('1');
  });

  test('a batch larger than the burst gets 413, no Retry-After, and is not charged', async () => {
    const api = await start();
    const res = await api.post('/api/events/batch').set('X-API-Key', FREE_KEY).send(events(51));
    expect(res.status).toBe(413);
    expect(res.headers['retry-after']).toBeUndefined();
    expect(res.headers['x-ratelimit-limit']).toBe('50');
    expect(res.headers['x-ratelimit-remaining']).toBe('50');
    expect(res.body.error).toMatchObject({
      code: 'BATCH_TOO_LARGE',
      details: { cost: 51, limit: 50, policy: 'events' },
    });
    await api.post('/api/events/batch').set('X-API-Key', FREE_KEY).send(events(50)).expect(202);
  });

  test.each([
    ['a non-array batch', { events: 'x' }, 'INVALID_BATCH'],
    ['an empty batch', { events: [] }, 'INVALID_BATCH'],
    ['a body that is an array', [{ name: 'a' }], 'INVALID_BATCH'],
  ])('%s gets 400 in the JSON error shape and charges nothing', async (_label, body, code) => {
    const api = await start();
    const res = await api
      .post('/api/events/batch')
      .set('X-API-Key', FREE_KEY)
      .send(body as object);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.requestId).toEqual(expect.any(String));
    const after = await api.post('/api/events').set('X-API-Key', FREE_KEY).send({ name: 'x' });
    expect(after.headers['x-ratelimit-remaining']).toBe('49');
  });

  test('a body that is not JSON gets 400 INVALID_JSON in the JSON error shape', async () => {
    const api = await start();
    const res = await api
      .post('/api/events/batch')
      .set('X-API-Key', FREE_KEY)
      .set('Content-Type', 'application/json')
      .send('{"events": [');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('INVALID_JSON');
    expect(res.body.error.message).not.toContain('events');
  });

  test('a missing or unknown key gets 401 UNAUTHORIZED, and the IP limit still counts it', async () => {
    const api = await start({ ip: { limit: 3, windowMs: 60_000 } });
    const missing = await api.get('/api/players');
    expect(missing.status).toBe(401);
    expect(missing.body.error.code).toBe('UNAUTHORIZED');
    expect(missing.headers['x-ratelimit-remaining']).toBe('2');
    const unknown = await api.get('/api/players').set('X-API-Key', 'sk_guess_123');
    expect(unknown.status).toBe(401);
    expect(JSON.stringify(unknown.body)).not.toContain('sk_guess_123');
    expect(unknown.headers['x-ratelimit-remaining']).toBe('1');
    await api.get('/api/players').set('X-API-Key', FREE_KEY).expect(200);
    const limited = await api.get('/api/players').set('X-API-Key', 'sk_guess_123');
    expect(limited.status).toBe(429);
    expect(limited.body.error.details.policy).toBe('ip');
  });

  test.each([
    ['too long', 'k'.repeat(257)],
    ['with a space', 'demo free'],
    ['with non-ASCII', 'demo-frée'],
  ])('an API key %s gets 400 INVALID_API_KEY and is never echoed', async (_label, key) => {
    const api = await start();
    const res = await api.get('/api/players').set('X-API-Key', key);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('INVALID_API_KEY');
    expect(JSON.stringify(res.body)).not.toContain(key);
  });

  test('/health is not limited and carries no rate-limit headers', async () => {
    const api = await start({ ip: { limit: 1, windowMs: 60_000 } });
    for (let i = 0; i < 3; i++) {
      const res = await api.get('/health');
      expect(res.status).toBe(200);
      expect(res.headers['x-ratelimit-limit']).toBeUndefined();
    }
  });

  test('X-Forwarded-For is ignored unless trust proxy is configured', async () => {
    const api = await start({ ip: { limit: 2, windowMs: 60_000 } });
    for (const ip of ['203.0.113.1', '203.0.113.2']) {
      await api.get('/api/players').set('X-API-Key', FREE_KEY).set('X-Forwarded-For', ip).expect(200);
    }
    const res = await api.get('/api/players').set('X-API-Key', FREE_KEY).set('X-Forwarded-For', '203.0.113.3');
    expect(res.status).toBe(429);
    expect(res.body.error.details.policy).toBe('ip');
  });

  test('with trust proxy set to a loopback proxy, each forwarded client has its own IP bucket', async () => {
    const api = await start({ ip: { limit: 2, windowMs: 60_000 } }, 'loopback');
    for (const ip of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) {
      for (let i = 0; i < 2; i++) {
        await api.get('/api/players').set('X-API-Key', FREE_KEY).set('X-Forwarded-For', ip).expect(200);
      }
    }
    await api.get('/api/players').set('X-API-Key', FREE_KEY).set('X-Forwarded-For', '203.0.113.1').expect(429);
  });

  test('IPv6 clients are grouped by /56 subnet; IPv4-mapped addresses count as IPv4', async () => {
    const api = await start({ ip: { limit: 2, windowMs: 60_000 } }, 'loopback');
    const get = (ip: string) => api.get('/api/players').set('X-API-Key', FREE_KEY).set('X-Forwarded-For', ip);
    await get('2001:db8:0:1::1').expect(200);
    await get('2001:db8:0:2::9').expect(200);
    await get('2001:db8:0:ff:ffff::1').expect(429);
    await get('2001:db8:0:100::1').expect(200);

    await get('198.51.100.7').expect(200);
    await get('::ffff:198.51.100.7').expect(200);
    await get('::ffff:c633:6407').expect(429);
    await get('::ffff:198.51.100.8').expect(200);
  });

  test.each([
    [true, undefined, ['TL_PERMISSIVE_TRUST_PROXY']],
    [false, undefined, ['TL_UNTRUSTED_FORWARDED_FOR']],
    ['loopback', undefined, []],
    [true, { permissiveTrustProxy: false }, []],
  ] as const)('trust proxy %p: runtime checks warn once with a stable code (%p)', async (trust, validations, codes) => {
    const warnings: string[] = [];
    const api = await start(
      { onWarning: (warning) => warnings.push(warning.code), ...(validations ? { validations } : {}) },
      trust,
    );
    for (const ip of ['203.0.113.1', '203.0.113.2']) {
      await api.get('/api/players').set('X-API-Key', FREE_KEY).set('X-Forwarded-For', ip).expect(200);
    }
    expect(warnings).toEqual(codes);
  });

  test('an override raises a key’s limit on the running server and ends on time', async () => {
    const limiter = limiterOf();
    const api = await serve(limiter);
    expect((await api.get('/api/players').set('X-API-Key', FREE_KEY)).headers['x-ratelimit-limit']).toBe('100');
    await limiter.setOverride(
      { apiKey: FREE_KEY },
      { limits: { api: { limit: 250 } }, expiresAt: clock.now() + 60_000 },
    );
    const raised = await api.get('/api/players').set('X-API-Key', FREE_KEY);
    expect(raised.headers['x-ratelimit-limit']).toBe('250');
    expect(raised.headers['x-ratelimit-remaining']).toBe('248');
    clock.advance(60_000);
    expect((await api.get('/api/players').set('X-API-Key', FREE_KEY)).headers['x-ratelimit-limit']).toBe('100');
  });

  test('a key hammering past its limit is suspended, then recovers; an operator can lift it', async () => {
    const limiter = limiterOf({
      suspension: { threshold: 3, durationMs: 120_000 },
      tiers: { free: { api: { limit: 2, windowMs: 60_000 }, events: false } },
    });
    const api = await serve(limiter);
    const statuses: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await api.get('/api/players').set('X-API-Key', FREE_KEY);
      statuses.push(res.status === 200 ? '200' : res.body.error.code);
    }
    expect(statuses).toEqual(['200', '200', 'RATE_LIMITED', 'RATE_LIMITED', 'SUSPENDED', 'SUSPENDED']);
    const suspended = await api.get('/api/players').set('X-API-Key', FREE_KEY);
    expect(suspended.headers['retry-after']).toBe('120');
    clock.advance(120_000);
    expect((await api.get('/api/players').set('X-API-Key', FREE_KEY)).status).toBe(200);
    for (let i = 0; i < 5; i++) await api.get('/api/players').set('X-API-Key', FREE_KEY);
    expect(await limiter.liftSuspension({ apiKey: FREE_KEY })).toBe(true);
    clock.advance(60_000);
    expect((await api.get('/api/players').set('X-API-Key', FREE_KEY)).status).toBe(200);
  });

  test('shadow mode never blocks, and says what it would have done', async () => {
    const api = await start({ shadow: true, tiers: { free: { api: { limit: 1, windowMs: 60_000 }, events: false } } });
    for (let i = 0; i < 3; i++) {
      const res = await api.get('/api/players').set('X-API-Key', FREE_KEY);
      expect(res.status).toBe(200);
      expect(res.headers['x-ratelimit-shadow']).toBe(i === 0 ? undefined : 'api');
    }
  });

  test('errorFormat problem: 429 as application/problem+json; IETF draft-8 fields alongside', async () => {
    const api = await start({
      errorFormat: 'problem',
      headers: { standard: 'draft-8' },
      tiers: { free: { api: { limit: 1, windowMs: 60_000 }, events: false } },
    });
    const first = await api.get('/api/players').set('X-API-Key', FREE_KEY);
    expect(first.headers.ratelimit).toMatch(
      /^"ip";r=9999;t=60;pk=:[A-Za-z0-9+/=]+:, "api";r=0;t=60;pk=:[A-Za-z0-9+/=]+:$/,
    );
    expect(first.headers['ratelimit-policy']).toMatch(/^"ip";q=10000;w=60;pk=:.+:, "api";q=1;w=60;pk=:.+:$/);
    const denied = await api.get('/api/players').set('X-API-Key', FREE_KEY);
    expect(denied.status).toBe(429);
    expect(denied.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(denied.text)).toMatchObject({
      type: 'about:blank',
      status: 429,
      code: 'RATE_LIMITED',
      retryAfter: 60,
    });
  });

  test('no raw API key ever reaches the store', async () => {
    const store = memoryStore({ now: clock.now });
    const secret = 'sk_live_0123456789abcdef';
    const api = await start({ store });
    await api.get('/api/players').set('X-API-Key', secret).expect(200);
    await api.post('/api/events').set('X-API-Key', secret).send({ name: 'x' }).expect(202);
    await api.get('/api/players').set('X-API-Key', 'unknown-key').expect(401);
    const keys = [...store.keys()];
    // The IP's count, the key's two policies, and the IP's unknown-key count: no key of its own for 'unknown-key'.
    expect(keys).toHaveLength(4);
    for (const key of keys) {
      expect(key).not.toContain(secret);
      expect(key).not.toContain('unknown-key:');
      expect(key).toMatch(/^((ip|unknown-keys):i127\.0\.0\.1|(api|events):h[A-Za-z0-9_-]{22})$/);
    }
  });
});
