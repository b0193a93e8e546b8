/**
 * The store timeout blames only the store (issue 13): it counts from when the decision
 * left the process (`sent()`), a reply already waiting in the socket is read before the
 * deadline is judged, a charge the store made for a request answered without it is given
 * back when it was refused, and an outage is reported once per outage.
 */
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import {
  type ConsumeOptions,
  type ConsumeResult,
  createRateLimiter,
  type FaultMode,
  MemoryStore,
  type Store,
  type StoreCheck,
  type Warning,
} from '@tierlimit/core';

const facts = (key = 'k') => ({ ip: '198.51.100.1', headers: { 'x-api-key': key } });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Blocks the event loop, as a burst of requests on a busy machine does. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

/** An asynchronous store over a memory store, whose timing the test controls. */
class ScriptedStore implements Store {
  readonly inner = new MemoryStore({ sweepIntervalMs: 0 });
  readonly refunds: Array<{ checks: readonly StoreCheck[]; result: ConsumeResult }> = [];
  /** How long a decision waits in this process before it is sent (a batching store's queue). */
  queueMs = 0;
  /** How long the store takes once it has the decision. */
  answerMs = 0;

  consume(checks: readonly StoreCheck[], options?: ConsumeOptions): Promise<ConsumeResult> {
    return new Promise((resolve) => {
      setTimeout(() => {
        options?.sent?.();
        const answer = this.inner.consume(checks, options);
        setTimeout(() => resolve(answer), this.answerMs);
      }, this.queueMs);
    });
  }

  refund(checks: readonly StoreCheck[], result: ConsumeResult): void {
    this.refunds.push({ checks, result });
    this.inner.refund(checks, result);
  }
}

function limiterOn(store: Store, mode: FaultMode, extra: Record<string, unknown> = {}) {
  return createRateLimiter({
    resolveTier: () => 'free',
    tiers: { free: { api: { limit: 3, windowMs: 60_000 } } },
    ip: false,
    store,
    storeFaults: { mode, timeoutMs: 50, failureThreshold: 100 },
    onWarning: () => undefined,
    ...extra,
  });
}

