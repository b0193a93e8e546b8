/**
 * The pacer: one probe until the first answer, free sending while the server reports
 * plenty, the remaining budget spread evenly over the time to reset once it runs low, a
 * hard wait when it is exhausted, requests in flight counted, Retry-After pauses, aborts.
 */
import { createPacer, type Pacer, type PacerOptions, type RateLimitInfo } from '@tierlimit/client';
import { START, VirtualTime } from './support/virtual-time';

function info(limit: number | undefined, remaining: number, resetInMs: number, now = START): RateLimitInfo {
  const state = { limit, remaining, resetAt: now + resetInMs };
  return { ...state, source: 'x-ratelimit', policies: [state] };
}

function setup(options: Partial<PacerOptions> = {}) {
  const time = new VirtualTime();
  const pacer = createPacer({ now: time.now, sleep: time.sleep, ...options });
  /** Acquires, records when (ms after START), releases without news. */
  const grantTimes = async (pacerToUse: Pacer, count: number, cost = 1): Promise<number[]> => {
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const permit = await time.run(pacerToUse.acquire(cost));
      times.push(time.now() - START);
      permit.release();
    }
    return times;
  };
  return { time, pacer, grantTimes };
}

/** Sends one request through the pacer and reports `state` as its answer. */
async function answered(time: VirtualTime, pacer: Pacer, state: RateLimitInfo | undefined, cost = 1): Promise<void> {
  const permit = await time.run(pacer.acquire(cost));
  permit.observe(state);
  permit.release();
}

test('with nothing known, the first request is a probe: the next waits for its answer', async () => {
  const { time, pacer } = setup();
  const first = await pacer.acquire();
  let secondGranted = false;
  const second = pacer.acquire().then((permit) => {
    secondGranted = true;
    return permit;
  });
  await time.settle();
  expect(secondGranted).toBe(false);
  first.observe(info(100, 99, 60_000));
  first.release();
  await time.run(second);
  expect(secondGranted).toBe(true);
  expect(time.now()).toBe(START);
});

test('a server that sends no rate-limit headers is not paced after the probe', async () => {
  const { time, pacer, grantTimes } = setup();
  await answered(time, pacer, undefined);
  const permits = await Promise.all([pacer.acquire(), pacer.acquire(), pacer.acquire()]);
  expect(permits).toHaveLength(3);
  expect(await grantTimes(pacer, 3)).toEqual([0, 0, 0]);
});

test('while plenty remains, requests go at once', async () => {
  const { time, pacer, grantTimes } = setup();
  await answered(time, pacer, info(100, 90, 60_000));
  expect(await grantTimes(pacer, 50)).toEqual(new Array(50).fill(0));
});

test('below the low watermark, the remaining budget is spread evenly over the time to reset', async () => {
  const { time, pacer, grantTimes } = setup({ lowWatermark: 0.1 });
  await answered(time, pacer, info(100, 5, 10_000));
  // 5 left for 10 s: one every 2 s; at the reset the quota is full again.
  expect(await grantTimes(pacer, 6)).toEqual([2_000, 4_000, 6_000, 8_000, 10_000, 10_000]);
});

test('an exhausted quota waits for the reset', async () => {
  const { time, pacer, grantTimes } = setup();
  await answered(time, pacer, info(50, 0, 6_000));
  expect(await grantTimes(pacer, 1)).toEqual([6_000]);
});

test('a batch that does not fit what remains waits for the reset', async () => {
  const { time, pacer, grantTimes } = setup();
  await answered(time, pacer, info(50, 20, 6_000));
  expect(await grantTimes(pacer, 1, 30)).toEqual([6_000]);
});

test('units sent after the answered request are subtracted from its Remaining', async () => {
  const { time, pacer } = setup({ lowWatermark: 0 });
  const probe = await pacer.acquire();
  probe.observe(info(10, 10, 5_000));
  probe.release();
  // Four requests leave before any of them is answered.
  const inFlight = await Promise.all([1, 2, 3, 4].map(() => time.run(pacer.acquire(2))));
  // The first answer says 8 left, but three more requests (6 units) are already out: 2 left, not 8.
  inFlight[0]?.observe(info(10, 8, 5_000));
  let granted = false;
  const next = pacer.acquire(3).then((permit) => {
    granted = true;
    return permit;
  });
  await time.settle();
  expect(granted).toBe(false);
  for (const permit of inFlight) permit.release();
  await time.run(next);
  expect(time.now() - START).toBe(5_000);
});

