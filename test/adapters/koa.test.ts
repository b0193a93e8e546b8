import { createServer, type Server } from 'node:http';
import { jsonErrors, type RateLimitState, rateLimit } from '@tierlimit/koa';
import Koa from 'koa';
import request from 'supertest';

const resolveTier = (key: string) => (key === 'k' ? 'free' : null);

describe('Koa adapter', () => {
  let server: Server;
  afterEach(() => new Promise<void>((done) => server.close(() => done())));

  function serve(app: Koa<RateLimitState>) {
    server = createServer(app.callback()).listen(0, '127.0.0.1');
    return request(server);
  }

  test('puts the decision on ctx.state.rateLimit', async () => {
    const app = new Koa<RateLimitState>();
    app.use(rateLimit({ resolveTier }));
    app.use((ctx) => {
      ctx.body = { tier: ctx.state.rateLimit?.tier, remaining: ctx.state.rateLimit?.remaining };
    });
    const res = await serve(app).get('/').set('X-API-Key', 'k');
    expect(res.body).toEqual({ tier: 'free', remaining: 99 });
    expect(res.headers['x-ratelimit-limit']).toBe('100');
  });

  test('jsonErrors answers client errors in the JSON shape and rethrows the rest', async () => {
    const app = new Koa<RateLimitState>();
    app.silent = true;
    app.use(jsonErrors());
    app.use((ctx) => {
      if (ctx.path === '/client') ctx.throw(400, 'bad');
      throw new Error('server bug');
    });
    const api = serve(app);
    const client = await api.get('/client');
    expect(client.status).toBe(400);
    expect(client.body.error.code).toBe('BAD_REQUEST');
    const server500 = await api.get('/server');
    expect(server500.status).toBe(500);
  });
});
