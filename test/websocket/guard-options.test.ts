/**
 * Every guard option is validated at construction, with a message that names the option,
 * the value and what was expected; nothing is silently replaced by a default.
 */
import { ConfigurationError, createRateLimiter, memoryStore, type Store } from '@tierlimit/core';
import { type WebSocketGuardOptions, webSocketGuard } from '@tierlimit/ws';
import { resolveTier, warnings } from './helpers';

const limiter = createRateLimiter({ resolveTier });

function message(options: unknown): string {
  try {
    webSocketGuard(options as WebSocketGuardOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigurationError');
}

afterAll(() => limiter.close());

describe('webSocketGuard options', () => {
  test('defaults: 64 KiB maxPayload for the ws server', () => {
    expect(webSocketGuard({ limiter }).serverOptions).toEqual({ maxPayload: 65_536 });
    expect(webSocketGuard({ limiter, maxPayload: 1_024 }).serverOptions).toEqual({ maxPayload: 1_024 });
  });

  test.each<[string, unknown, string]>([
    ['no limiter', {}, 'Expected `limiter` to be a RateLimiter (from createRateLimiter()), got undefined.'],
    [
      'limiter options instead of a limiter',
      { limiter: { resolveTier } },
      'Expected `limiter` to be a RateLimiter (from createRateLimiter()), got an object.',
    ],
    ['negative maxPayload', { limiter, maxPayload: -1 }, 'Expected `maxPayload` to be a positive integer, got -1.'],
    [
      'fractional maxSubscriptions',
      { limiter, maxSubscriptions: 1.5 },
      'Expected `maxSubscriptions` to be a positive integer, got 1.5.',
    ],
    [
      'zero maxBufferedBytes',
      { limiter, maxBufferedBytes: 0 },
      'Expected `maxBufferedBytes` to be a positive integer, got 0.',
    ],
    [
      'negative bufferGraceMs',
      { limiter, bufferGraceMs: -1 },
      'Expected `bufferGraceMs` to be a non-negative integer, got -1.',
    ],
    [
      'bufferGraceMs in seconds, as a string',
      { limiter, bufferGraceMs: '5s' },
      'Expected `bufferGraceMs` to be a non-negative integer, got "5s".',
    ],
    [
      'bufferGraceMs past what a Node timer holds',
      { limiter, bufferGraceMs: 2 ** 31 },
      'Expected `bufferGraceMs` to be at most 2147483647 (about 24.8 days, the longest timer Node keeps), got 2147483648.',
    ],
    [
      'zero bufferCeilingBytes',
      { limiter, bufferCeilingBytes: 0 },
      'Expected `bufferCeilingBytes` to be a positive integer, got 0.',
    ],
    [
      'a ceiling under the cap',
      { limiter, maxBufferedBytes: 65_536, bufferCeilingBytes: 1_000 },
      'Expected `bufferCeilingBytes` to be at least `maxBufferedBytes` (65536), got 1000: the ceiling drops a client at once, the cap only after `bufferGraceMs`.',
    ],
    [
      'a ceiling under the default cap',
      { limiter, bufferCeilingBytes: 1_000_000 },
      'Expected `bufferCeilingBytes` to be at least `maxBufferedBytes` (1048576), got 1000000: the ceiling drops a client at once, the cap only after `bufferGraceMs`.',
    ],
    ['onError not a function', { limiter, onError: 'log' }, 'Expected `onError` to be a function, got "log".'],
    [
      'messages.limit 0',
      { limiter, messages: { limit: 0 } },
      'Expected `messages.limit` to be a positive integer, got 0.',
    ],
    [
      'messages.burst as a string',
      { limiter, messages: { burst: '10' } },
      'Expected `messages.burst` to be a positive integer, got "10".',
    ],
    ['messages: true', { limiter, messages: true }, 'Expected `messages` to be an object, got true.'],
    [
      'violations.windowMs negative',
      { limiter, violations: { windowMs: -5 } },
      'Expected `violations.windowMs` to be a positive integer, got -5.',
    ],
    ['cost negative', { limiter, cost: -1 }, 'Expected `cost` to be a non-negative integer, got -1.'],
    [
      'clientIp not a function',
      { limiter, clientIp: 'x-forwarded-for' },
      'Expected `clientIp` to be a function, got "x-forwarded-for".',
    ],
    ['now not a function', { limiter, now: 5 }, 'Expected `now` to be a function, got 5.'],
    [
      'requestIdHeader with a space',
      { limiter, requestIdHeader: 'X Request' },
      'Expected `requestIdHeader` to be a lower-case header name, got "X Request".',
    ],
    [
      'connections.leaseTtlMs 0',
      { limiter, connections: { leaseTtlMs: 0 } },
      'Expected `connections.leaseTtlMs` to be a positive integer, got 0.',
    ],
    [
      'heartbeat not shorter than the TTL',
      { limiter, connections: { leaseTtlMs: 1_000, heartbeatMs: 1_000 } },
      'Expected `connections.heartbeatMs` to be less than `connections.leaseTtlMs` (1000), got 1000: a lease must be renewed before it lapses.',
    ],
    [
      'connections.timeoutMs null',
      { limiter, connections: { timeoutMs: null } },
      'Expected `connections.timeoutMs` to be a positive integer, got null.',
    ],
    [
      'connections.retryAfterMs 0',
      { limiter, connections: { retryAfterMs: 0 } },
      'Expected `connections.retryAfterMs` to be a positive integer, got 0.',
    ],
    [
      'an unknown fault mode',
      { limiter, connections: { onStoreFailure: 'fail-open' } },
      "Expected `connections.onStoreFailure` to be one of 'local', 'open', 'closed', got \"fail-open\".",
    ],
    [
      'a store without leases',
      { limiter, connections: { store: { consume: () => undefined } } },
      'Expected `connections.store` to be a lease store (acquireLease, renewLease, releaseLease, countLeases), got an object.',
    ],
  ])('%s', (_name, options, expected) => {
    expect(message(options)).toBe(expected);
  });

  test('the send-buffer options accept their documented range', () => {
    expect(() => webSocketGuard({ limiter, bufferGraceMs: 0 })).not.toThrow();
    expect(() => webSocketGuard({ limiter, maxBufferedBytes: 1_024, bufferCeilingBytes: 1_024 })).not.toThrow();
    // The default ceiling follows the cap (4 ×), so a large cap alone is never an error.
    expect(() => webSocketGuard({ limiter, maxBufferedBytes: 64 * 1_048_576 })).not.toThrow();
    expect(() => webSocketGuard({ limiter, onError: () => undefined })).not.toThrow();
  });

  test('a misspelt option is an error, with a suggestion', () => {
    expect(message({ limiter, maxPayLoad: 10 })).toMatch(
      /^Unknown option `maxPayLoad` in webSocketGuard options; .* Did you mean `maxPayload`\?$/,
    );
    expect(message({ limiter, messages: { brust: 10 } })).toMatch(
      /Unknown option `messages\.brust`.* Did you mean `messages\.burst`\?$/,
    );
    expect(message({ limiter, connections: { ttlMs: 10 } })).toMatch(/^Unknown option `connections\.ttlMs`/);
    expect(message({ limiter, bufferGraceMS: 10 })).toMatch(/Did you mean `bufferGraceMs`\?$/);
  });

  test('the upgrade policy must exist in every tier, as for an HTTP route', () => {
    expect(message({ limiter, policy: 'sockets' })).toBe(
      'Route policy `sockets` is not defined by tier `free`; set `tiers.free.sockets` to limits, or to false for no limit.',
    );
    expect(() => webSocketGuard({ limiter, policy: 'events' })).not.toThrow();
  });

  test('a limiter store without leases: caps per process, said once', () => {
    const counting: Store = {
      consume: (checks) => ({
        allowed: true,
        states: checks.map(() => ({ allowed: true, remaining: 1, resetMs: 1, retryMs: 0 })),
      }),
    };
    const own = createRateLimiter({ resolveTier, store: counting });
    const seen = warnings();
    webSocketGuard({ limiter: own, onWarning: seen.onWarning });
    expect(seen.codes).toEqual(['TL_WS_LOCAL_LEASES']);
    const quiet = warnings();
    webSocketGuard({ limiter: own, onWarning: quiet.onWarning, connections: { store: memoryStore() } });
    expect(quiet.codes).toEqual([]);
  });
});