test('after the reset, the full quota minus what was sent since is assumed, not a free-for-all', async () => {
  const { time, pacer } = setup();
  await answered(time, pacer, info(10, 0, 1_000));
  const a = await time.run(pacer.acquire(10)); // at the reset
  expect(time.now() - START).toBe(1_000);
  let bGranted = false;
  const b = pacer.acquire(10).then((permit) => {
    bGranted = true;
    return permit;
  });
  await time.settle();
  expect(bGranted).toBe(false); // the quota of 10 is spent by a, still in flight
  a.observe(info(10, 0, 1_000, time.now()));
  a.release();
  await time.run(b);
  expect(time.now() - START).toBe(2_000);
});

test('a late answer to an older request does not overwrite a newer one', async () => {
  const { time, pacer } = setup();
  await answered(time, pacer, info(100, 100, 60_000));
  const older = await pacer.acquire();
  const newer = await pacer.acquire();
  newer.observe(info(100, 0, 30_000));
  older.observe(info(100, 98, 60_000)); // arrives last, knows less
  newer.release();
  older.release();
  expect(pacer.state?.remaining).toBe(0);
});

test('pauseUntil holds every request until then', async () => {
  const { time, pacer, grantTimes } = setup();
  await answered(time, pacer, info(100, 100, 60_000));
  pacer.pauseUntil(START + 7_000);
  pacer.pauseUntil(START + 3_000); // an earlier pause never shortens a later one
  expect(await grantTimes(pacer, 2)).toEqual([7_000, 7_000]);
});

test('permits are granted in call order', async () => {
  const { time, pacer } = setup();
  await answered(time, pacer, info(10, 0, 1_000));
  const order: number[] = [];
  const all = [1, 2, 3].map((n) =>
    pacer.acquire(1).then((permit) => {
      order.push(n);
      permit.release();
    }),
  );
  await time.run(Promise.all(all));
  expect(order).toEqual([1, 2, 3]);
});

test('an abort while waiting rejects with the reason and lets the next waiter through', async () => {
  const { time, pacer } = setup();
  await answered(time, pacer, info(10, 0, 5_000));
  const controller = new AbortController();
  const aborted = pacer.acquire(1, controller.signal);
  const next = pacer.acquire(1);
  await time.settle();
  controller.abort('no longer needed');
  await expect(aborted).rejects.toBe('no longer needed');
  await time.run(next);
  expect(time.now() - START).toBe(5_000);
});

test('a client-side bucket paces even when the server says nothing', async () => {
  const { time, pacer, grantTimes } = setup({ bucket: { rate: 2, perMs: 1_000, burst: 2 } });
  await answered(time, pacer, undefined); // 1 token used
  expect(await grantTimes(pacer, 4)).toEqual([0, 500, 1_000, 1_500]);
});

test('a cost above the bucket burst is refused at once', async () => {
  const { pacer } = setup({ bucket: { rate: 5, burst: 5 } });
  await expect(pacer.acquire(6)).rejects.toMatchObject({ code: 'TL_COST_EXCEEDS_BURST' });
});

test('adaptive: false ignores the server state but keeps pauses', async () => {
  const { time, pacer, grantTimes } = setup({ adaptive: false });
  await answered(time, pacer, info(10, 0, 60_000));
  expect(await grantTimes(pacer, 2)).toEqual([0, 0]);
  pacer.pauseUntil(START + 1_000);
  expect(await grantTimes(pacer, 1)).toEqual([1_000]);
});

test('bad options are refused', () => {
  expect(() => createPacer({ lowWatermark: 1 })).toThrow(
    'Expected `lowWatermark` to be a number from 0 up to (not including) 1, got 1.',
  );
  expect(() => createPacer({ burst: 3 } as never)).toThrow('Unknown pacer option `burst`.');
});

test('with the plan configured, a reported level is topped up at the plan rate: no spreading, no waiting for the reset', async () => {
  // demo-pro's events: 10,000 a minute (1 every 6 ms), burst 1,000. The server reports 10 left, full in 5.94 s.
  const { time, pacer, grantTimes } = setup({ bucket: { rate: 10_000, perMs: 60_000, burst: 1_000 } });
  await answered(time, pacer, info(1_000, 10, 5_940), 1);
  // 10 fit at once; then one more every 6 ms, as fast as the server refills.
  expect(await grantTimes(pacer, 12)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 12]);
});
