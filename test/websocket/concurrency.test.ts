/**
 * A `{ concurrency }` limit in the upgrade's policy (issue 14): an upgrade is one request,
 * so it holds a slot while it is decided and gives it back at once; open connections are
 * counted by `websocket.connections`, not by the policy.
 */
import { createRateLimiter, type RateLimiter } from '@tierlimit/core';
import type { WebSocket } from 'ws';
import { closeAll, type GuardServer, open, resolveTier, startGuardServer } from './helpers';

describe('a concurrency limit in the upgrade policy', () => {
  let limiter: RateLimiter;
  let server: GuardServer | undefined;
  const clients: WebSocket[] = [];

  beforeEach(() => {
    limiter = createRateLimiter({
      resolveTier,
      tiers: {
        free: { api: [{ limit: 100, windowMs: 60_000 }, { concurrency: 1 }], websocket: { connections: 5 } },
        starter: { api: false },
        pro: { api: false },
      },
    });
  });

  afterEach(async () => {
    await closeAll(clients.splice(0));
    await server?.close();
    await limiter.close();
  });

  test('holds no slot for the connection: three connections open under a limit of one in flight', async () => {
    server = await startGuardServer({ limiter, onWarning: () => undefined });
    for (let i = 0; i < 3; i++) clients.push(await open(server.url, 'key-free'));
    const usage = await limiter.usage('key-free');
    expect(usage?.policies.api?.find((limit) => limit.algorithm === 'concurrency')?.remaining).toBe(1);
    expect(usage?.policies.api?.[0]?.remaining).toBe(97);
  });
});
