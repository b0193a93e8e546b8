/**
 * Concurrency limits through every adapter (issue 14): a request holds its slot while its
 * handler runs and gives it back exactly once, when the response finishes, when the
 * handler throws (the framework's 500), or when the client goes away first. Real HTTP on
 * 127.0.0.1, against the minimal app of each framework and major.
 */
import { request as httpRequest } from 'node:http';
import { createRateLimiter, type RateLimiter } from '@tierlimit/core';
import { type MinimalApp, minimalTargets } from '../support/minimal-apps';

const KEY = 'key-slots';
const headers = { 'x-api-key': KEY };

function limiterWith(slots: number): RateLimiter {
  return createRateLimiter({
    tiers: {
      free: { api: [{ limit: 1_000, windowMs: 60_000 }, { concurrency: slots }], events: false },
    },
    resolveTier: (key) => (key === KEY ? 'free' : null),
    ip: false,
  });
}

/** Slots left, read from the store without charging. */
async function slotsLeft(limiter: RateLimiter): Promise<number | undefined> {
  return (await limiter.usage(KEY))?.policies.api?.find((limit) => limit.algorithm === 'concurrency')?.remaining;
}

/** Waits until `probe` holds, up to 2 s: the slot is given back when the server sees the close. */
async function eventually(probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the slots to come back');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe.each(minimalTargets)('$name', (target) => {
  let app: MinimalApp | undefined;
  let limiter: RateLimiter;

  async function start(slots: number, appWide = false) {
    limiter = limiterWith(slots);
    app = await target.start({ limiter, appWide });
    return app.url;
  }

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  test('requests in flight beyond the limit get a 429 with a short Retry-After; finished ones give their slot back', async () => {
    const url = await start(2);
    const slow = [fetch(`${url}/api/slow?ms=400`, { headers }), fetch(`${url}/api/slow?ms=400`, { headers })];
    await eventually(async () => (await slotsLeft(limiter)) === 0);
    const refused = await fetch(`${url}/api/players`, { headers });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.headers.get('x-ratelimit-limit')).toBe('2');
    expect(await refused.json()).toMatchObject({
      error: { code: 'RATE_LIMITED', details: { limit: 2, inFlight: true, policy: 'api.concurrency' } },
    });
    expect((await Promise.all(slow)).map((response) => response.status)).toEqual([200, 200]);
    await eventually(async () => (await slotsLeft(limiter)) === 2);
    const after = await fetch(`${url}/api/players`, { headers });
    expect(after.status).toBe(200);
    // An admitted request's X-RateLimit-* describe the window, not the slots.
    expect(after.headers.get('x-ratelimit-limit')).toBe('1000');
  });

  test('a handler that throws gives its slot back', async () => {
    const url = await start(1);
    for (let i = 0; i < 4; i++) expect((await fetch(`${url}/api/fail`, { headers })).status).toBe(500);
    await eventually(async () => (await slotsLeft(limiter)) === 1);
    expect((await fetch(`${url}/api/players`, { headers })).status).toBe(200);
  });

  test('a client that goes away before the answer gives its slot back', async () => {
    const url = new URL(await start(1));
    await new Promise<void>((resolve) => {
      const req = httpRequest({ host: url.hostname, port: url.port, path: '/api/slow?ms=3000', headers });
      req.on('error', () => resolve());
      req.end();
      // Abort once the server has admitted it (its slot is taken).
      void eventually(async () => (await slotsLeft(limiter)) === 0).then(() => {
        req.destroy();
        resolve();
      });
    });
    await eventually(async () => (await slotsLeft(limiter)) === 1);
    expect((await fetch(`${url.origin}/api/players`, { headers })).status).toBe(200);
  });

  if (target.framework !== 'fastify') {
    test('a limiter mounted twice takes one slot per request and gives it back once', async () => {
      const url = await start(1, true);
      for (let i = 0; i < 3; i++) expect((await fetch(`${url}/api/players`, { headers })).status).toBe(200);
      await eventually(async () => (await slotsLeft(limiter)) === 1);
    });
  }
});
