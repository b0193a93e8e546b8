import { ConfigurationError, MemoryStore, type StoreCheck } from '@tierlimit/core';
import { ManualClock } from '../support/clock';

const window = (key: string, limit: number, cost = 1, windowMs = 60_000): StoreCheck => ({
  key,
  algorithm: 'fixed-window',
  limit,
  windowMs,
  capacity: limit,
  cost,
});

const bucket = (key: string, burst: number, perMinute: number, cost = 1): StoreCheck => ({
  key,
  algorithm: 'token-bucket',
  limit: perMinute,
  windowMs: 60_000,
  capacity: burst,
  cost,
});

// Semantics shared with every store (windows, buckets, all-or-nothing) are in
// test/stores/store-suite.test.ts; this file covers what only the memory store does.

describe('memory store', () => {
  let clock: ManualClock;
  let store: MemoryStore;

  beforeEach(() => {
    clock = new ManualClock();
    store = new MemoryStore({ now: clock.now, sweepIntervalMs: 0 });
  });

  describe('bounded memory', () => {
    test('expired state is reclaimed a few slots per call, with no timer per key', () => {
      for (let i = 0; i < 1_000; i++) store.consume([window(`k${i}`, 10)]);
      expect(store.size).toBe(1_000);
      clock.advance(60_000);
      for (let i = 0; i < 600; i++) store.consume([window('hot', 1_000_000)]);
      expect(store.size).toBe(1);
    });

    test('sweep() reclaims everything expired at once', () => {
      for (let i = 0; i < 100; i++) store.consume([bucket(`b${i}`, 10, 600, 10)]);
      clock.advance(999);
      expect(store.sweep()).toBe(0);
      clock.advance(1);
      expect(store.sweep()).toBe(100);
      expect(store.size).toBe(0);
    });

    test('a flood of distinct keys never grows past maxKeys', () => {
      const capped = new MemoryStore({ now: clock.now, maxKeys: 1_000, sweepIntervalMs: 0 });
      for (let i = 0; i < 100_000; i++) capped.consume([window(`ip${i}`, 10_000)]);
      expect(capped.size).toBeLessThanOrEqual(1_000);
    });

    test('overflow never resets a key that is being limited', () => {
      const capped = new MemoryStore({ now: clock.now, maxKeys: 4, sweepIntervalMs: 0 });
      for (let i = 0; i < 3; i++) capped.consume([window('abuser', 3)]);
      expect(capped.consume([window('abuser', 3)]).allowed).toBe(false);
      for (let i = 0; i < 50; i++) capped.consume([window(`flood${i}`, 100)]);
      expect([...capped.keys()]).toContain('abuser');
      expect(capped.consume([window('abuser', 3)]).allowed).toBe(false);
    });

    test('when every key is being limited, a new key is refused (full), never admitted untracked, and the operator is told once', () => {
      const warnings: string[] = [];
      const capped = new MemoryStore({
        now: clock.now,
        maxKeys: 2,
        sweepIntervalMs: 0,
        onFull: (m) => warnings.push(m),
      });
      for (const key of ['a', 'b']) capped.consume([window(key, 1)]);
      const refused = capped.consume([window('c', 1)]);
      expect(refused.allowed).toBe(false);
      expect(refused.states[0]).toMatchObject({ allowed: false, full: true, retryMs: 60_000 });
      expect([...capped.keys()].sort()).toEqual(['a', 'b']);
      expect(capped.refusedForSpace).toBe(1);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('TL_MEMORY_STORE_FULL');
    });

    test("whenFull 'evict': the least-used key gives up its slot, never one that used most of its limit (issue 13)", () => {
      const capped = new MemoryStore({ now: clock.now, maxKeys: 4, sweepIntervalMs: 0, onFull: () => undefined });
      for (let i = 0; i < 9; i++) capped.consume([window('heavy', 10)]);
      for (const key of ['light1', 'light2', 'light3']) capped.consume([window(key, 10)]);
      expect(capped.consume([window('newcomer', 10)]).allowed).toBe(true);
      expect([...capped.keys()]).toContain('heavy');
      // heavy had 9 of 10: one more, then refused, as if the store had room for everyone.
      expect(capped.consume([window('heavy', 10)]).allowed).toBe(true);
      expect(capped.consume([window('heavy', 10)]).allowed).toBe(false);
      // One light key's one unit was forgotten: the most this overflow over-admitted.
      expect(capped.evictedUnits).toBe(1);
    });

    test("whenFull 'refuse': live state is never forgotten; a new key waits until a slot frees up", () => {
      const capped = new MemoryStore({
        now: clock.now,
        maxKeys: 2,
        sweepIntervalMs: 0,
        whenFull: 'refuse',
        onFull: () => undefined,
      });
      capped.consume([window('a', 10)]);
      clock.advance(10_000);
      capped.consume([window('b', 10)]);
      const refused = capped.consume([window('c', 10)]);
      expect(refused.states[0]).toMatchObject({ allowed: false, full: true, retryMs: 50_000 });
      expect(capped.evictedUnits).toBe(0);
      clock.advance(50_000);
      expect(capped.consume([window('c', 10)]).allowed).toBe(true);
      expect(capped.consume([window('b', 10)]).states[0]?.remaining).toBe(8);
    });

    test("a full store's refusal is a 503 with Retry-After through the limiter, not a 429", async () => {
      const { createRateLimiter } = await import('@tierlimit/core');
      const capped = new MemoryStore({
        now: clock.now,
        maxKeys: 1,
        sweepIntervalMs: 0,
        whenFull: 'refuse',
        onFull: () => undefined,
      });
      const limiter = createRateLimiter({
        resolveTier: () => 'free',
        tiers: { free: { api: { limit: 5, windowMs: 60_000 } } },
        ip: false,
        store: capped,
        now: clock.now,
      });
      expect((await limiter.check({ ip: '198.51.100.1', headers: { 'x-api-key': 'one' } })).status).toBe(200);
      const refused = await limiter.check({ ip: '198.51.100.1', headers: { 'x-api-key': 'two' } });
      expect(refused.status).toBe(503);
      expect(refused.headers['Retry-After']).toBe('60');
    });

    test('reset() forgets one key or all of them', () => {
      store.consume([window('a', 1)]);
      store.consume([window('b', 1)]);
      store.reset('a');
      expect(store.consume([window('a', 1)]).allowed).toBe(true);
      expect(store.consume([window('b', 1)]).allowed).toBe(false);
      store.reset();
      expect(store.size).toBe(0);
      expect(store.consume([window('b', 1)]).allowed).toBe(true);
    });

    test('the background sweep is one unref-ed timer, started on first use and stopped by close()', () => {
      jest.useFakeTimers();
      try {
        const timed = new MemoryStore({ now: clock.now, sweepIntervalMs: 1_000 });
        expect(jest.getTimerCount()).toBe(0);
        for (let i = 0; i < 10; i++) timed.consume([window(`k${i}`, 10)]);
        expect(jest.getTimerCount()).toBe(1);
        clock.advance(60_000);
        jest.advanceTimersByTime(1_000);
        expect(timed.size).toBe(0);
        timed.close();
        expect(jest.getTimerCount()).toBe(0);
      } finally {
        jest.useRealTimers();
      }
    });
  });

  test('options are validated at construction', () => {
    expect(() => new MemoryStore({ maxKeys: 0 })).toThrow(
      new ConfigurationError('Expected `maxKeys` to be a positive integer, got 0.'),
    );
    expect(() => new MemoryStore({ maxKeys: 1e9 })).toThrow(/at most 16000000/);
    expect(() => new MemoryStore({ sweepIntervalMs: -1 })).toThrow(/`sweepIntervalMs` to be a non-negative integer/);
    expect(() => new MemoryStore({ maxkeys: 5 } as never)).toThrow(/Did you mean `maxKeys`\?/);
    expect(() => new MemoryStore({ whenFull: 'lru' } as never)).toThrow(
      "Expected `whenFull` to be 'evict' or 'refuse', got \"lru\".",
    );
  });
});
