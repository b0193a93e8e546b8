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

describe('memory store', () => {
  let clock: ManualClock;
  let store: MemoryStore;

  beforeEach(() => {
    clock = new ManualClock();
    store = new MemoryStore({ now: clock.now, sweepIntervalMs: 0 });
  });

  describe('fixed window', () => {
    test('admits exactly `limit` units per window, starting at the first hit', () => {
      clock.advance(10_000);
      for (let i = 1; i <= 3; i++) {
        const result = store.consume([window('a', 3)]);
        expect(result.allowed).toBe(true);
        expect(result.states[0]).toEqual({ allowed: true, remaining: 3 - i, resetMs: 61_000 - i * 1_000, retryMs: 0 });
        clock.advance(1_000);
      }
      const denied = store.consume([window('a', 3)]);
      expect(denied.allowed).toBe(false);
      expect(denied.states[0]).toEqual({ allowed: false, remaining: 0, resetMs: 57_000, retryMs: 57_000 });
      clock.advance(57_000);
      expect(store.consume([window('a', 3)]).states[0]).toMatchObject({ allowed: true, remaining: 2, resetMs: 60_000 });
    });

    test('a cost that does not fit is refused whole, even when some units remain', () => {
      store.consume([window('a', 10, 8)]);
      const denied = store.consume([window('a', 10, 3)]);
      expect(denied.states[0]).toMatchObject({ allowed: false, remaining: 2 });
      expect(store.consume([window('a', 10, 2)]).states[0]).toMatchObject({ allowed: true, remaining: 0 });
    });
  });

  describe('token bucket', () => {
    test('starts full, spends a burst, then refills continuously', () => {
      const spent = store.consume([bucket('b', 50, 500, 50)]);
      expect(spent.states[0]).toEqual({ allowed: true, remaining: 0, resetMs: 6_000, retryMs: 0 });
      const denied = store.consume([bucket('b', 50, 500)]);
      expect(denied.states[0]).toEqual({ allowed: false, remaining: 0, resetMs: 6_000, retryMs: 120 });
      clock.advance(60);
      expect(store.consume([bucket('b', 50, 500)]).states[0]).toMatchObject({ allowed: false, retryMs: 60 });
      clock.advance(60);
      expect(store.consume([bucket('b', 50, 500)]).states[0]).toMatchObject({ allowed: true, remaining: 0 });
      clock.advance(1_200);
      expect(store.consume([bucket('b', 50, 500, 0)]).states[0]).toMatchObject({ remaining: 10 });
    });

    test('never holds more than its capacity however long it idles', () => {
      store.consume([bucket('b', 5, 60, 5)]);
      clock.advance(3_600_000);
      expect(store.consume([bucket('b', 5, 60, 0)]).states[0]).toMatchObject({ remaining: 5, resetMs: 0 });
    });

    test('a clock that goes backwards mints no tokens', () => {
      store.consume([bucket('b', 5, 60, 5)]);
      clock.advance(-10_000);
      expect(store.consume([bucket('b', 5, 60)]).allowed).toBe(false);
    });

    test('admits at most capacity + refill x time over a long run', () => {
      let admitted = 0;
      for (let ms = 0; ms < 10_000; ms += 7) {
        if (store.consume([bucket('b', 50, 500, 3)]).allowed) admitted += 3;
        clock.advance(7);
      }
      expect(admitted).toBeLessThanOrEqual(50 + (500 * 10_000) / 60_000);
      expect(admitted).toBeGreaterThan(50 + (500 * 10_000) / 60_000 - 6);
    });
  });

  describe('all or nothing', () => {
    test('a request denied by one policy charges none of the others', () => {
      store.consume([window('ip', 100), bucket('ev', 10, 600, 10)]);
      const denied = store.consume([window('ip', 100), bucket('ev', 10, 600, 5)]);
      expect(denied.allowed).toBe(false);
      expect(denied.states[0]).toMatchObject({ allowed: true, remaining: 99 });
      expect(denied.states[1]).toMatchObject({ allowed: false });
      expect(store.consume([window('ip', 100, 0)]).states[0]).toMatchObject({ remaining: 99 });
    });

    test('denied requests do not count against the policy that denied them', () => {
      for (let i = 0; i < 3; i++) store.consume([window('a', 3)]);
      for (let i = 0; i < 50; i++) store.consume([window('a', 3)]);
      clock.advance(60_000);
      expect(store.consume([window('a', 3)]).states[0]).toMatchObject({ allowed: true, remaining: 2 });
    });

    test('a cost of 0 reads without creating state', () => {
      const peek = store.consume([window('a', 5, 0), bucket('b', 5, 60, 0)]);
      expect(peek.states).toEqual([
        { allowed: true, remaining: 5, resetMs: 60_000, retryMs: 0 },
        { allowed: true, remaining: 5, resetMs: 0, retryMs: 0 },
      ]);
      expect(store.size).toBe(0);
    });
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

    test('when every key is being limited, a new key is checked but not tracked, and the operator is told once', () => {
      const warnings: string[] = [];
      const capped = new MemoryStore({
        now: clock.now,
        maxKeys: 2,
        sweepIntervalMs: 0,
        onFull: (m) => warnings.push(m),
      });
      for (const key of ['a', 'b']) capped.consume([window(key, 1)]);
      expect(capped.consume([window('c', 1)]).allowed).toBe(true);
      expect(capped.consume([window('d', 1)]).allowed).toBe(true);
      expect([...capped.keys()].sort()).toEqual(['a', 'b']);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('TL_MEMORY_STORE_FULL');
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
  });
});
