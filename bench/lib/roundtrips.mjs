/**
 * Section 2b: Redis round trips per tierlimit decision, for each shape of request the
 * limiter can make (one policy, two, a token bucket, with suspension penalties): the
 * commands the client sent and the script calls redis-server saw, per decision.
 * Imported only after the packages are built (it loads their dist).
 */
import { createRateLimiter } from '@tierlimit/core';
import { createRedisClient, redisStore } from '@tierlimit/redis';
import { countCommands, counters, tierlimitOptions } from '../servers/common.mjs';
import { callsBetween } from './redis.mjs';

const CASES = [
  { name: 'per-key `api` only (ip: false)', policies: 1, options: { ip: false } },
  { name: 'per-IP + per-key `api` (the benchmark config)', policies: 2, options: {} },
  { name: 'per-IP + `events` token bucket, cost 10', policies: 2, options: {}, route: { policy: 'events', cost: 10 } },
  {
    name: 'per-IP + per-key `api`, suspension on (penalty keys)',
    policies: 2,
    options: { suspension: { threshold: 10, windowMs: 60_000, durationMs: 60_000 } },
  },
];

export async function runRoundTrips({ redis, checks = 1_000, log }) {
  const rows = [];
  for (const testCase of CASES) {
    await redis.flush();
    const client = countCommands(createRedisClient(redis.url));
    const store = redisStore({ client });
    const limiter = createRateLimiter(tierlimitOptions({ ...testCase.options, store }));
    let storeErrors = 0;
    limiter.on('storeError', () => storeErrors++);
    try {
      await store.ready();
      const facts = { ip: '10.0.0.1', headers: { 'x-api-key': 'bench-roundtrips' } };
      const route = testCase.route ?? {};
      for (let i = 0; i < 20; i++) await limiter.check(facts, route); // tier cache, override lookup, script load
      const sent0 = counters.redisSent;
      const calls0 = await redis.commandCalls();
      for (let i = 0; i < checks; i++) {
        const decision = await limiter.check(facts, route);
        if (!decision.allowed) throw new Error(`round trips: ${testCase.name}: refused (${decision.status})`);
      }
      const calls = callsBetween(calls0, await redis.commandCalls());
      const scriptCalls = (calls.evalsha ?? 0) + (calls.eval ?? 0);
      const row = {
        case: testCase.name,
        policies: testCase.policies,
        checks,
        sentPerCheck: (counters.redisSent - sent0) / checks,
        scriptCallsPerCheck: scriptCalls / checks,
        commandsPerCheck: Object.fromEntries(Object.entries(calls).map(([k, v]) => [k, v / checks])),
        storeErrors,
      };
      rows.push(row);
      log(
        `  ${row.case}: ${row.sentPerCheck.toFixed(2)} commands sent and ${row.scriptCallsPerCheck.toFixed(2)} script calls per decision`,
      );
    } finally {
      await limiter.close();
      client.disconnect();
    }
  }
  return rows;
}
