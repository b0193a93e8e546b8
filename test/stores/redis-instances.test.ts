/**
 * Several app instances sharing one Redis, as in production: four demo processes (two
 * Express, one Koa, one Fastify) with the same REDIS_URL, on loopback, hit concurrently.
 * Time is Redis's own here.
 */
import { type DemoProcess, startDemo, stopDemo } from '../support/demo-process';
import { describeWithRedis, RedisServer } from '../support/redis-server';

describeWithRedis('four instances sharing one Redis', () => {
  let redis: RedisServer;
  let demos: DemoProcess[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
    demos = await Promise.all(
      ['express', 'express', 'koa', 'fastify'].map((framework) => startDemo(framework, { REDIS_URL: redis.url })),
    );
    // Each freshly started process answers one request first (JIT, tier lookup): the runs
    // below measure exactness across instances, not a cold start.
    await Promise.all(
      demos.map((demo) => fetch(`${demo.url}/api/v1/players`, { headers: { 'x-api-key': 'demo-pro' } })),
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.all(demos.map(stopDemo));
    await redis?.stop();
  });

  const post = (url: string, body: unknown) =>
    fetch(url, {
      method: 'POST',
      headers: { 'x-api-key': 'demo-free', 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  test.each([1, 2, 3])('run %i: 400 concurrent requests for demo-free admit exactly 100', async () => {
    // Without a fault, exactly 100. A degraded answer means Redis did not answer within the
    // demos' 50 ms (on a 2-core machine shared with other test files it sometimes does not:
    // a real slow-store moment, answered per storeFaults); such an attempt is repeated, at
    // most twice. An over-admission without any degraded answer fails at once.
    for (let attempt = 1; ; attempt++) {
      redis.cli('FLUSHALL');
      const responses = await Promise.all(
        Array.from({ length: 400 }, (_, i) =>
          fetch(`${demos[i % demos.length]?.url}/api/v1/players`, { headers: { 'x-api-key': 'demo-free' } }),
        ),
      );
      const statuses = responses.map((response) => response.status);
      const degraded = responses.filter((response) => response.headers.get('x-ratelimit-degraded') !== null);
      if (degraded.length > 0 && attempt < 3) continue;
      expect(degraded).toHaveLength(0);
      expect(statuses.filter((s) => s === 200)).toHaveLength(100);
      expect(statuses.filter((s) => s === 429)).toHaveLength(300);
      return;
    }
  });

  test('events posted in batches for 4 seconds never exceed capacity + refill x time', async () => {
    redis.cli('FLUSHALL');
    const started = Date.now();
    let accepted = 0;
    let attempts = 0;
    await Promise.all(
      demos.map(async (demo) => {
        while (Date.now() - started < 4_000) {
          attempts++;
          const response = await post(`${demo.url}/api/v1/events/batch`, {
            events: Array.from({ length: 7 }, () => ({ name: 'tick' })),
          });
          if (response.status === 202) accepted += 7;
          else expect(response.status).toBe(429);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }),
    );
    const elapsedSeconds = (Date.now() - started) / 1_000;
    const bound = 50 + (500 / 60) * elapsedSeconds;
    expect(attempts).toBeGreaterThan(40);
    expect(accepted).toBeLessThanOrEqual(bound);
    // And the bucket really refills: well over the burst alone was accepted.
    expect(accepted).toBeGreaterThan(50 + (500 / 60) * (elapsedSeconds - 1) * 0.7);
  }, 20_000);
});
