import { createRateLimiter, fastifyRateLimit } from '@tierlimit/fastify';
import Fastify, { type FastifyInstance } from 'fastify';
import request from 'supertest';

const resolveTier = (key: string) => (key === 'k' ? 'free' : null);

describe('Fastify plugin', () => {
  let app: FastifyInstance;
  afterEach(() => app.close());

  async function serve() {
    await app.listen({ port: 0, host: '127.0.0.1' });
    return request(app.server);
  }

  test('puts the decision on request.rateLimit; config.rateLimit false opts a route out', async () => {
    app = Fastify();
    await app.register(fastifyRateLimit, { resolveTier });
    app.get('/limited', async (req) => ({ remaining: req.rateLimit?.remaining }));
    app.get('/open', { config: { rateLimit: false } }, async (req) => ({ decision: req.rateLimit }));
    const api = await serve();
    expect((await api.get('/limited').set('X-API-Key', 'k')).body).toEqual({ remaining: 99 });
    const open = await api.get('/open');
    expect(open.status).toBe(200);
    expect(open.body).toEqual({ decision: null });
    expect(open.headers['x-ratelimit-limit']).toBeUndefined();
  });

  test('with global: false only routes with config.rateLimit are limited', async () => {
    app = Fastify();
    const limiter = createRateLimiter({ resolveTier });
    await app.register(fastifyRateLimit, { limiter, global: false });
    app.get('/plain', async () => 'ok');
    app.post(
      '/events',
      { config: { rateLimit: { policy: 'events', cost: (req) => (req.body as { n: number }).n } } },
      async (req) => ({ remaining: req.rateLimit?.remaining }),
    );
    const api = await serve();
    expect((await api.get('/plain')).headers['x-ratelimit-limit']).toBeUndefined();
    const events = await api.post('/events').set('X-API-Key', 'k').send({ n: 20 });
    // The cost needs the parsed body, so the hook ran in preHandler.
    expect(events.body).toEqual({ remaining: 30 });
  });

  test('a request refused in onRequest never has its body read', async () => {
    app = Fastify();
    let parsed = 0;
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
      parsed++;
      done(null, JSON.parse(body as string));
    });
    await app.register(fastifyRateLimit, { resolveTier });
    app.post('/', async () => 'ok');
    const res = await (await serve()).post('/').set('X-API-Key', 'unknown').send({ a: 1 });
    expect(res.status).toBe(401);
    expect(parsed).toBe(0);
  });

  test('jsonErrors renders bad JSON in the JSON error shape', async () => {
    app = Fastify();
    await app.register(fastifyRateLimit, { resolveTier, jsonErrors: true });
    app.post('/', { config: { rateLimit: false } }, async () => 'ok');
    const res = await (await serve()).post('/').set('Content-Type', 'application/json').send('{"a":');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('INVALID_JSON');
  });

  test('an error in a cost function reaches Fastify error handling as a 500, not a crash', async () => {
    app = Fastify();
    await app.register(fastifyRateLimit, {
      resolveTier,
      route: {
        cost: () => {
          throw new Error('bug');
        },
      },
    });
    app.get('/', async () => 'ok');
    const res = await (await serve()).get('/').set('X-API-Key', 'k');
    expect(res.status).toBe(500);
  });
});

describe('Fastify plugin configuration mistakes', () => {
  test('a limiter and limiter options together are refused, not silently merged', async () => {
    const app = Fastify();
    await expect(
      app.register(fastifyRateLimit, { limiter: createRateLimiter({ resolveTier }), resolveTier } as never),
    ).rejects.toThrow(
      'Pass either `limiter` or limiter options to fastifyRateLimit, not both (got `limiter` and `resolveTier`).',
    );
    await app.close().catch(() => undefined);
  });

  test('config.rateLimit must be route options or false', async () => {
    const app = Fastify();
    await app.register(fastifyRateLimit, { resolveTier });
    expect(() => app.get('/x', { config: { rateLimit: true as never } }, async () => 'ok')).toThrow(
      'Expected `config.rateLimit` of GET /x to be route options or false, got true.',
    );
    expect(() => app.get('/y', { config: { rateLimit: { hook: 'onSend' as never } } }, async () => 'ok')).toThrow(
      "Expected `config.rateLimit.hook` to be 'onRequest' or 'preHandler', got onSend.",
    );
    await app.close();
  });
});
