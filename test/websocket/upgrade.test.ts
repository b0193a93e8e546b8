/**
 * The upgrade: identified and limited like an HTTP request, refused with an HTTP response
 * before any 101, and the connection cap per API key. Real `ws` clients over 127.0.0.1.
 */
import { createRateLimiter, defaultTiers, memoryStore, type RateLimiter, storageKey } from '@tierlimit/core';
import { WebSocket, WebSocketServer } from 'ws';
import { closeAll, type GuardServer, open, refused, resolveTier, startGuardServer, warnings } from './helpers';

const json = (body: string) => JSON.parse(body) as { error: Record<string, unknown> };

describe('upgrade requests', () => {
  let limiter: RateLimiter;
  let server: GuardServer;

  beforeEach(async () => {
    limiter = createRateLimiter({ resolveTier });
    server = await startGuardServer({ limiter });
  });

  afterEach(async () => {
    await server.close();
    await limiter.close();
  });

  test('without an API key: the core 401, as an HTTP response before any handshake', async () => {
    const response = await refused(server.url);
    expect(response.status).toBe(401);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.headers.connection).toBe('close');
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['x-ratelimit-limit']).toBe('10000');
    expect(json(response.body)).toEqual({
      error: {
        code: 'UNAUTHORIZED',
        message: 'Missing API key. Send it in the X-API-Key header.',
        requestId: response.headers['x-request-id'],
        timestamp: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/),
      },
    });
    expect(server.accepted).toHaveLength(0);
  });

  test('an unknown key is a 401 and a malformed one a 400, both from the core', async () => {
    expect((await refused(server.url, 'nope')).status).toBe(401);
    const malformed = await refused(server.url, 'x'.repeat(300));
    expect(malformed.status).toBe(400);
    expect(json(malformed.body).error.code).toBe('INVALID_API_KEY');
  });

  test('an admitted upgrade carries the X-RateLimit headers of its decision on the 101', async () => {
    const ws = await open(server.url, 'key-free');
    const again = new WebSocket(server.url, { headers: { 'x-api-key': 'key-free' } });
    const upgraded = new Promise<Record<string, unknown>>((resolve) =>
      again.once('upgrade', (res) => resolve(res.headers)),
    );
    await new Promise((resolve) => again.once('open', resolve));
    const seen = await upgraded;
    expect(seen['x-ratelimit-limit']).toBe('100');
    expect(seen['x-ratelimit-remaining']).toBe('98');
    await closeAll([ws, again]);
  });

  test('11th concurrent connection of a free key: 429 before the handshake, reported as `connections`', async () => {
    const clients = await Promise.all(Array.from({ length: 10 }, () => open(server.url, 'key-free')));
    const response = await refused(server.url, 'key-free');
    expect(response.status).toBe(429);
    expect(response.headers['retry-after']).toBe('30');
    expect(response.headers['x-ratelimit-limit']).toBe('10');
    expect(response.headers['x-ratelimit-remaining']).toBe('0');
    expect(Number(response.headers['x-ratelimit-reset'])).toBeGreaterThan(Date.now() / 1000);
    expect(json(response.body)).toEqual({
      error: {
        code: 'RATE_LIMITED',
        message:
          'Connection limit reached: at most 10 concurrent WebSocket connections (free plan). Retry after 30 seconds.',
        details: { limit: 10, retryAfter: 30, policy: 'connections' },
        requestId: response.headers['x-request-id'],
        timestamp: expect.any(String),
      },
    });
    expect(server.accepted).toHaveLength(10);

    // Another key has its own slots; a freed slot is taken again at once.
    const other = await open(server.url, 'key-free-2');
    await closeAll(clients.slice(0, 1));
    const again = await open(server.url, 'key-free');
    await closeAll([...clients.slice(1), other, again]);
  });

  test("the guard's own refusals follow the limiter's wire settings (problem+json, IETF fields)", async () => {
    await server.close();
    await limiter.close();
    limiter = createRateLimiter({ resolveTier, errorFormat: 'problem', headers: { standard: 'draft-8' } });
    server = await startGuardServer({ limiter });
    const clients = await Promise.all(Array.from({ length: 10 }, () => open(server.url, 'key-free')));
    const response = await refused(server.url, 'key-free');
    expect(response.status).toBe(429);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.headers.ratelimit).toContain('"connections";r=0');
    expect(JSON.parse(response.body)).toMatchObject({
      type: 'about:blank',
      status: 429,
      policy: 'connections',
      limit: 10,
    });
    await closeAll(clients);
  });

  test('enterprise caps come from the resolver, per customer', async () => {
    const custom = createRateLimiter({
      resolveTier: () => ({ tier: 'enterprise', id: 'acme', limits: { websocket: { connections: 2 } } }),
    });
    const acme = await startGuardServer({ limiter: custom });
    try {
      // Two different keys of one account share its cap (the account id is the identity).
      const clients = [await open(acme.url, 'acme-1'), await open(acme.url, 'acme-2')];
      const response = await refused(acme.url, 'acme-3');
      expect(response.status).toBe(429);
      expect(json(response.body).error.details).toEqual({ limit: 2, retryAfter: 30, policy: 'connections' });
      await closeAll(clients);
    } finally {
      await acme.close();
      await custom.close();
    }
  });

  test('a tier without `websocket.connections` is not capped, and says so once', async () => {
    const seen = warnings();
    const uncapped = createRateLimiter({
      resolveTier: () => 'internal',
      tiers: { internal: { api: false } },
    });
    const internal = await startGuardServer({ limiter: uncapped, onWarning: seen.onWarning });
    try {
      const clients = await Promise.all(Array.from({ length: 12 }, () => open(internal.url, 'service-key')));
      expect(internal.accepted.every((conn) => conn.leaseHolding === undefined)).toBe(true);
      expect(seen.codes).toEqual(['TL_WS_NO_CONNECTION_LIMIT']);
      await closeAll(clients);
    } finally {
      await internal.close();
      await uncapped.close();
    }
  });

  test('the upgrade draws on the configured policy, with the core 429 when it is exhausted', async () => {
    const tight = createRateLimiter({
      resolveTier,
      tiers: { ...defaultTiers, free: { ...defaultTiers.free, api: { limit: 2, windowMs: 60_000 } } },
    });
    const tightServer = await startGuardServer({ limiter: tight });
    try {
      const clients = [await open(tightServer.url, 'key-free'), await open(tightServer.url, 'key-free')];
      const response = await refused(tightServer.url, 'key-free');
      expect(response.status).toBe(429);
      const { error } = json(response.body);
      expect(error.details).toEqual({ limit: 2, window: '1 minute', retryAfter: expect.any(Number), policy: 'api' });
      expect(response.headers['retry-after']).toBe(String((error.details as { retryAfter: number }).retryAfter));
      await closeAll(clients);
    } finally {
      await tightServer.close();
      await tight.close();
    }
  });

  test('the client IP is `clientIp(req)`; by default the socket address, never X-Forwarded-For', async () => {
    const perIp = createRateLimiter({ anonymousTier: 'free', ip: { limit: 1, windowMs: 60_000 } });
    const byDefault = await startGuardServer({ limiter: perIp });
    const trusted = await startGuardServer({
      limiter: perIp,
      clientIp: (req) => String(req.headers['x-test-client']),
    });
    try {
      const first = await open(byDefault.url, undefined, { headers: { 'x-forwarded-for': '198.51.100.1' } });
      const spoofed = await refused(byDefault.url, undefined, { headers: { 'x-forwarded-for': '198.51.100.2' } });
      expect(spoofed.status).toBe(429);
      expect(json(spoofed.body).error.details).toMatchObject({ policy: 'ip' });

      const a = await open(trusted.url, undefined, { headers: { 'x-test-client': '203.0.113.1' } });
      const b = await open(trusted.url, undefined, { headers: { 'x-test-client': '203.0.113.2' } });
      expect((await refused(trusted.url, undefined, { headers: { 'x-test-client': '203.0.113.1' } })).status).toBe(429);
      await closeAll([first, a, b]);
    } finally {
      await byDefault.close();
      await trusted.close();
      await perIp.close();
    }
  });

  test('a failing clientIp or limiter answers 500 at once; a failing resolver is the core 503', async () => {
    const seen = warnings();
    const broken = await startGuardServer({
      limiter,
      clientIp: () => {
        throw new Error('boom');
      },
      onWarning: seen.onWarning,
    });
    const failingResolver = createRateLimiter({
      resolveTier: () => Promise.reject(new Error('database down')),
      onWarning: () => undefined,
    });
    const unresolved = await startGuardServer({ limiter: failingResolver });
    try {
      const response = await refused(broken.url, 'key-free');
      expect(response.status).toBe(500);
      expect(json(response.body).error.code).toBe('INTERNAL_ERROR');
      expect(seen.codes).toEqual(['TL_WS_UPGRADE_FAILED']);

      const unavailable = await refused(unresolved.url, 'key-free');
      expect(unavailable.status).toBe(503);
      expect(unavailable.headers['retry-after']).toBe('5');
    } finally {
      await broken.close();
      await unresolved.close();
      await failingResolver.close();
    }
  });

  test('a WebSocketServer without guard.serverOptions is refused with 500 and a warning', async () => {
    const seen = warnings();
    const misconfigured = await startGuardServer(
      { limiter, onWarning: seen.onWarning },
      { wss: () => new WebSocketServer({ noServer: true }) },
    );
    try {
      const response = await refused(misconfigured.url, 'key-free');
      expect(response.status).toBe(500);
      expect(seen.codes).toEqual(['TL_WS_SERVER_OPTIONS']);
    } finally {
      await misconfigured.close();
    }
  });

  test('the connection handler throwing closes that connection with 1011, and the slot is given back', async () => {
    const store = memoryStore();
    const seen = warnings();
    const throwing = await startGuardServer(
      { limiter, connections: { store }, onWarning: seen.onWarning },
      {
        onConnection: () => {
          throw new Error('app bug');
        },
      },
    );
    try {
      const ws = await open(throwing.url, 'key-free');
      const code = await new Promise<number>((resolve) => ws.once('close', resolve));
      expect(code).toBe(1011);
      expect(seen.codes).toEqual(['TL_WS_HANDLER_FAILED']);
      const identity = throwing.accepted[0]?.identity as string;
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(store.countLeases(storageKey('connections', identity))).toBe(0);
    } finally {
      await throwing.close();
    }
  });
});
