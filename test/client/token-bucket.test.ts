/**
 * The client-side token bucket: starts full, refills continuously, serves waiters in
 * call order by reservation, gives tokens back on abort, and refuses a cost it could
 * never hold.
 */
import { CostExceedsBurstError, createTokenBucket } from '@tierlimit/client';
import { VirtualTime } from './support/virtual-time';

function bucket(time: VirtualTime, rate = 10, perMs = 1_000, burst = 5) {
  return createTokenBucket({ rate, perMs, burst, now: time.now, sleep: time.sleep });
}

test('starts full and lets a burst through without waiting', async () => {
  const time = new VirtualTime();
  const b = bucket(time);
  for (let i = 0; i < 5; i++) await b.take();
  expect(time.sleeps).toEqual([]);
  expect(b.available).toBe(0);
});

test('then waits exactly as long as refill needs', async () => {
  const time = new VirtualTime();
  const b = bucket(time); // 10 per second, burst 5
  await b.take(5);
  await time.run(b.take(2));
  expect(time.sleeps).toEqual([200]);
});

test('refills continuously, never above the burst', () => {
  const time = new VirtualTime();
  const b = bucket(time);
  expect(b.tryTake(5)).toBe(true);
  time.advance(250);
  expect(b.available).toBeCloseTo(2.5);
  time.advance(60_000);
  expect(b.available).toBe(5);
});

test('waiters are served in call order: a large take is not starved by later small ones', async () => {
  const time = new VirtualTime();
  const b = bucket(time);
  await b.take(5);
  const order: string[] = [];
  const big = b.take(4).then(() => order.push('big'));
  const small = b.take(1).then(() => order.push('small'));
  await time.run(Promise.all([big, small]));
  expect(order).toEqual(['big', 'small']);
  expect(time.sleeps).toEqual([400, 500]);
});

test('tryTake never waits and never jumps the queue', async () => {
  const time = new VirtualTime();
  const b = bucket(time);
  expect(b.tryTake(3)).toBe(true);
  expect(b.tryTake(3)).toBe(false);
  const waiting = b.take(4);
  time.advance(100); // one token refilled, but it is reserved for the waiter
  expect(b.tryTake(1)).toBe(false);
  await time.run(waiting);
});

test('an abort while waiting rejects with the reason and gives the tokens back', async () => {
  const time = new VirtualTime();
  const b = bucket(time);
  await b.take(5);
  const controller = new AbortController();
  const waiting = b.take(3, controller.signal);
  await time.settle();
  controller.abort('changed my mind');
  await expect(waiting).rejects.toBe('changed my mind');
  expect(b.available).toBe(0);
});

test('a cost above the burst can never succeed and is refused at once', async () => {
  const time = new VirtualTime();
  const b = bucket(time);
  await expect(b.take(6)).rejects.toBeInstanceOf(CostExceedsBurstError);
  await expect(b.take(6)).rejects.toMatchObject({ code: 'TL_COST_EXCEEDS_BURST' });
  expect(() => b.tryTake(0)).toThrow(RangeError);
});

test('rate per minute, burst defaulting to the rate', async () => {
  const time = new VirtualTime();
  const b = createTokenBucket({ rate: 600, perMs: 60_000, now: time.now, sleep: time.sleep });
  expect(b.burst).toBe(600);
  await b.take(600);
  await time.run(b.take(1));
  expect(time.sleeps).toEqual([100]);
});

test.each([
  [{ rate: 0 }, 'Expected `rate` to be a finite positive number, got 0.'],
  [{ rate: 1, perMs: -1 }, 'Expected `perMs` to be a finite positive number, got -1.'],
  [{ rate: 1, burst: 'x' }, 'Expected `burst` to be a finite positive number, got "x".'],
  [{ rate: 1, refill: 2 }, 'Unknown token bucket option `refill`.'],
])('bad options are refused: %j', (options, message) => {
  expect(() => createTokenBucket(options as never)).toThrow(message);
});
