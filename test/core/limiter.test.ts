import type { ErrorBody } from '@tierlimit/core';
import {
  createRateLimiter,
  type Decision,
  type RateLimiterOptions,
  RequestError,
  type TierResolver,
  type Warning,
} from '@tierlimit/core';
import { ManualClock } from '../support/clock';

const facts = (key?: string, ip = '198.51.100.1') => ({
  ip,
  headers: key === undefined ? {} : { 'x-api-key': key },
});

describe('RateLimiter', () => {
  let clock: ManualClock;
  let warnings: Warning[];

  function limiter(options: RateLimiterOptions = {}) {
    return createRateLimiter({
      resolveTier: (key) => ({ 'k-free': 'free', 'k-pro': 'pro' })[key] ?? null,
      now: clock.now,
      onWarning: (warning) => warnings.push(warning),
      ...options,
    });
  }

  beforeEach(() => {
    clock = new ManualClock();
    warnings = [];
  });

  test('answers synchronously once the tier is cached and the store is in memory', async () => {
    const l = limiter({ resolveTier: async (key) => (key === 'k-free' ? 'free' : null) });
    const first = l.check(facts('k-free'));
    expect(first).toBeInstanceOf(Promise);
    expect((await first).remaining).toBe(99);
    const second = l.check(facts('k-free'));
    expect(second).not.toBeInstanceOf(Promise);
    expect((second as Decision).remaining).toBe(98);
  });

  test('a synchronous resolver on the memory store answers a new key synchronously too', () => {
    const l = limiter();
    const known = l.check(facts('k-pro'));
    expect(known).not.toBeInstanceOf(Promise);
    expect((known as Decision).status).toBe(200);
    const unknown = l.check(facts('k-nope'));
    expect(unknown).not.toBeInstanceOf(Promise);
    expect((unknown as Decision).status).toBe(401);
  });

  test('a synchronous resolver that throws is a 503, not an exception', async () => {
    const l = limiter({
      resolveTier: () => {
        throw new Error('key table unavailable');
      },
    });
    const decision = await l.check(facts('k-free'));
    expect(decision.status).toBe(503);
  });

  test('a full resolver cache drops its oldest tenth and keeps the rest', () => {
    const asked: string[] = [];
    const l = limiter({
      resolverCacheSize: 20,
      ip: false,
      resolveTier: (key) => {
        asked.push(key);
        return 'pro';
      },
    });
    for (let i = 1; i <= 21; i++) l.check(facts(`key-${i}`));
    asked.length = 0;
    // The 21st answer evicted two (a tenth of 20): key-1 and key-2 are asked again, key-3 is not.
    for (const key of ['key-3', 'key-21', 'key-1', 'key-2']) l.check(facts(key));
    expect(asked).toEqual(['key-1', 'key-2']);
  });

  test('concurrent misses for one key share one resolver call; answers are cached for resolverCacheMs', async () => {
    let calls = 0;
    let tier = 'free';
    const l = limiter({
      resolveTier: async () => {
        calls++;
        return tier;
      },
      resolverCacheMs: 30_000,
    });
    const decisions = await Promise.all(Array.from({ length: 10 }, () => l.check(facts('k'))));
    expect(calls).toBe(1);
    expect(decisions.map((d) => d.remaining).sort((a, b) => b - a)).toEqual([99, 98, 97, 96, 95, 94, 93, 92, 91, 90]);
    tier = 'pro';
    clock.advance(29_999);
    expect((await l.check(facts('k'))).limit).toBe(100);
    clock.advance(1);
    // A tier change takes effect within the cache time; the count follows the key.
    const upgraded = await l.check(facts('k'));
    expect(upgraded.tier).toBe('pro');
    expect(upgraded.limit).toBe(1_000);
    expect(upgraded.remaining).toBe(1_000 - 12);
    expect(calls).toBe(2);
  });

  test('unknown keys are cached briefly, so a guessing client cannot hammer the resolver', async () => {
    const resolveTier = jest.fn<ReturnType<TierResolver>, Parameters<TierResolver>>(() => null);
    const l = limiter({ resolveTier, resolverNegativeCacheMs: 5_000 });
    for (let i = 0; i < 5; i++) expect((await l.check(facts('nope'))).status).toBe(401);
    expect(resolveTier).toHaveBeenCalledTimes(1);
    clock.advance(5_000);
    await l.check(facts('nope'));
    expect(resolveTier).toHaveBeenCalledTimes(2);
  });

  test('a resolver failure is a 503 with Retry-After, never a 429, and the key stays out of the warning', async () => {
    const l = limiter({
      resolveTier: async (key) => {
        throw new Error(`no row for ${key}`);
      },
    });
    const decision = await l.check(facts('sk_live_secret'));
    expect(decision.status).toBe(503);
    expect(decision.code).toBe('SERVICE_UNAVAILABLE');
    expect(decision.headers['Retry-After']).toBe('5');
    expect((decision.body as ErrorBody | undefined)?.error.code).toBe('SERVICE_UNAVAILABLE');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.code).toBe('TL_RESOLVER_FAILED');
    expect(warnings[0]?.message).not.toContain('sk_live_secret');
  });

  test('a resolver answering an unknown tier is a 503 and a warning naming the tiers', async () => {
    const l = limiter({ resolveTier: () => 'gold' });
    expect((await l.check(facts('k'))).status).toBe(503);
    expect(warnings[0]?.code).toBe('TL_RESOLVER_FAILED');
    expect(String((warnings[0]?.error as Error | undefined)?.message)).toContain('free, starter, pro, enterprise');
  });

  test('per-customer limits from the resolver are merged over the tier and validated', async () => {
    const l = limiter({
      resolveTier: (key) =>
        key === 'acme'
          ? { tier: 'enterprise', limits: { api: { limit: 3 }, events: { burst: 7 } } }
          : { tier: 'free', limits: { api: { limit: -5 } } },
    });
    const acme = await l.check(facts('acme'));
    expect(acme.limit).toBe(3);
    expect(acme.policy?.windowMs).toBe(60_000);
    const events = await l.check(facts('acme'), { policy: 'events', cost: 7 });
    expect(events.allowed).toBe(true);
    expect(events.limit).toBe(7);
    const broken = await l.check(facts('broken'));
    expect(broken.status).toBe(503);
    expect((warnings[0]?.error as Error | undefined)?.message).toBe(
      'Expected `resolveTier(...).limits.api.limit` to be a positive integer, got -5.',
    );
  });

  test('keys resolving to the same account id share their limits', async () => {
    const l = limiter({ resolveTier: () => ({ tier: 'free', id: 'acct_1' }) });
    await l.check(facts('key-one'));
    const other = await l.check(facts('key-two'));
    expect(other.remaining).toBe(98);
  });

  test('an anonymous tier limits keyless requests per client IP', async () => {
    const l = limiter({ anonymousTier: 'free' });
    expect((await l.check(facts(undefined, '203.0.113.1'))).remaining).toBe(99);
    expect((await l.check(facts(undefined, '203.0.113.1'))).remaining).toBe(98);
    expect((await l.check(facts(undefined, '203.0.113.2'))).remaining).toBe(99);
  });

  test('the Authorization header works with the Bearer scheme', async () => {
    const l = limiter({ apiKeyHeader: 'Authorization' });
    expect((await l.check({ ip: '198.51.100.1', headers: { authorization: 'Bearer k-pro' } })).tier).toBe('pro');
    const malformed = await l.check({ ip: '198.51.100.1', headers: { authorization: 'Basic abc' } });
    expect(malformed.code).toBe('INVALID_API_KEY');
  });

  test('a repeated header arriving as an array is malformed, not a crash', async () => {
    const decision = await limiter().check({ ip: '198.51.100.1', headers: { 'x-api-key': ['a', 'b'] } });
    expect(decision.status).toBe(400);
  });

  test('headers describe the policy closest to exhaustion; a 429 the denying policy with the longest wait', async () => {
    const l = limiter({
      ip: { limit: 5, windowMs: 10_000 },
      tiers: { free: { api: { limit: 3, windowMs: 60_000 } } },
      resolveTier: () => 'free',
    });
    const first = await l.check(facts('k'));
    expect(first.policy?.policy).toBe('api');
    expect(first.policies.map((p) => [p.policy, p.remaining])).toEqual([
      ['ip', 4],
      ['api', 2],
    ]);
    await l.check(facts('k'));
    await l.check(facts('k'));
    await l.check(facts('other'));
    await l.check(facts('other2'));
    const denied = await l.check(facts('k'));
    // Both deny: the IP window ends in 10 s, the key's in 60 s; the longer wait is reported.
    expect(denied.policies.every((p) => !p.allowed)).toBe(true);
    expect(denied.policy?.policy).toBe('api');
    expect(denied.headers['Retry-After']).toBe('60');
  });

  test('a policy set to false on a tier is not limited there (only the IP policy applies)', async () => {
    const l = limiter({ tiers: { free: { api: false } }, resolveTier: () => 'free' });
    const decision = await l.check(facts('k'));
    expect(decision.allowed).toBe(true);
    expect(decision.policies.map((p) => p.policy)).toEqual(['ip']);
  });

  test('the route cost may be async; a RequestError from it is a 4xx; any other failure is a JSON 500 and a warning', async () => {
    const warnings: Warning[] = [];
    const l = limiter({ onWarning: (warning) => warnings.push(warning) });
    const asyncCost = l.handler<{ n: number }>({ policy: 'events', cost: async (req) => req.n });
    expect((await asyncCost({ n: 5 }, facts('k-free'))).remaining).toBe(45);
    const bad = l.handler<unknown>({
      policy: 'events',
      cost: () => {
        throw new RequestError(422, 'NOPE', 'No.', { field: 'x' });
      },
    });
    const refused = await bad({}, facts('k-free'));
    expect(refused.status).toBe(422);
    expect((refused.body as ErrorBody | undefined)?.error).toMatchObject({
      code: 'NOPE',
      message: 'No.',
      details: { field: 'x' },
    });
    const buggy = l.handler<unknown>(
      {
        cost: () => {
          throw new TypeError('bug in my cost function');
        },
      },
      () => 'POST /buggy',
    );
    const failed = await buggy({}, facts('k-free'));
    expect(failed.status).toBe(500);
    expect((failed.body as ErrorBody | undefined)?.error).toMatchObject({
      code: 'INTERNAL_ERROR',
      message: 'The server could not process this request.',
    });
    expect(JSON.stringify(failed.body)).not.toContain('bug in my cost function');
    const garbage = l.handler<unknown>({ cost: () => 2.5 }, () => 'POST /garbage');
    expect((await garbage({}, facts('k-free'))).status).toBe(500);
    expect(warnings.map((w) => w.code)).toEqual(['TL_INVALID_COST', 'TL_INVALID_COST']);
    expect(warnings[0]?.message).toContain('POST /buggy');
    expect(warnings[1]?.message).toContain('POST /garbage');
    expect(warnings[1]?.message).toContain('2.5');
  });

  test('skip lets a request through unchecked', async () => {
    const l = limiter({ ip: { limit: 1, windowMs: 1_000 } });
    const handle = l.handler<{ internal: boolean }>({ skip: (req) => req.internal });
    for (let i = 0; i < 3; i++) {
      const decision = await handle({ internal: true }, facts('k-free'));
      expect(decision.skipped).toBe(true);
      expect(decision.headers).toEqual({});
    }
    expect((await handle({ internal: false }, facts('k-free'))).allowed).toBe(true);
  });

  test('a request without a usable client IP shares one bucket and warns once', async () => {
    const l = limiter({ ip: { limit: 2, windowMs: 60_000 } });
    await l.check({ ip: undefined, headers: { 'x-api-key': 'k-free' } });
    await l.check({ ip: 'not-an-ip', headers: { 'x-api-key': 'k-pro' } });
    expect((await l.check({ ip: undefined, headers: { 'x-api-key': 'k-pro' } })).status).toBe(429);
    expect(warnings.filter((w) => w.code === 'TL_NO_CLIENT_IP')).toHaveLength(1);
  });

  test('a limiter from options works through every entry point without leaking timers', async () => {
    const l = limiter();
    await l.check(facts('k-free'));
    await expect(l.close()).resolves.toBeUndefined();
  });
});
