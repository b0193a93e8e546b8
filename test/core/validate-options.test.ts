import { ConfigurationError, createRateLimiter, defaultTiers, type RateLimiterOptions } from '@tierlimit/core';

const resolveTier = () => 'free';

function message(options: RateLimiterOptions): string {
  try {
    createRateLimiter(options);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).code).toBe('TL_CONFIG');
    return (error as Error).message;
  }
  throw new Error('expected a ConfigurationError');
}

describe('option validation', () => {
  test.each<[string, RateLimiterOptions, string]>([
    [
      'a negative limit',
      { resolveTier, tiers: { free: { api: { limit: -1, windowMs: 60_000 } } } },
      'Expected `tiers.free.api.limit` to be a positive integer, got -1.',
    ],
    [
      'a fractional burst',
      { resolveTier, tiers: { pro: { events: { limit: 10, windowMs: 1_000, burst: 2.5 } } } },
      'Expected `tiers.pro.events.burst` to be a positive integer, got 2.5.',
    ],
    [
      'a window in seconds by mistake (too long)',
      { resolveTier, tiers: { free: { api: { limit: 1, windowMs: 60_000 * 1_000_000 } } } },
      'Expected `tiers.free.api.windowMs` to be at most 31622400000 (a year, in milliseconds), got 60000000000.',
    ],
    [
      'a string limit',
      { resolveTier, ip: { limit: '100' as unknown as number, windowMs: 1 } },
      'Expected `ip.limit` to be a positive integer, got "100".',
    ],
    [
      'no resolver',
      {},
      'Expected `resolveTier` to be a function mapping an API key to a tier name (or set `anonymousTier`), got undefined.',
    ],
    [
      'an unknown anonymous tier',
      { anonymousTier: 'gold' },
      'Expected `anonymousTier` to be one of the configured tiers (free, starter, pro, enterprise), got "gold".',
    ],
    [
      'an IPv6 subnet of 0',
      { resolveTier, ipv6Subnet: 0 },
      'Expected `ipv6Subnet` to be an integer from 1 to 128, got 0.',
    ],
    [
      'a store without consume',
      { resolveTier, store: {} as never },
      'Expected `store` to be a store (an object with a `consume` method, such as `memoryStore()`), got an object.',
    ],
    [
      'an empty tier map',
      { resolveTier, tiers: {} },
      'Expected `tiers` to define at least one tier, got an empty object.',
    ],
    [
      'a header name with a space',
      { resolveTier, apiKeyHeader: 'x api key' },
      'Expected `apiKeyHeader` to be an HTTP header name, got "x api key".',
    ],
  ])('%s', (_label, options, expected) => {
    expect(message(options)).toBe(expected);
  });

  test('a misspelt option is rejected with a suggestion, not ignored', () => {
    expect(message({ resolveTier, tier: {} } as never)).toMatch(
      /^Unknown option `tier` in rate limiter options; .* Did you mean `tiers`\?$/,
    );
    expect(message({ resolveTier, tiers: { free: { api: { max: 1, windowMs: 1 } as never } } })).toMatch(
      /^Unknown option `tiers.free.api.max`/,
    );
  });

  test('`ip` is reserved for the cross-tier IP policy', () => {
    expect(message({ resolveTier, tiers: { free: { ip: { limit: 1, windowMs: 1 } } } })).toMatch(/reserved name/);
  });

  test('a route whose policy some tier lacks fails when the route is built', () => {
    const limiter = createRateLimiter({
      resolveTier,
      tiers: {
        free: { api: { limit: 1, windowMs: 1_000 }, search: { limit: 1, windowMs: 1_000 } },
        pro: { api: false },
      },
    });
    expect(() => limiter.handler({ policy: 'search' })).toThrow(
      'Route policy `search` is not defined by tier `pro`; set `tiers.pro.search` to limits, or to false for no limit.',
    );
    expect(() => limiter.handler({ policy: 'api', cost: -2 })).toThrow(
      'Expected `cost` to be a non-negative integer, got -2.',
    );
    expect(() => limiter.handler({ policy: 'api', costs: 1 } as never)).toThrow(/Did you mean `cost`\?/);
  });

  test('the preset is the SPEC table and cannot be mutated by accident', () => {
    expect(defaultTiers.free).toEqual({
      api: { limit: 100, windowMs: 60_000 },
      events: { limit: 500, windowMs: 60_000, burst: 50 },
      websocket: { connections: 10 },
    });
    expect(defaultTiers.starter.api.limit).toBe(500);
    expect(defaultTiers.starter.events).toEqual({ limit: 2_500, windowMs: 60_000, burst: 250 });
    expect(defaultTiers.pro.events).toEqual({ limit: 10_000, windowMs: 60_000, burst: 1_000 });
    expect(defaultTiers.pro.websocket.connections).toBe(200);
    expect(Object.isFrozen(defaultTiers.free.api)).toBe(true);
  });
});
