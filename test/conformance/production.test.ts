/**
 * Promises that broke when tierlimit ran the way users run it (issue 13), on every
 * framework major, over real HTTP on 127.0.0.1, with minimal apps (test/support/minimal-apps):
 * proxies that append ports, address-based proxy trust, a fatal trust setting, a limiter
 * mounted twice, refusing before the body is read, a cost function with a bug, Fastify's
 * not-found handler.
 */
import { request as httpRequest } from 'node:http';
import {
  createRateLimiter,
  type ErrorBody,
  type RateLimiter,
  type RateLimiterOptions,
  type Warning,
} from '@tierlimit/core';
import request from 'supertest';
import { ManualClock } from '../support/clock';
import { type MinimalApp, type MinimalAppOptions, minimalTargets } from '../support/minimal-apps';

const KEY = 'key-free';
const tiers = {
  free: { api: { limit: 100, windowMs: 60_000 }, events: { limit: 60, windowMs: 60_000, burst: 5 } },
};

function events(count: number) {
  return { events: Array.from({ length: count }, (_, i) => ({ name: 'tick', i })) };
}

describe.each(minimalTargets)('$name', (target) => {
  let clock: ManualClock;
  let app: MinimalApp | undefined;
  let warnings: Warning[];

  function limiterOf(options: RateLimiterOptions = {}): RateLimiter {
    return createRateLimiter({
      tiers,
      resolveTier: (key) => (key === KEY ? 'free' : null),
      now: clock.now,
      onWarning: (warning) => warnings.push(warning),
      ...options,
    });
  }

  async function start(options: Partial<MinimalAppOptions> & { limiter?: RateLimiter } = {}) {
    app = await target.start({ limiter: options.limiter ?? limiterOf(), ...options } as MinimalAppOptions);
    return request(app.url);
  }

  beforeEach(() => {
    clock = new ManualClock();
    warnings = [];
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  /** The framework's setting that trusts exactly the loopback proxy, by address. */
  const trustLoopback = target.framework === 'koa' ? undefined : 'loopback';
  /** The limiter option that does the same where the framework cannot (Koa). */
  const ownTrust = target.framework === 'koa' ? { trustedProxies: ['loopback'] } : {};

  describe('client identity behind proxies', () => {
    test.each([
      ['203.0.113.7:51234', '203.0.113.8:51234'],
      ['[2001:db8::1]:443', '[2001:db8:1::1]:443'],
      ['[2001:db8::1]', '[2001:db8:1::1]'],
    ])('a proxy that appends a port (%s, %s) gives each client its own bucket', async (first, second) => {
      const api = await start({
        limiter: limiterOf({ ip: { limit: 2, windowMs: 60_000 }, ...ownTrust }),
        ...(trustLoopback === undefined ? {} : { trustProxy: trustLoopback }),
      });
      const get = (forwarded: string) =>
        api.get('/api/players').set('X-API-Key', KEY).set('X-Forwarded-For', forwarded);
      await get(first).expect(200);
      await get(first).expect(200);
      await get(first).expect(429);
      await get(second).expect(200);
      expect(warnings.map((w) => w.code)).toEqual([]);
    });

    test('an address that cannot be parsed falls back to the connection peer, never a shared bucket, and warns once', async () => {
      const api = await start({
        limiter: limiterOf({ ip: { limit: 2, windowMs: 60_000 }, ...ownTrust }),
        ...(trustLoopback === undefined ? {} : { trustProxy: trustLoopback }),
      });
      // The peer is the loopback proxy: an unparsable entry is counted as the proxy itself.
      await api.get('/api/players').set('X-API-Key', KEY).set('X-Forwarded-For', 'not-an-address').expect(200);
      await api.get('/api/players').set('X-API-Key', KEY).expect(200);
      await api.get('/api/players').set('X-API-Key', KEY).expect(429);
      await api.get('/api/players').set('X-API-Key', KEY).set('X-Forwarded-For', '203.0.113.9').expect(200);
      expect(warnings.map((w) => w.code)).toEqual(['TL_UNPARSABLE_CLIENT_IP']);
    });

    test('trustedProxies: a client that connects directly cannot choose its address with X-Forwarded-For', async () => {
      // The app trusts proxies by hop count; the limiter trusts only 10.0.0.0/8, and the
      // test client connects from 127.0.0.1, so its own X-Forwarded-For entries are ignored.
      const api = await start({
        limiter: limiterOf({ ip: { limit: 2, windowMs: 60_000 }, trustedProxies: ['10.0.0.0/8'] }),
        trustProxy: 1,
      });
      for (const spoofed of ['198.51.100.1', '198.51.100.2']) {
        await api.get('/api/players').set('X-API-Key', KEY).set('X-Forwarded-For', spoofed).expect(200);
      }
      await api.get('/api/players').set('X-API-Key', KEY).set('X-Forwarded-For', '198.51.100.3').expect(429);
    });

    test('trustedProxies: behind a trusted proxy, each forwarded client has its own bucket, walked right to left', async () => {
      const api = await start({
        limiter: limiterOf({ ip: { limit: 1, windowMs: 60_000 }, trustedProxies: ['loopback', '10.0.0.0/8'] }),
      });
      const get = (forwarded: string) =>
        api.get('/api/players').set('X-API-Key', KEY).set('X-Forwarded-For', forwarded);
      // The client wrote 192.0.2.66 itself; 198.51.100.1 was appended by the 10.1.2.3 proxy.
      await get('192.0.2.66, 198.51.100.1, 10.1.2.3:8443').expect(200);
      await get('192.0.2.67, 198.51.100.1, 10.1.2.3').expect(429);
      await get('198.51.100.2, 10.1.2.3').expect(200);
    });

    test('hop-count trust without trustedProxies is reported once per process with a stable code', async () => {
      if (target.framework !== 'koa' && target.framework !== 'express') return;
      const sink = (warning: Warning) => warnings.push(warning);
      const first = limiterOf({ onWarning: sink });
      const second = limiterOf({ onWarning: sink });
      const api = await start({ limiter: first, trustProxy: 1 });
      await api.get('/api/players').set('X-API-Key', KEY).expect(200);
      await app?.close();
      const again = await start({ limiter: second, trustProxy: 1 });
      await again.get('/api/players').set('X-API-Key', KEY).expect(200);
      expect(warnings.map((w) => w.code)).toEqual(['TL_HOP_COUNT_TRUST']);
    });
  });

  describe('a permissive trust setting', () => {
    test('warns once per process in the default mode, however many limiters see it', async () => {
      const sink = (warning: Warning) => warnings.push(warning);
      const options = { onWarning: sink } as const;
      const api = await start({ limiter: limiterOf(options), trustProxy: true });
      await api.get('/api/players').set('X-API-Key', KEY).expect(200);
      await app?.close();
      const again = await start({ limiter: limiterOf(options), trustProxy: true });
      await again.get('/api/players').set('X-API-Key', KEY).expect(200);
      expect(warnings.map((w) => w.code)).toEqual(['TL_PERMISSIVE_TRUST_PROXY']);
    });

    test("is fatal with validations.permissiveTrustProxy 'error', as early as the framework allows", async () => {
      const limiter = limiterOf({ validations: { permissiveTrustProxy: 'error' } });
      if (target.framework === 'fastify') {
        await expect(start({ limiter, trustProxy: true })).rejects.toMatchObject({
          code: 'TL_PERMISSIVE_TRUST_PROXY',
        });
        return;
      }
      // Express and Koa show the setting only to a request: every request fails until it is fixed.
      const api = await start({ limiter, trustProxy: true });
      for (let i = 0; i < 2; i++) expect((await api.get('/api/players').set('X-API-Key', KEY)).status).toBe(500);
      expect(warnings).toEqual([]);
    });
  });

  describe('one request, one limiter, each policy charged at most once', () => {
    test('mounted app-wide and on the route, a request pays the per-IP and api policies once', async () => {
      if (target.framework === 'fastify') return; // one hook per route: nothing to mount twice
      const api = await start({ limiter: limiterOf({ ip: { limit: 10, windowMs: 60_000 } }), appWide: true });
      const first = await api.get('/api/players').set('X-API-Key', KEY).expect(200);
      expect(first.headers['x-ratelimit-remaining']).toBe('9'); // ip: 10 - 1, closest to exhaustion
      const second = await api.get('/api/players').set('X-API-Key', KEY).expect(200);
      expect(second.headers['x-ratelimit-remaining']).toBe('8');
    });

    test('a route-level refusal gives back what the app-wide mount charged', async () => {
      if (target.framework === 'fastify') return;
      const api = await start({ limiter: limiterOf({ ip: { limit: 10, windowMs: 60_000 } }), appWide: true });
      await api.post('/api/events/batch').set('X-API-Key', KEY).send(events(5)).expect(202);
      // The bucket is empty: refused, and the app-wide charges (ip, api) are refunded.
      for (let i = 0; i < 3; i++) await api.post('/api/events/batch').set('X-API-Key', KEY).send(events(1)).expect(429);
      const after = await api.get('/api/players').set('X-API-Key', KEY).expect(200);
      // ip: 1 (the admitted batch) + 1 (this request) of 10.
      expect(after.headers['x-ratelimit-remaining']).toBe('8');
    });
  });

  describe('refusing before the body is read', () => {
    test('an empty bucket refuses a 10 MB batch before reading its body, charging nothing', async () => {
      const api = await start({ limiter: limiterOf({ ip: { limit: 10, windowMs: 60_000 } }) });
      await api.post('/api/events/batch').set('X-API-Key', KEY).send(events(5)).expect(202);
      // Headers promise 10 MB; only a few bytes follow. A server that reads the body first
      // would wait for the rest: the answer must come without it.
      const { status, body } = await partialBody(app as MinimalApp, '/api/events/batch', 10 * 1024 * 1024);
      expect(status).toBe(429);
      expect((JSON.parse(body) as ErrorBody).error.code).toBe('RATE_LIMITED');
      const after = await api.get('/api/players').set('X-API-Key', KEY).expect(200);
      // ip: the batch, the refused request (its per-IP unit is not charged either), this one.
      expect(after.headers['x-ratelimit-remaining']).toBe('8');
      clock.advance(1_000);
      await api.post('/api/events/batch').set('X-API-Key', KEY).send(events(1)).expect(202);
    });
  });

  test('a cost function that returns a non-integer is a JSON 500 with a generic message and a warning naming the route', async () => {
    const api = await start();
    const res = await api.post('/api/buggy').set('X-API-Key', KEY).send({});
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body.error).toMatchObject({
      code: 'INTERNAL_ERROR',
      message: 'The server could not process this request.',
    });
    expect(JSON.stringify(res.body)).not.toMatch(/cost|2\.5/);
    expect(warnings.map((w) => w.code)).toEqual(['TL_INVALID_COST']);
    expect(warnings[0]?.message).toMatch(/POST \/api\/buggy/);
  });

  if (target.framework === 'fastify') {
    test('requests that match no route are limited like any route', async () => {
      const api = await start({ limiter: limiterOf({ ip: { limit: 2, windowMs: 60_000 } }) });
      await api.get('/wp-admin').set('X-API-Key', KEY).expect(404);
      await api.get('/.env').set('X-API-Key', KEY).expect(404);
      const refused = await api.get('/backup.zip').set('X-API-Key', KEY).expect(429);
      expect(refused.body.error.code).toBe('RATE_LIMITED');
      await api.get('/wp-admin').expect(429);
    });

    test('notFound: false leaves the not-found handler unlimited', async () => {
      const api = await start({
        limiter: limiterOf({ ip: { limit: 1, windowMs: 60_000 } }),
        fastify: { notFound: false },
      });
      for (let i = 0; i < 3; i++) await api.get('/nope').expect(404);
    });
  }
});

/**
 * Sends headers announcing `length` bytes of JSON body and only the first few bytes, then
 * waits (at most 5 s) for an answer that does not need the rest.
 */
function partialBody(app: MinimalApp, path: string, length: number): Promise<{ status: number; body: string }> {
  const url = new URL(path, app.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(length), 'x-api-key': KEY },
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error('no answer within 5 s: the server waited for the body'));
    }, 5_000);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        clearTimeout(timer);
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', () => undefined);
    req.write('{"events":[');
  });
}