describe('the store timeout', () => {
  test('counts from sent(): a decision queued behind this process’s own work is not a timeout', async () => {
    // Like the Redis store: decisions asked for in one turn of the event loop are sent
    // together at its end (setImmediate). That turn is busy for 120 ms, over twice the
    // timeout, before the decision even leaves; the store then answers in 10 ms.
    const inner = new MemoryStore({ sweepIntervalMs: 0 });
    const batching: Store = {
      consume: (checks, options) =>
        new Promise((resolve) => {
          setImmediate(() => {
            options?.sent?.();
            const answer = inner.consume(checks);
            setTimeout(() => resolve(answer), 10);
          });
        }),
    };
    const limiter = limiterOn(batching, 'closed');
    const pending = limiter.check(facts());
    busy(120);
    const decision = await pending;
    expect(decision.status).toBe(200);
    expect(decision.degraded).toBeUndefined();
    await limiter.close();
  });

  test('still fails a store that has the decision and does not answer in time', async () => {
    const store = new ScriptedStore();
    store.queueMs = 0;
    store.answerMs = 300;
    const limiter = limiterOn(store, 'closed');
    const started = performance.now();
    const decision = await limiter.check(facts());
    expect(decision.status).toBe(503);
    expect(performance.now() - started).toBeLessThan(250);
    await limiter.close();
  });

  test('a reply that arrived while the event loop was busy past the deadline is read, not counted lost', async () => {
    // A real socket to another process: the store's answer is an echo, back within a
    // millisecond, while this process is busy for 150 ms (three timeouts). When it is
    // free, the expired timer runs before the socket is read.
    const echo = spawn(
      process.execPath,
      [
        '-e',
        "const s=require('net').createServer(c=>c.pipe(c)).listen(0,'127.0.0.1',()=>console.log(s.address().port))",
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const port = await new Promise<number>((resolve) =>
      echo.stdout.once('data', (data) => resolve(Number(String(data)))),
    );
    const socket: Socket = connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const inner = new MemoryStore({ sweepIntervalMs: 0 });
    const store: Store = {
      consume: (checks, options) =>
        new Promise((resolve) => {
          options?.sent?.();
          socket.once('data', () => resolve(inner.consume(checks)));
          socket.write('x');
        }),
    };
    const limiter = limiterOn(store, 'closed');
    const pending = limiter.check(facts());
    busy(150);
    expect((await pending).status).toBe(200);
    await limiter.close();
    socket.destroy();
    echo.kill();
  });
  test('calls that time out together are one failure: one slow batch does not open the circuit', async () => {
    let hang = true;
    let calls = 0;
    const inner = new MemoryStore({ sweepIntervalMs: 0 });
    const store: Store = {
      consume: (checks) => {
        calls++;
        return hang ? new Promise(() => undefined) : Promise.resolve(inner.consume(checks));
      },
    };
    const limiter = createRateLimiter({
      resolveTier: () => 'free',
      tiers: { free: { api: { limit: 100, windowMs: 60_000 } } },
      ip: false,
      store,
      storeFaults: { mode: 'local', timeoutMs: 50, failureThreshold: 3 },
      onWarning: () => undefined,
    });
    const slow = await Promise.all(Array.from({ length: 20 }, () => limiter.check(facts())));
    expect(slow.every((decision) => decision.degraded === 'local')).toBe(true);
    hang = false;
    const callsBefore = calls;
    const next = await limiter.check(facts());
    // Still asked (the circuit is closed), and answered by the store.
    expect(calls).toBe(callsBefore + 1);
    expect(next.degraded).toBeUndefined();
    await limiter.close();
  });
});

describe('an answer that comes after the limiter answered without the store', () => {
  test('closed: the 503 request is not left charged', async () => {
    const store = new ScriptedStore();
    store.answerMs = 150;
    const limiter = limiterOn(store, 'closed');
    expect((await limiter.check(facts())).status).toBe(503);
    await sleep(250);
    expect(store.refunds).toHaveLength(1);
    // The store's count is back to zero: the next three requests are admitted.
    store.answerMs = 0;
    for (let i = 0; i < 3; i++) expect((await limiter.check(facts())).status).toBe(200);
    expect((await limiter.check(facts())).status).toBe(429);
    await limiter.close();
  });

  test('local: a request the fallback refused is refunded; one it admitted keeps its charge', async () => {
    const store = new ScriptedStore();
    store.answerMs = 150;
    // The fallback charges each request 3 times (instances: 3), so it admits one of the 3.
    const limiter = limiterOn(store, 'local', {
      storeFaults: { mode: 'local', timeoutMs: 50, instances: 3, failureThreshold: 100 },
    });
    const [first, second] = await Promise.all([limiter.check(facts()), limiter.check(facts())]);
    expect([first.status, second.status]).toEqual([200, 429]);
    expect(first.degraded).toBe('local');
    await sleep(250);
    // Both reached the store and were charged there; only the refused one is given back.
    expect(store.refunds).toHaveLength(1);
    store.answerMs = 0;
    const states: number[] = [];
    for (let i = 0; i < 3; i++) states.push((await limiter.check(facts())).status);
    expect(states).toEqual([200, 200, 429]);
    await limiter.close();
  });
});

test('TL_STORE_FAILED is reported once per outage, not once per process', async () => {
  const warnings: Warning[] = [];
  let down = true;
  const inner = new MemoryStore({ sweepIntervalMs: 0 });
  const flaky: Store = {
    consume: (checks) => (down ? Promise.reject(new Error('ECONNREFUSED')) : Promise.resolve(inner.consume(checks))),
  };
  let now = 1_000_000;
  const limiter = createRateLimiter({
    resolveTier: () => 'free',
    store: flaky,
    now: () => now,
    storeFaults: { failureThreshold: 100 },
    onWarning: (warning) => warnings.push(warning),
  });
  for (let i = 0; i < 5; i++) await limiter.check(facts());
  down = false;
  await limiter.check(facts());
  now += 3_600_000;
  down = true;
  for (let i = 0; i < 5; i++) await limiter.check(facts());
  expect(warnings.map((w) => w.code)).toEqual(['TL_STORE_FAILED', 'TL_STORE_FAILED']);
  await limiter.close();
});
