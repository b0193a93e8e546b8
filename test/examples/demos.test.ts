/**
 * The demos' own tests, in two parts:
 *
 * - the demos as a user runs them: each started as its own process (the same command as
 *   `pnpm demo`, `demo:koa`, `demo:fastify` after setup), on a free port on 127.0.0.1, with
 *   the real clock. Checks the issue's "done when" list end to end.
 * - what only the demos do (their event log, their event validation), in process on the
 *   newest and older major of each framework (test/support/targets), with an injected
 *   clock. What every adapter must do is the conformance suite's, on minimal apps
 *   (test/conformance; issue 14).
 */
import request from 'supertest';
import { ManualClock } from '../support/clock';
import { type DemoProcess, startDemo, stopDemo } from '../support/demo-process';
import { type RunningServer, targets } from '../support/targets';

const events = (count: number) => ({ events: Array.from({ length: count }, (_, i) => ({ name: 'page_view', i })) });

describe.each(['express', 'koa', 'fastify'])('%s demo', (framework) => {
  let demo: DemoProcess | undefined;

  beforeAll(async () => {
    demo = await startDemo(framework);
  }, 30_000);

  afterAll(() => stopDemo(demo));

  const call = (path: string, key?: string, body?: unknown) =>
    fetch(`${demo?.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        ...(key ? { 'x-api-key': key } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? null : JSON.stringify(body),
    });

  test('prints one line and answers /health without limits', async () => {
    const res = await call('/health');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-ratelimit-limit')).toBeNull();
  });

  test('100 requests with demo-free pass; the 101st gets the exact 429', async () => {
    for (let i = 0; i < 100; i++) {
      const res = await call('/api/v1/players', 'demo-free');
      expect(res.status).toBe(200);
    }
    const res = await call('/api/v1/players', 'demo-free');
    expect(res.status).toBe(429);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(res.headers.get('x-ratelimit-limit')).toBe('100');
    expect(res.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Number(res.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
    const body = await res.json();
    expect(body).toEqual({
      error: {
        code: 'RATE_LIMITED',
        message: `Rate limit exceeded. Retry after ${retryAfter} second${retryAfter === 1 ? '' : 's'}.`,
        details: { limit: 100, window: '1 minute', retryAfter, policy: 'api' },
        requestId: res.headers.get('x-request-id'),
        timestamp: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/),
      },
    });
  });

  test('demo-starter shows X-RateLimit-Limit: 500', async () => {
    const res = await call('/api/v1/players', 'demo-starter');
    expect(res.headers.get('x-ratelimit-limit')).toBe('500');
  });

  test('a batch of 50 on demo-free passes and a following event gets 429 with Retry-After 1', async () => {
    // One token refills every 120 ms, so the event must follow the batch within 120 ms for
    // a 429 to be the right answer. On a loaded machine a sample can be slower than that:
    // such a sample is discarded and, after the bucket refills (6 s), taken again.
    for (let attempt = 1; ; attempt++) {
      const batch = await call('/api/v1/events/batch', 'demo-free', events(50));
      const sentAt = Date.now();
      expect(batch.status).toBe(202);
      const event = await call('/api/v1/events', 'demo-free', { name: 'signup' });
      if (Date.now() - sentAt < 120) {
        expect(event.status).toBe(429);
        expect(event.headers.get('retry-after')).toBe('1');
        expect(((await event.json()) as { error: { details: unknown } }).error.details).toEqual({
          limit: 50,
          window: '6 seconds',
          retryAfter: 1,
          policy: 'events',
        });
        return;
      }
      if (attempt === 3) throw new Error('three samples each took over 120 ms between two loopback requests');
      await new Promise((resolve) => setTimeout(resolve, 6_100));
    }
  }, 30_000);

  test('batches above each tier\'s burst get 413; {"events": "x"} gets 400', async () => {
    const tooBig = await call('/api/v1/events/batch', 'demo-pro', events(1_001));
    expect(tooBig.status).toBe(413);
    const free = await call('/api/v1/events/batch', 'demo-starter', events(251));
    expect(free.status).toBe(413);
    const fiftyOne = await call('/api/v1/events/batch', 'demo-enterprise', events(51));
    expect(fiftyOne.status).toBe(202);
    const bad = await call('/api/v1/events/batch', 'demo-pro', { events: 'x' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('INVALID_BATCH');
  });

  test('a batch of 51 on demo-free gets 413 (429 first, before its body is read, while the bucket is empty)', async () => {
    let res = await call('/api/v1/events/batch', 'demo-free', events(51));
    if (res.status === 429) {
      // The previous test emptied the bucket: with no room for one event the batch is
      // refused before its body is read (issue 13), so its size is not known yet.
      await new Promise((resolve) => setTimeout(resolve, Number(res.headers.get('retry-after')) * 1_000));
      res = await call('/api/v1/events/batch', 'demo-free', events(51));
    }
    expect(res.status).toBe(413);
    expect(res.headers.get('retry-after')).toBeNull();
  });

  test('a missing key gets 401 UNAUTHORIZED', async () => {
    const res = await call('/api/v1/players');
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
  });
});

describe.each(targets)('$name demo app', (target) => {
  const FREE_KEY = 'demo-free';
  let clock: ManualClock;
  let server: RunningServer | undefined;

  async function start() {
    server = await target.start({ limiter: { now: clock.now } });
    return request(server.url);
  }

  beforeEach(() => {
    clock = new ManualClock();
  });

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  test('events with an id are stored once however often they are sent; stats count them', async () => {
    const api = await start();
    const batch = { events: [1, 2, 3].map((n) => ({ id: `evt-${n}`, name: 'x' })) };
    const first = await api.post('/api/v1/events/batch').set('X-API-Key', FREE_KEY).send(batch);
    expect(first.body).toEqual({ accepted: 3, duplicates: 0 });
    const again = await api.post('/api/v1/events/batch').set('X-API-Key', FREE_KEY).send(batch);
    expect(again.body).toEqual({ accepted: 0, duplicates: 3 });
    await api.post('/api/v1/events').set('X-API-Key', FREE_KEY).send({ name: 'no id' }).expect(202);
    const stats = await api.get('/api/v1/events/stats').set('X-API-Key', FREE_KEY);
    expect(stats.status).toBe(200);
    expect(stats.body).toEqual({ received: 4, duplicates: 3 });
  });

  test.each([['an event without a name', { events: [{ name: 'ok' }, { title: 'no name' }] }, 'INVALID_EVENT']])(
    '%s gets 400 in the JSON error shape and charges nothing',
    async (_label, body, code) => {
      const api = await start();
      const res = await api.post('/api/v1/events/batch').set('X-API-Key', FREE_KEY).send(body);
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body.error.code).toBe(code);
      expect(res.body.error.requestId).toEqual(expect.any(String));
      const after = await api.post('/api/v1/events').set('X-API-Key', FREE_KEY).send({ name: 'x' });
      expect(after.headers['x-ratelimit-remaining']).toBe('49');
    },
  );
});
