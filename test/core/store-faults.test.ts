import type { ErrorBody } from '@tierlimit/core';
import {
  type ConsumeResult,
  createRateLimiter,
  type FaultMode,
  memoryStore,
  type Store,
  type StoreCheck,
} from '@tierlimit/core';
import { ManualClock } from '../support/clock';

/** A store the test breaks and mends: asynchronous like Redis, backed by a memory store. */
class FlakyStore implements Store {
  readonly inner: ReturnType<typeof memoryStore>;
  mode: 'up' | 'down' | 'hang' = 'up';
  calls = 0;

  constructor(now: () => number) {
    this.inner = memoryStore({ now, sweepIntervalMs: 0 });
  }

  consume(checks: readonly StoreCheck[]): Promise<ConsumeResult> {
    this.calls++;
    if (this.mode === 'down') return Promise.reject(new Error('ECONNREFUSED'));
    if (this.mode === 'hang') return new Promise(() => undefined);
    return Promise.resolve(this.inner.consume(checks));
  }
}

const facts = (key = 'k') => ({ ip: '198.51.100.1', headers: { 'x-api-key': key } });

describe('store faults', () => {
  let clock: ManualClock;
  let store: FlakyStore;

  function limiter(mode: FaultMode, extra: Record<string, number> = {}) {
    return createRateLimiter({
      resolveTier: () => 'free',
      now: clock.now,
      store,
      storeFaults: { mode, failureThreshold: 3, cooldownMs: 1_000, ...extra },
      onWarning: () => undefined,
    });
  }

  beforeEach(() => {
    clock = new ManualClock();
    store = new FlakyStore(clock.now);
  });

  test('closed: 503 SERVICE_UNAVAILABLE with Retry-After, never 429', async () => {
    const l = limiter('closed');
    store.mode = 'down';
    const decision = await l.check(facts());
    expect(decision.status).toBe(503);
    expect(decision.headers['Retry-After']).toBe('1');
    expect((decision.body as ErrorBody | undefined)?.error.code).toBe('SERVICE_UNAVAILABLE');
  });

  test('local: decided by an in-process limiter, marked degraded, limits still enforced', async () => {
    const l = limiter('local');
    store.mode = 'down';
    for (let i = 0; i < 100; i++) {
      const decision = await l.check(facts());
      expect(decision.allowed).toBe(true);
      expect(decision.degraded).toBe('local');
      expect(decision.headers['X-RateLimit-Degraded']).toBe('local');
    }
    const denied = await l.check(facts());
    expect(denied.status).toBe(429);
    expect(denied.headers['X-RateLimit-Degraded']).toBe('local');
  });

  test('local with 4 instances charges each request 4 times, so the instances together admit the limit', async () => {
    const l = limiter('local', { instances: 4 });
    store.mode = 'down';
    let admitted = 0;
    for (let i = 0; i < 100; i++) if ((await l.check(facts())).allowed) admitted++;
    expect(admitted).toBe(25);
  });

  test('open: every request is served, with headers from the local estimate', async () => {
    const l = limiter('open');
    store.mode = 'down';
    for (let i = 0; i < 150; i++) {
      const decision = await l.check(facts());
      expect(decision.allowed).toBe(true);
      expect(decision.headers['X-RateLimit-Degraded']).toBe('open');
    }
    expect((await l.check(facts())).remaining).toBe(0);
  });

  test('the circuit opens after 3 failures, costs nothing while open, and one probe closes it', async () => {
    const l = limiter('local');
    const events: string[] = [];
    l.on('degraded', ({ mode }) => events.push(`degraded:${mode}`));
    l.on('recovered', ({ downtimeMs }) => events.push(`recovered:${downtimeMs}`));
    l.on('storeError', () => events.push('error'));
    await l.check(facts());
    store.mode = 'down';
    store.calls = 0;
    for (let i = 0; i < 50; i++) await l.check(facts());
    expect(store.calls).toBe(3);
    expect(l.degraded).toBe(true);
    clock.advance(1_000);
    await l.check(facts());
    expect(store.calls).toBe(4);
    store.mode = 'up';
    await l.check(facts());
    expect(store.calls).toBe(4);
    clock.advance(1_000);
    const healed = await l.check(facts());
    expect(store.calls).toBe(5);
    expect(healed.degraded).toBeUndefined();
    expect(healed.headers['X-RateLimit-Degraded']).toBeUndefined();
    // The shared store is the truth again: 1 request before the outage, 1 now.
    expect(healed.remaining).toBe(98);
    expect(l.degraded).toBe(false);
    expect(events).toEqual(['error', 'degraded:local', 'error', 'error', 'error', 'recovered:2000']);
  });

  test('a hanging store is bounded by timeoutMs', async () => {
    clock = new ManualClock();
    store = new FlakyStore(Date.now);
    const l = limiter('closed', { timeoutMs: 20 });
    store.mode = 'hang';
    const started = Date.now();
    const decision = await l.check(facts());
    expect(decision.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  test('calls in flight each get their own deadline; those answered in time are never failed', async () => {
    // One timer serves all calls in flight: a call made later than the first must still get
    // its full timeoutMs, and an answer that came in time must stand.
    const answers: Array<() => void> = [];
    const inner = memoryStore({ sweepIntervalMs: 0 });
    const slow: Store = {
      consume: (checks) =>
        new Promise((resolve) => {
          answers.push(() => resolve(inner.consume(checks) as ConsumeResult));
        }),
    };
    const l = createRateLimiter({
      resolveTier: () => 'free',
      store: slow,
      storeFaults: { mode: 'closed', timeoutMs: 1_000, failureThreshold: 100 },
      onWarning: () => undefined,
    });
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const first = l.check(facts('a'));
    await sleep(600);
    const second = l.check(facts('b'));
    const third = l.check(facts('c'));
    await sleep(650);
    // 1,250 ms after the first (past its deadline), 650 ms after the others (within theirs).
    (answers[1] as () => void)();
    expect((await first).status).toBe(503);
    expect((await second).status).toBe(200);
    expect((await third).status).toBe(503);
    (answers[0] as () => void)();
    (answers[2] as () => void)();
    await l.close();
  });

  test('no unhandled rejection from a store that rejects after its timeout', async () => {
    const unhandled = jest.fn();
    process.on('unhandledRejection', unhandled);
    try {
      let rejectLate: (error: Error) => void = () => undefined;
      const late: Store = {
        consume: () =>
          new Promise((_resolve, reject) => {
            rejectLate = reject;
          }),
      };
      const l = createRateLimiter({
        resolveTier: () => 'free',
        store: late,
        storeFaults: { timeoutMs: 5 },
        onWarning: () => undefined,
      });
      await l.check(facts());
      rejectLate(new Error('late'));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', unhandled);
    }
  });

  test.each([
    [{ mode: 'sideways' }, "Expected `storeFaults.mode` to be one of 'local', 'open' or 'closed', got \"sideways\"."],
    [{ timeoutMs: 0 }, 'Expected `storeFaults.timeoutMs` to be an integer from 1 to 60000, got 0.'],
    [{ instances: 0 }, 'Expected `storeFaults.instances` to be an integer from 1 to 10000, got 0.'],
    [{ retries: 1 }, /Unknown option `storeFaults.retries`/],
  ])('storeFaults %p is rejected at construction', (storeFaults, message) => {
    expect(() => createRateLimiter({ resolveTier: () => 'free', storeFaults: storeFaults as never })).toThrow(message);
  });
});
