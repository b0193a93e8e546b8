/**
 * Reading what servers say: HTTP dates, Retry-After, and rate-limit state in every header
 * dialect (X-RateLimit-*, IETF drafts 6, 7 and 8+), normalised to one shape.
 */
import { parseHttpDate, parseRateLimit, parseRetryAfter } from '@tierlimit/client';

const NOW = Date.UTC(2025, 0, 21, 10, 0, 0);
const NOW_S = NOW / 1000;

describe('parseHttpDate', () => {
  const expected = Date.UTC(1994, 10, 6, 8, 49, 37);

  test.each([
    ['IMF-fixdate', 'Sun, 06 Nov 1994 08:49:37 GMT'],
    ['RFC 850', 'Sunday, 06-Nov-94 08:49:37 GMT'],
    ['asctime', 'Sun Nov  6 08:49:37 1994'],
  ])('accepts the %s form', (_, text) => {
    expect(parseHttpDate(text, NOW)).toBe(expected);
  });

  test('an RFC 850 two-digit year more than 50 years ahead means the previous century', () => {
    expect(parseHttpDate('Monday, 01-Jan-80 00:00:00 GMT', NOW)).toBe(Date.UTC(1980, 0, 1));
    expect(parseHttpDate('Monday, 01-Jan-30 00:00:00 GMT', NOW)).toBe(Date.UTC(2030, 0, 1));
  });

  test.each([
    '1.5', // Date.parse reads this as a date in 2001
    '5',
    '2025-01-21T10:00:00Z',
    'Sun, 06 Nov 1994 08:49:37 UTC',
    'Sun, 31 Feb 1994 08:49:37 GMT',
    'Sun, 06 Nov 1994 24:00:00 GMT',
    'sun, 06 nov 1994 08:49:37 gmt',
    '',
  ])('rejects %j', (text) => {
    expect(parseHttpDate(text, NOW)).toBeUndefined();
  });
});

describe('parseRetryAfter', () => {
  test('delay-seconds', () => {
    expect(parseRetryAfter('120', NOW)).toBe(120_000);
    expect(parseRetryAfter('0', NOW)).toBe(0);
    expect(parseRetryAfter(' 5 ', NOW)).toBe(5_000);
  });

  test('an HTTP-date, measured against the server clock when its Date is known', () => {
    const in30s = new Date(NOW + 30_000).toUTCString();
    expect(parseRetryAfter(in30s, NOW)).toBe(30_000);
    // The client's clock runs 10 minutes fast; the server's own Date keeps the wait right.
    expect(parseRetryAfter(in30s, NOW + 600_000, NOW)).toBe(30_000);
  });

  test('a date in the past means now', () => {
    expect(parseRetryAfter(new Date(NOW - 5_000).toUTCString(), NOW)).toBe(0);
  });

  test.each([null, undefined, '', '1.5', '-1', '5s', 'soon', '1e3'])('%j is not a Retry-After', (value) => {
    expect(parseRetryAfter(value, NOW)).toBeUndefined();
  });
});

