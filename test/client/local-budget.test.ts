/**
 * The budget's bucket (budget-bucket.ts) through localBudget, in virtual time: a token
 * bucket that does not reserve, a pause that empties it and holds every taker, and the
 * pace learned from pauses (lowered once per pause, recovering with time, with a burst cut
 * to fit a sliding window meanwhile).
 */
import { CostExceedsBurstError, localBudget } from '@tierlimit/client';
import {
  budgetStateTtl,
  capacityAt,
  decideBudget,
  freshBudgetState,
  PACE_DECREASE,
  PACE_FLOOR,
  PACE_RECOVERY_MS,
} from '../../packages/client/src/budget-bucket';
import { START, VirtualTime } from './support/virtual-time';

/** A budget of `rate` a second in virtual time. */
function setup(rate = 10, burst = 10) {
  const time = new VirtualTime();
  return { time, b: localBudget({ rate, perMs: 1_000, burst, now: time.now, sleep: time.sleep }) };
}

test('starts full: a burst goes at once, then each unit waits for its refill', async () => {
  const { time, b } = setup();
  await b.take(10);
  expect(time.sleeps).toEqual([]);
  await time.run(b.take(3));
  expect(time.now() - START).toBe(300);
  expect(b.available).toBeCloseTo(0);
});

test('timeUntilAvailable reports the wait for N units and takes nothing', async () => {
  const { b } = setup();
  await b.take(8);
  await expect(b.timeUntilAvailable(5)).resolves.toBe(300);
  await expect(b.timeUntilAvailable(2)).resolves.toBe(0);
  expect(b.available).toBe(2);
});

test('a cost above the burst can never be granted: it rejects at once', async () => {
  const { b } = setup();
  await expect(b.take(11)).rejects.toBeInstanceOf(CostExceedsBurstError);
  await expect(b.take(0)).rejects.toThrow(RangeError);
});

test('an abort ends a wait with its reason and takes nothing', async () => {
  const { time, b } = setup();
  await b.take(10);
  await expect(b.take(5, AbortSignal.abort(new Error('cancelled')))).rejects.toThrow('cancelled');
  const controller = new AbortController();
  void time.sleep(100).then(() => controller.abort(new Error('gave up')));
  await expect(time.run(b.take(4, controller.signal))).rejects.toThrow('gave up');
  expect(time.now() - START).toBe(100);
  // Nothing was taken: after 0.5 s of refill in all, exactly 5 units are there.
  time.advance(400);
  expect(b.available).toBeCloseTo(5);
});

test('a pause holds every taker, empties the bucket and stops the refill until it ends', async () => {
  const { time, b } = setup();
  await b.take(2);
  await b.pauseUntil(time.now() + 2_000);
  expect(b.available).toBe(0);
  await expect(b.timeUntilAvailable(1)).resolves.toBe(2_000 + Math.ceil(1 / (0.01 * PACE_DECREASE)));
  const taken = time.run(b.take(1));
  await taken;
  expect(time.now() - START).toBe(2_106);
});

test('the pace drops once per pause, not once per 429 of it, and never below the floor', async () => {
  const { time, b } = setup();
  await b.pauseUntil(time.now() + 1_000);
  await b.pauseUntil(time.now() + 1_500); // another 429 of the same episode
  expect(b.pace).toBeCloseTo(PACE_DECREASE, 10);
  for (let i = 0; i < 40; i++) {
    time.advance(2_000);
    await b.pauseUntil(time.now() + 1_000);
  }
  expect(b.pace).toBeCloseTo(PACE_FLOOR, 2);
});

test('the pace recovers by one step every PACE_RECOVERY_MS without a pause, up to 1', async () => {
  const { time, b } = setup();
  await b.pauseUntil(time.now() + 1_000);
  time.advance(PACE_RECOVERY_MS / 2);
  expect(b.pace).toBeCloseTo(PACE_DECREASE + (1 - PACE_DECREASE) / 2, 10);
  time.advance(PACE_RECOVERY_MS);
  expect(b.pace).toBe(1);
});

test('below full pace the bucket holds half of (1 − pace) of its burst; a larger request goes when it is full', async () => {
  const { time, b } = setup(100, 100);
  await b.pauseUntil(time.now() + 1_000);
  time.advance(10_000);
  // pace ≈ 0.954 after 11 s of recovery: capacity ≈ 100 × 0.046 / 2 ≈ 2.3 units.
  expect(b.available).toBeCloseTo(capacityAt(b.pace, 100), 6);
  expect(b.available).toBeLessThan(3);
  await time.run(b.take(50)); // goes at once: the bucket is full, and it leaves a debt of about 48 units
  expect(time.now() - START).toBe(10_000);
  const next = time.run(b.take(1));
  await next;
  expect(time.now() - START).toBeGreaterThan(10_490);
});

test('the state expires once it equals a fresh bucket: the TTL covers the pause, the refill and the recovery', () => {
  const shape = { ratePerMs: 0.1, burst: 100 };
  let { state } = decideBudget(freshBudgetState(shape, START), START, { op: 'take', n: 100 }, shape);
  expect(budgetStateTtl(state, START, shape)).toBe(1_000 + 1_000);
  ({ state } = decideBudget(state, START, { op: 'pause', ms: 5_000 }, shape));
  // Paused 5 s, then one step of pace to recover (longer than the 1.05 s refill).
  expect(budgetStateTtl(state, START, shape)).toBe(5_000 + PACE_RECOVERY_MS + 1_000);
});

test('options are checked at construction', () => {
  expect(() => localBudget({ rate: 0 })).toThrow(/`rate`/);
  expect(() => localBudget({ rate: 1, burst: -1 })).toThrow(/`burst`/);
  expect(() => localBudget({ rate: 1, every: 5 } as never)).toThrow(/Unknown budget option `every`/);
});
