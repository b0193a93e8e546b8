/**
 * One algorithm, two executions: the budget's bucket decided in memory (decideBudget,
 * what localBudget runs) and by the Redis script (what redisBudget runs) must agree, wait
 * for wait and field for field, on the same requests at the same times. The script takes
 * the time as an argument here instead of reading Redis `TIME`.
 */
import { Redis } from 'ioredis';
import {
  type BudgetRequest,
  type BudgetShape,
  type BudgetState,
  budgetStateTtl,
  decideBudget,
  freshBudgetState,
} from '../../packages/client/src/budget-bucket';
import { BUDGET_SCRIPT } from '../../packages/client/src/redis-budget-script';
import { describeWithRedis, RedisServer } from '../support/redis-server';
import { seededRandom } from './support/virtual-time';

const SHAPES: Array<[string, BudgetShape]> = [
  ['100 a second, burst 100', { ratePerMs: 0.1, burst: 100 }],
  ['5 a minute, burst 3', { ratePerMs: 5 / 60_000, burst: 3 }],
  ['fractional: 7.5 a second, burst 2.5', { ratePerMs: 0.0075, burst: 2.5 }],
];

describeWithRedis('the Redis script and decideBudget', () => {
  let server: RedisServer;
  let redis: Redis;

  beforeAll(async () => {
    server = await RedisServer.start();
    redis = new Redis(server.url, { lazyConnect: true });
    await redis.connect();
  });

  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  test.each(SHAPES)('agree on 300 random takes, peeks and pauses (%s)', async (name, shape) => {
    const random = seededRandom(name.length);
    const key = `agreement:{${name}}`;
    let now = 1_700_000_000_000;
    let state: BudgetState = freshBudgetState(shape, now);
    const seen = { granted: 0, refused: 0, paused: 0 };
    for (let step = 0; step < 300; step++) {
      // Steps of up to three units' refill time, now and then a long idle spell.
      now += Math.floor((random() * 3 * (random() < 0.1 ? 20 : 1)) / shape.ratePerMs);
      const roll = random();
      // Mostly small requests, sometimes up to the whole burst, in half units.
      const n = Math.max(0.5, Math.round(random() ** 3 * shape.burst * 2) / 2);
      const request: BudgetRequest =
        roll < 0.6
          ? { op: 'take', n }
          : roll < 0.85
            ? { op: 'peek', n }
            : { op: 'pause', ms: Math.floor((random() * 3) / shape.ratePerMs) };
      const expected = decideBudget(state, now, request, shape);
      state = expected.state;
      if (request.op === 'take') seen[expected.waitMs === 0 ? 'granted' : 'refused']++;
      if (state.pausedUntil > now) seen.paused++;
      const amount = request.op === 'pause' ? request.ms : request.n;
      const reply = (await redis.eval(
        BUDGET_SCRIPT,
        2,
        key,
        `${key}:processes`,
        String(now),
        request.op,
        amount,
        shape.ratePerMs,
        shape.burst,
        'process-1',
        60_000,
      )) as [number, number];
      const stored = await redis.hgetall(key);
      const where = `step ${step}: ${JSON.stringify(request)}`;
      expect({ where, waitMs: reply[0] }).toEqual({ where, waitMs: request.op === 'pause' ? 0 : expected.waitMs });
      expect({ where, tokens: Number(stored.tokens) }).toEqual({ where, tokens: state.tokens });
      expect({ where, ts: Number(stored.ts), paused: Number(stored.paused), pace: Number(stored.pace) }).toEqual({
        where,
        ts: state.updatedAt,
        paused: state.pausedUntil,
        pace: state.pace,
      });
      const ttl = await redis.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(budgetStateTtl(state, now, shape));
    }
    // The sequence went through every branch: takes granted and refused, decisions during pauses.
    expect(seen.granted).toBeGreaterThan(10);
    expect(seen.refused).toBeGreaterThan(10);
    expect(seen.paused).toBeGreaterThan(10);
  });
});