describe('parseRateLimit: X-RateLimit-*', () => {
  test('tierlimit and GitHub style: Reset in epoch seconds', () => {
    const info = parseRateLimit(
      new Headers({ 'X-RateLimit-Limit': '50', 'X-RateLimit-Remaining': '49', 'X-RateLimit-Reset': String(NOW_S + 6) }),
      { now: NOW },
    );
    expect(info).toEqual({
      limit: 50,
      remaining: 49,
      resetAt: NOW + 6_000,
      source: 'x-ratelimit',
      policies: [{ limit: 50, remaining: 49, resetAt: NOW + 6_000 }],
    });
  });

  test('Reset in epoch milliseconds', () => {
    const info = parseRateLimit(
      { 'x-ratelimit-remaining': '1', 'x-ratelimit-reset': String(NOW + 2_500) },
      { now: NOW },
    );
    expect(info?.resetAt).toBe(NOW + 2_500);
    expect(info?.limit).toBeUndefined();
  });

  test('Reset in seconds from now (values up to 1e9)', () => {
    const info = parseRateLimit({ 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': '30' }, { now: NOW });
    expect(info?.resetAt).toBe(NOW + 30_000);
  });

  test('decimal values (Reddit sends Remaining: 598.0)', () => {
    const info = parseRateLimit(
      { 'x-ratelimit-remaining': '598.0', 'x-ratelimit-reset': '12.5', 'x-ratelimit-limit': '600' },
      { now: NOW },
    );
    expect(info).toMatchObject({ limit: 600, remaining: 598, resetAt: NOW + 12_500 });
  });

  test('an absolute reset is converted with the server Date, so a skewed client clock still waits right', () => {
    const headers = {
      'X-RateLimit-Remaining': '0',
      'X-RateLimit-Reset': String(NOW_S + 6),
      Date: new Date(NOW).toUTCString(),
    };
    // The client's clock is 2 minutes fast: without the Date header the reset would look long past.
    expect(parseRateLimit(headers, { now: NOW + 120_000 })?.resetAt).toBe(NOW + 120_000 + 6_000);
  });

  test.each([
    [{ 'X-RateLimit-Remaining': '-1', 'X-RateLimit-Reset': '5' }],
    [{ 'X-RateLimit-Remaining': 'lots', 'X-RateLimit-Reset': '5' }],
    [{ 'X-RateLimit-Remaining': '5' }],
    [{ 'X-RateLimit-Reset': '5' }],
    [{}],
  ])('malformed or incomplete headers give undefined: %j', (headers) => {
    expect(parseRateLimit(headers, { now: NOW })).toBeUndefined();
  });

  test('a record with repeated values and mixed-case names', () => {
    const info = parseRateLimit({ 'X-RATELIMIT-REMAINING': ['7'], 'x-RateLimit-reset': 3 }, { now: NOW });
    expect(info).toMatchObject({ remaining: 7, resetAt: NOW + 3_000 });
  });
});

describe('parseRateLimit: IETF drafts', () => {
  test('draft-6: separate fields, with RateLimit-Policy', () => {
    const info = parseRateLimit(
      {
        'RateLimit-Limit': '100',
        'RateLimit-Remaining': '50',
        'RateLimit-Reset': '5',
        'RateLimit-Policy': '10;w=1, 100;w=60',
      },
      { now: NOW },
    );
    expect(info).toMatchObject({
      source: 'draft-6',
      limit: 100,
      remaining: 50,
      resetAt: NOW + 5_000,
      policy: '100;w=60',
      windowMs: 60_000,
    });
  });

  test('draft-6 (older): quota policies inside RateLimit-Limit', () => {
    const info = parseRateLimit(
      { 'RateLimit-Limit': '10, 10;w=1, 50;w=60', 'RateLimit-Remaining': '9', 'RateLimit-Reset': '1' },
      { now: NOW },
    );
    expect(info).toMatchObject({ source: 'draft-6', limit: 10, remaining: 9, policy: '10;w=1', windowMs: 1_000 });
  });

  test('draft-7: one dictionary field plus RateLimit-Policy', () => {
    const info = parseRateLimit(
      { RateLimit: 'limit=100, remaining=50, reset=5', 'RateLimit-Policy': '100;w=60' },
      { now: NOW },
    );
    expect(info).toEqual({
      limit: 100,
      remaining: 50,
      resetAt: NOW + 5_000,
      policy: '100;w=60',
      windowMs: 60_000,
      source: 'draft-7',
      policies: [{ limit: 100, remaining: 50, resetAt: NOW + 5_000, policy: '100;w=60', windowMs: 60_000 }],
    });
  });

  test('draft-8: a named policy with its quota', () => {
    const info = parseRateLimit(
      { RateLimit: '"default";r=50;t=30', 'RateLimit-Policy': '"default";q=100;w=60' },
      { now: NOW },
    );
    expect(info).toMatchObject({
      source: 'draft-8',
      limit: 100,
      remaining: 50,
      resetAt: NOW + 30_000,
      policy: 'default',
      windowMs: 60_000,
    });
  });

  test('draft-8: several policies; the most restrictive (lowest rate until reset) is on top, all are listed', () => {
    const info = parseRateLimit(
      {
        RateLimit: '"burst";r=40;t=1, "daily";r=800;t=3600',
        'RateLimit-Policy': '"burst";q=100;w=60, "daily";q=1000;w=86400;qu="requests"',
      },
      { now: NOW },
    );
    // burst allows 40/s, daily 800/3600 s (0.22/s): daily paces.
    expect(info).toMatchObject({ policy: 'daily', limit: 1000, remaining: 800, resetAt: NOW + 3_600_000 });
    expect(info?.policies.map((p) => p.policy)).toEqual(['burst', 'daily']);
  });

  test('draft-8: an exhausted policy is the most restrictive; ties go to the later reset', () => {
    const info = parseRateLimit({ RateLimit: 'a;r=0;t=10, b;r=0;t=20, c;r=5;t=1' }, { now: NOW });
    expect(info).toMatchObject({ policy: 'b', remaining: 0, resetAt: NOW + 20_000, limit: undefined });
  });

  test('draft-8: without t, a policy window is assumed; without either, the policy is skipped', () => {
    expect(parseRateLimit({ RateLimit: '"p";r=3', 'RateLimit-Policy': '"p";q=10;w=60' }, { now: NOW })).toMatchObject({
      resetAt: NOW + 60_000,
    });
    expect(parseRateLimit({ RateLimit: '"p";r=3' }, { now: NOW })).toBeUndefined();
  });

  test('draft-8: items without a valid r are skipped; a quoted comma does not split', () => {
    const info = parseRateLimit({ RateLimit: '"a,b";r=2;t=4, "bad";r=-1;t=1, "x";t=1' }, { now: NOW });
    expect(info?.policies).toEqual([{ limit: undefined, remaining: 2, resetAt: NOW + 4_000, policy: 'a,b' }]);
  });

  test('the newest dialect wins when several are sent', () => {
    const info = parseRateLimit(
      {
        RateLimit: 'limit=100, remaining=50, reset=5',
        'X-RateLimit-Limit': '100',
        'X-RateLimit-Remaining': '49',
        'X-RateLimit-Reset': String(NOW_S + 5),
      },
      { now: NOW },
    );
    expect(info?.source).toBe('draft-7');
  });

  test('a malformed RateLimit field falls back to an older dialect, or to undefined', () => {
    const headers = { RateLimit: 'limit=100, remaining=' };
    expect(parseRateLimit(headers, { now: NOW })).toBeUndefined();
    expect(
      parseRateLimit({ ...headers, 'X-RateLimit-Remaining': '3', 'X-RateLimit-Reset': '1' }, { now: NOW })?.source,
    ).toBe('x-ratelimit');
  });

  test.each([
    'limit=100, reset=5',
    'limit=100, remaining=-5, reset=5',
    'limit=100, remaining=5.5, reset=5',
    'limit=100, remaining="5", reset=5',
  ])('draft-7 with missing or mistyped members is ignored: %s', (field) => {
    expect(parseRateLimit({ RateLimit: field }, { now: NOW })).toBeUndefined();
  });

  test('a headers object that throws yields undefined, not an exception', () => {
    const hostile = {
      get() {
        throw new Error('boom');
      },
    };
    expect(parseRateLimit(hostile, { now: NOW })).toBeUndefined();
  });
});
