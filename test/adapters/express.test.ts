import { createServer, type Server } from 'node:http';
import { createRateLimiter, jsonErrors, rateLimit } from '@tierlimit/express';
import express from 'express';
import request from 'supertest';

const resolveTier = (key: string) => (key === 'k' ? 'free' : null);

describe('Express adapter', () => {
  let server: Server;
  afterEach(() => new Promise<void>((done) => server.close(() => done())));

  function serve(app: express.Express) {
    server = createServer(app).listen(0, '127.0.0.1');
    return request(server);
  }

  test('puts the decision on req.rateLimit', async () => {
    const app = express();
    app.get('/', rateLimit({ resolveTier }), (req, res) => {
      res.json({
        tier: req.rateLimit?.tier,
        remaining: req.rateLimit?.remaining,
        policy: req.rateLimit?.policy?.policy,
      });
    });
    const res = await serve(app).get('/').set('X-API-Key', 'k');
    expect(res.body).toEqual({ tier: 'free', remaining: 99, policy: 'api' });
  });

  test('mounts sharing one limiter share one count', async () => {
    const app = express();
    const limiter = createRateLimiter({ resolveTier, tiers: { free: { api: { limit: 2, windowMs: 60_000 } } } });
    app.get('/a', rateLimit(limiter), (_req, res) => res.end('a'));
    app.get('/b', rateLimit(limiter), (_req, res) => res.end('b'));
    const api = serve(app);
    await api.get('/a').set('X-API-Key', 'k').expect(200);
    await api.get('/b').set('X-API-Key', 'k').expect(200);
    await api.get('/a').set('X-API-Key', 'k').expect(429);
  });

  test('an error in a cost function is a JSON 500 with a generic message, not an unhandled rejection', async () => {
    const warnings: string[] = [];
    const app = express();
    app.post(
      '/',
      rateLimit(
        { resolveTier, onWarning: (warning) => warnings.push(warning.message) },
        {
          cost: async () => {
            throw new Error('bug');
          },
        },
      ),
      (_req, res) => res.end(),
    );
    app.use(jsonErrors());
    const res = await serve(app).post('/').set('X-API-Key', 'k');
    expect(res.status).toBe(500);
    expect(res.body.error).toMatchObject({
      code: 'INTERNAL_ERROR',
      message: 'The server could not process this request.',
    });
    expect(warnings).toEqual([expect.stringContaining('POST /')]);
  });

  test('jsonErrors renders a too-large body in the JSON error shape', async () => {
    const app = express();
    app.post('/', express.json({ limit: 10 }), (_req, res) => res.end());
    app.use(jsonErrors());
    const res = await serve(app)
      .post('/')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ big: 'x'.repeat(100) }));
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('PAYLOAD_TOO_LARGE');
  });
});
