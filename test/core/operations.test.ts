/**
 * Operating a paid API (issue 5): suspensions, key enumeration, live overrides and tier
 * reloads, shadow mode and decision events, on the limiter with an injected clock.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigurationError,
  createRateLimiter,
  type Decision,
  type ErrorBody,
  loadTiers,
  memoryStore,
  type RateLimiterOptions,
  watchTiers,
} from '@tierlimit/core';
import { ManualClock } from '../support/clock';

const as = (key: string | undefined, ip = '198.51.100.1') => ({
  ip,
  headers: key === undefined ? {} : { 'x-api-key': key },
});
const error = (decision: Decision) => (decision.body as ErrorBody).error;

describe('operations', () => {
  let clock: ManualClock;

  function limiter(options: RateLimiterOptions = {}) {
    return createRateLimiter({
      resolveTier: (key) => (key.startsWith('k-') ? 'free' : null),
      now: clock.now,
      onWarning: () => undefined,
      tiers: { free: { api: { limit: 3, windowMs: 60_000 }, events: { limit: 60, windowMs: 60_000, burst: 5 } } },
      ...options,
    });
  }

  beforeEach(() => {
    clock = new ManualClock();
  });

  describe('suspension', () => {
    test('a key that keeps sending after being limited is suspended, told so, and recovers after the suspension', async () => {
      const l = limiter({ suspension: { threshold: 5, windowMs: 60_000, durationMs: 600_000 } });
      const suspended: string[] = [];
      l.on('suspended', ({ identity, policy }) => suspended.push(`${identity.slice(0, 1)}:${policy}`));
      for (let i = 0; i < 3; i++) expect((await l.check(as('k-hammer'))).allowed).toBe(true);
      for (let i = 0; i < 4; i++) expect((await l.check(as('k-hammer'))).code).toBe('RATE_LIMITED');
      const fifth = await l.check(as('k-hammer'));
      expect(fifth.status).toBe(429);
      expect(fifth.code).toBe('SUSPENDED');
      expect(fifth.headers['Retry-After']).toBe('600');
      expect(error(fifth).message).toBe(
        'Temporarily suspended for sending requests after being rate limited. Retry after 600 seconds.',
      );
      expect(error(fifth).details).toEqual({ policy: 'api', retryAfter: 600, suspendedUntil: '2025-01-21T10:10:00Z' });
      expect(suspended).toEqual(['h:api']);
      // The window resets after a minute; the suspension still holds, with a correct Retry-After.
      clock.advance(60_000);
      const later = await l.check(as('k-hammer'));
      expect(later.code).toBe('SUSPENDED');
      expect(later.headers['Retry-After']).toBe('540');
      // Other keys are unaffected.
      expect((await l.check(as('k-polite'))).allowed).toBe(true);
      clock.advance(540_000);
      expect((await l.check(as('k-hammer'))).allowed).toBe(true);
      expect(suspended).toEqual(['h:api']);
    });

    test('operators list suspensions and lift one by API key or IP', async () => {
      const l = limiter({ suspension: { threshold: 2 }, ip: { limit: 2, windowMs: 60_000 } });
      // An address over its IP limit, with ever new keys: the address is suspended.
      for (let i = 0; i < 4; i++) await l.check(as(`k-${i}`, '203.0.113.5'));
      // A key over its own limit from elsewhere: the key is suspended.
      for (let i = 0; i < 5; i++) await l.check(as('k-a', `198.51.100.${i + 10}`));
      const list = await l.suspensions();
      expect(list.map((s) => s.identity.slice(0, 1)).sort()).toEqual(['h', 'i']);
      expect(list.find((s) => s.identity.startsWith('i'))?.identity).toBe('i203.0.113.5');
      expect(await l.liftSuspension({ ip: '203.0.113.5' })).toBe(true);
      expect(await l.liftSuspension({ apiKey: 'k-a' })).toBe(true);
      expect(await l.suspensions()).toEqual([]);
      // Lifted, the key is only rate limited by its window again.
      expect((await l.check(as('k-a', '198.51.100.99'))).code).toBe('RATE_LIMITED');
      clock.advance(60_000);
      expect((await l.check(as('k-a', '203.0.113.5'))).allowed).toBe(true);
    });
  });

  describe('key enumeration', () => {
    test('1,000 random keys from one IP are limited after the configured number and create no per-key state', async () => {
      const store = memoryStore({ now: clock.now });
      let resolverCalls = 0;
      const l = limiter({
        store,
        unknownKeys: { limit: 20, windowMs: 600_000 },
        resolveTier: (key) => {
          resolverCalls++;
          return key.startsWith('k-') ? 'free' : null;
        },
      });
      const statuses: number[] = [];
      for (let i = 0; i < 1_000; i++) {
        const decision = await l.check(as(`guess-${i}-${Math.random().toString(36).slice(2)}`));
        statuses.push(decision.status);
        // Nothing tier-specific: the free tier's 3/minute never shows to a guesser.
        expect(decision.limit).not.toBe(3);
      }
      expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true);
      expect(statuses.slice(20).every((s) => s === 429)).toBe(true);
      // 20, and one probe for the blocked address (one per 30 s: 600 s / 20 keys).
      expect(resolverCalls).toBe(21);
      expect([...store.keys()].sort()).toEqual(['ip:i198.51.100.1', 'unknown-keys:i198.51.100.1']);
      // A malformed key counts too; another address is not affected.
      expect((await l.check(as('bad key', '198.51.100.2'))).status).toBe(400);
      expect((await l.check(as('k-real', '198.51.100.2'))).allowed).toBe(true);
    });

    test('a blocked address keeps its valid keys: one guesser behind a NAT does not lock out everyone (issue 13)', async () => {
      let resolverCalls = 0;
      const l = limiter({
        unknownKeys: { limit: 5, windowMs: 600_000 },
        resolverCacheMs: 1_000,
        resolveTier: (key) => {
          resolverCalls++;
          return key.startsWith('k-') ? 'free' : null;
        },
      });
      expect((await l.check(as('k-colleague'))).allowed).toBe(true);
      clock.advance(2_000); // the colleague's key is no longer in the resolver cache
      for (let i = 0; i < 10; i++) await l.check(as(`guess-${i}`));
      const callsWhenBlocked = resolverCalls;
      // A key seen valid before: resolved and admitted at once.
      expect((await l.check(as('k-colleague'))).allowed).toBe(true);
      // Guesses stay refused, without the resolver.
      for (let i = 10; i < 30; i++) expect((await l.check(as(`guess-${i}`))).status).toBe(429);
      expect(resolverCalls).toBe(callsWhenBlocked + 1);
      // A valid key never seen here gets the address's next lookup, one per 120 s (600 s / 5).
      clock.advance(120_000);
      expect((await l.check(as('k-newcomer'))).allowed).toBe(true);
      expect((await l.check(as('guess-after'))).status).toBe(429);
    });
  });

  describe('live limit management', () => {
    test('an override raises a key’s limit at once and ends exactly at its expiry', async () => {
      const l = limiter();
      await l.check(as('k-launch'));
      await l.setOverride({ apiKey: 'k-launch' }, { limits: { api: { limit: 10 } }, expiresAt: clock.now() + 30_000 });
      const raised = await l.check(as('k-launch'));
      expect(raised.limit).toBe(10);
      expect(raised.remaining).toBe(8);
      expect((await l.overrides()).map((o) => o.override)).toEqual([
        { limits: { api: { limit: 10 } }, expiresAt: ManualClock.START + 30_000 },
      ]);
      clock.advance(29_999);
      expect((await l.check(as('k-launch'))).limit).toBe(10);
      clock.advance(1);
      const back = await l.check(as('k-launch'));
      expect(back.limit).toBe(3);
      expect(back.status).toBe(429);
    });

    test('another instance sharing the store applies the override within its resolver cache time', async () => {
      const store = memoryStore({ now: clock.now });
      const a = limiter({ store, resolverCacheMs: 10_000 });
      const b = limiter({ store, resolverCacheMs: 10_000 });
      await b.check(as('k-shared'));
      await a.setOverride({ apiKey: 'k-shared' }, { limits: { api: { limit: 50 } } });
      expect((await b.check(as('k-shared'))).limit).toBe(3);
      clock.advance(10_000);
      expect((await b.check(as('k-shared'))).limit).toBe(50);
      expect(await a.removeOverride({ apiKey: 'k-shared' })).toBe(true);
      expect((await a.check(as('k-shared'))).limit).toBe(3);
    });

    test('overrides are validated before they are stored', async () => {
      const l = limiter();
      await expect(l.setOverride({ id: 'acme' }, { limits: { api: { limit: -1 } } })).rejects.toThrow(
        'Expected `override.limits.api.limit` to be a positive integer, got -1.',
      );
      await expect(l.setOverride({ id: 'acme' }, { limits: {}, expiresAt: clock.now() - 1 })).rejects.toThrow(
        /`expiresAt` to be a time in the future/,
      );
      await expect(l.setOverride({ apiKey: 'nobody' }, { limits: {} })).rejects.toThrow('does not resolve');
    });

    test('setTiers changes limits without a restart, and refuses tiers that break a route', async () => {
      const l = limiter();
      l.handler({ policy: 'events' });
      expect((await l.check(as('k-a'))).limit).toBe(3);
      l.setTiers({ free: { api: { limit: 7, windowMs: 60_000 }, events: { limit: 60, windowMs: 60_000, burst: 5 } } });
      expect((await l.check(as('k-a'))).limit).toBe(7);
      expect(() => l.setTiers({ free: { api: { limit: 7, windowMs: 60_000 } } })).toThrow(
        'Route policy `events` is not defined by tier `free`',
      );
      expect(() =>
        l.setTiers({ free: { api: { limit: 7, windowMs: 60_000 }, events: { limit: 1, windowMs: 1, burst: 0 } } }),
      ).toThrow('Expected `tiers.free.events.burst` to be a positive integer, got 0.');
      expect((await l.check(as('k-a'))).limit).toBe(7);
    });

    test('a tiers file is validated with the exact path, and a watched file reloads on change', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tierlimit-tiers-'));
      const file = join(dir, 'tiers.json');
      writeFileSync(
        file,
        JSON.stringify({
          tiers: { pro: { api: { limit: 100, windowMs: 60_000 }, events: { limit: 10, windowMs: 1_000, burst: 'x' } } },
        }),
      );
      expect(() => loadTiers(file)).toThrow(
        new ConfigurationError(
          `In the tiers file ${file}: Expected \`tiers.pro.events.burst\` to be a positive integer, got "x".`,
        ),
      );
      writeFileSync(file, '{ "tiers": ');
      expect(() => loadTiers(file)).toThrow(/is not valid JSON/);

      writeFileSync(file, JSON.stringify({ free: { api: { limit: 4, windowMs: 60_000 } } }));
      const l = limiter({ tiers: loadTiers(file) });
      expect((await l.check(as('k-a'))).limit).toBe(4);
      const reloaded = new Promise<void>((resolve) => {
        const watcher = watchTiers(l, file, {
          debounceMs: 20,
          onReload: () => {
            watcher.close();
            resolve();
          },
        });
      });
      writeFileSync(file, JSON.stringify({ free: { api: { limit: 9, windowMs: 60_000 } } }));
      await reloaded;
      expect((await l.check(as('k-a'))).limit).toBe(9);
    });
  });

  describe('shadow mode', () => {
    test('a shadow policy never blocks but reports in headers and events', async () => {
      const l = limiter({
        tiers: { free: { api: { limit: 2, windowMs: 60_000, shadow: true } } },
        ip: { limit: 100, windowMs: 60_000 },
      });
      const shadowed: string[] = [];
      l.on('shadowLimited', ({ policy }) => shadowed.push(policy));
      for (let i = 0; i < 5; i++) {
        const decision = await l.check(as('k-a'));
        expect(decision.allowed).toBe(true);
        // X-RateLimit-* describe only enforced policies (here the IP's).
        expect(decision.headers['X-RateLimit-Limit']).toBe('100');
        expect(decision.headers['X-RateLimit-Shadow']).toBe(i >= 2 ? 'api' : undefined);
      }
      expect(shadowed).toEqual(['api', 'api', 'api']);
    });

    test('global shadow mode never refuses for a limit, not even a batch over the burst', async () => {
      const l = limiter({ shadow: true, ip: { limit: 1, windowMs: 60_000 } });
      for (let i = 0; i < 5; i++) expect((await l.check(as('k-a'))).allowed).toBe(true);
      const batch = await l.check(as('k-a'), { policy: 'events', cost: 50 });
      expect(batch.allowed).toBe(true);
      expect(batch.headers['X-RateLimit-Shadow']).toBe('ip, events');
    });
  });

  test('every decision kind is an event', async () => {
    const l = limiter({ ip: { limit: 10, windowMs: 60_000 } });
    const seen: string[] = [];
    for (const name of ['allowed', 'limited', 'refused'] as const)
      l.on(name, (d: Decision) => seen.push(`${name}:${d.status}`));
    for (let i = 0; i < 4; i++) await l.check(as('k-a'));
    await l.check(as(undefined));
    expect(seen).toEqual(['allowed:200', 'allowed:200', 'allowed:200', 'limited:429', 'refused:401']);
  });
});
