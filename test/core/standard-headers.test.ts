/**
 * The IETF RateLimit fields in each draft form, parsed with an independent RFC 9651
 * structured-field parser (the structured-headers package), and RFC 9457 bodies.
 */
import { createRateLimiter, type Decision, type ProblemBody, type RateLimiterOptions, sfString } from '@tierlimit/core';
import { parseDictionary, parseItem, parseList } from 'structured-headers';
import { ManualClock } from '../support/clock';

const clock = new ManualClock();
const as = (key: string, ip = '198.51.100.1') => ({ ip, headers: { 'x-api-key': key } });

function limiter(options: RateLimiterOptions) {
  return createRateLimiter({
    resolveTier: () => 'free',
    now: clock.now,
    tiers: { free: { api: { limit: 100, windowMs: 60_000 }, events: { limit: 500, windowMs: 60_000, burst: 50 } } },
    ...options,
  });
}

async function events(options: RateLimiterOptions, key = 'k-a', cost = 10): Promise<Decision> {
  return limiter(options).check(as(key), { policy: 'events', cost });
}

test('draft-6: RateLimit-Limit, -Remaining, -Reset as integers; RateLimit-Policy as a list', async () => {
  const { headers } = await events({ headers: { standard: 'draft-6' } });
  expect(parseItem(headers['RateLimit-Limit'] as string)).toEqual([50, new Map()]);
  expect(parseItem(headers['RateLimit-Remaining'] as string)).toEqual([40, new Map()]);
  expect(parseItem(headers['RateLimit-Reset'] as string)).toEqual([2, new Map()]);
  const policies = parseList(headers['RateLimit-Policy'] as string);
  expect(policies.map(([value, params]) => [value, Object.fromEntries(params)])).toEqual([
    [50, { w: 6 }],
    [10_000, { w: 60 }],
  ]);
  expect(headers['X-RateLimit-Limit']).toBe('50');
});

test('draft-7: RateLimit as a dictionary and RateLimit-Policy', async () => {
  const { headers } = await events({ headers: { standard: 'draft-7' } });
  const fields = parseDictionary(headers.RateLimit as string);
  expect(Object.fromEntries([...fields].map(([key, [value]]) => [key, value]))).toEqual({
    limit: 50,
    remaining: 40,
    reset: 2,
  });
  expect(parseList(headers['RateLimit-Policy'] as string)).toHaveLength(2);
});

test('draft-8: every policy that applied, named by an sf-string, with a hashed partition key', async () => {
  const decision = await events({ headers: { standard: 'draft-8', legacy: false } });
  const { headers } = decision;
  expect(headers['X-RateLimit-Limit']).toBeUndefined();
  const policies = parseList(headers['RateLimit-Policy'] as string);
  const states = parseList(headers.RateLimit as string);
  expect(policies.map(([name]) => name)).toEqual(['ip', 'events']);
  expect(policies.map(([, p]) => [p.get('q'), p.get('w')])).toEqual([
    [10_000, 60],
    [50, 6],
  ]);
  expect(states.map(([name, p]) => [name, p.get('r'), p.get('t')])).toEqual([
    ['ip', 9_999, 60],
    ['events', 40, 2],
  ]);
  for (const [, params] of [...policies, ...states]) {
    // An sf-binary: 96 bits of SHA-256, never the identity itself.
    const pk = params.get('pk');
    expect(pk).toBeInstanceOf(ArrayBuffer);
    expect(Buffer.from(pk as ArrayBuffer)).toHaveLength(12);
    expect(Buffer.from(pk as ArrayBuffer).toString('latin1')).not.toContain('198.51.100.1');
  }
  // The key's partition is stable across requests and differs between keys.
  const again = await events({ headers: { standard: 'draft-8' } });
  const other = await events({ headers: { standard: 'draft-8' } }, 'k-b');
  const pkOf = (d: Decision) =>
    Buffer.from(parseList(d.headers.RateLimit as string)[1]?.[1].get('pk') as ArrayBuffer).toString('base64');
  expect(pkOf(again)).toBe(pkOf(decision));
  expect(pkOf(other)).not.toBe(pkOf(decision));
});

test('policy names are escaped as RFC 9651 strings', () => {
  for (const name of ['plain', 'with "quotes"', 'back\\slash', 'both \\"']) {
    expect(parseItem(sfString(name))).toEqual([name, new Map()]);
  }
  expect(() => sfString('tab\there')).toThrow();
});

test('errorFormat "problem": an RFC 9457 body with application/problem+json', async () => {
  const l = limiter({ errorFormat: 'problem', tiers: { free: { api: { limit: 1, windowMs: 60_000 } } } });
  await l.check(as('k'));
  const denied = await l.check({ ...as('k'), headers: { 'x-api-key': 'k', 'x-request-id': 'req-1' } });
  expect(denied.headers['Content-Type']).toBe('application/problem+json');
  expect(denied.body as ProblemBody).toEqual({
    type: 'about:blank',
    title: 'Too Many Requests',
    status: 429,
    detail: 'Rate limit exceeded. Retry after 60 seconds.',
    code: 'RATE_LIMITED',
    limit: 1,
    window: '1 minute',
    retryAfter: 60,
    policy: 'api',
    requestId: 'req-1',
    timestamp: '2025-01-21T10:00:00Z',
  });
});

test('header options are validated', () => {
  expect(() => limiter({ headers: { standard: 'draft-9' as never } })).toThrow(
    "Expected `headers.standard` to be false, 'draft-6', 'draft-7', 'draft-8' or 'draft-10', got \"draft-9\".",
  );
  expect(() => limiter({ errorFormat: 'xml' as never })).toThrow("Expected `errorFormat` to be 'json' or 'problem'");
});
