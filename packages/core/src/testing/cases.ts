/**
 * The store suite's cases: the contract of `Store.consume` (and of `refund`, the lease and
 * admin APIs) for every algorithm, as the memory store and the Redis store both keep it
 * (issue 14). Each case gets a fresh store on a manual clock at `ManualClock.START`. The
 * assertions are those the suite made when it was written for jest (`equal` is `toEqual`,
 * `matches` is `toMatchObject`).
 */
import type { StoreCheck } from '../store.js';
import { anyNumber, anyString, containing, equal, matches, ok } from './assert.js';
import { bucket, penaltyOf, quota, sliding, slots, window } from './checks.js';
import { ManualClock } from './manual-clock.js';
import type { CaseContext, CaseDefinition, StoreCapability } from './types.js';

const group =
  (name: string) =>
  (title: string, body: (t: CaseContext) => Promise<void>, needs: StoreCapability[] = []): CaseDefinition => ({
    group: name,
    name: title,
    needs,
    body,
  });

const fixedWindow = group('fixed window');
const tokenBucket = group('token bucket');
const shadowChecks = group('shadow checks');
const suspension = group('suspension');
const peeks = group('peeks (decide, charge nothing)');
const refunds = group('refunds and the store clock');
const overrides = group('limit overrides');
const leaseGroup = group('connection leases');
const slidingWindow = group('sliding window (weighted two-window counter)');
const calendar = group('calendar quota');
const concurrency = group('concurrency');
const together = group('several limits of one identity, together');
const allOrNothing = group('all or nothing');

const guarded = (cost = 1): StoreCheck => ({ ...window('api:ha', 2, cost), penalty: penaltyOf('ha') });
const hour = 3_600_000;

export const CASES: readonly CaseDefinition[] = [
  fixedWindow('admits exactly `limit` units per window, starting at the first hit', async ({ clock, consume }) => {
    clock.advance(10_000);
    for (let i = 1; i <= 3; i++) {
      const result = await consume([window('api:ha', 3)]);
      equal(result.allowed, true, `allowed (request ${i})`);
      equal(
        result.states[0],
        { allowed: true, remaining: 3 - i, resetMs: 61_000 - i * 1_000, retryMs: 0 },
        `the state (request ${i})`,
      );
      clock.advance(1_000);
    }
    const denied = await consume([window('api:ha', 3)]);
    equal(denied.allowed, false, 'allowed (the fourth request)');
    equal(denied.states[0], { allowed: false, remaining: 0, resetMs: 57_000, retryMs: 57_000 }, 'the denied state');
    clock.advance(57_000);
    matches(
      (await consume([window('api:ha', 3)])).states[0],
      { allowed: true, remaining: 2, resetMs: 60_000 },
      'the state in the next window',
    );
  }),

  fixedWindow('a cost that does not fit is refused whole, even when some units remain', async ({ consume }) => {
    await consume([window('api:ha', 10, 8)]);
    matches((await consume([window('api:ha', 10, 3)])).states[0], { allowed: false, remaining: 2 }, 'a cost of 3');
    matches((await consume([window('api:ha', 10, 2)])).states[0], { allowed: true, remaining: 0 }, 'a cost of 2');
  }),

  tokenBucket('starts full, spends a burst, then refills continuously', async ({ clock, consume }) => {
    equal(
      (await consume([bucket('events:hb', 50, 500, 50)])).states[0],
      { allowed: true, remaining: 0, resetMs: 6_000, retryMs: 0 },
      'the burst',
    );
    equal(
      (await consume([bucket('events:hb', 50, 500)])).states[0],
      { allowed: false, remaining: 0, resetMs: 6_000, retryMs: 120 },
      'one more',
    );
    clock.advance(60);
    matches((await consume([bucket('events:hb', 50, 500)])).states[0], { allowed: false, retryMs: 60 }, 'after 60 ms');
    clock.advance(60);
    matches((await consume([bucket('events:hb', 50, 500)])).states[0], { allowed: true, remaining: 0 }, 'after 120 ms');
    clock.advance(1_200);
    matches((await consume([bucket('events:hb', 50, 500, 0)])).states[0], { remaining: 10 }, 'after 1.2 s more');
  }),

  tokenBucket('never holds more than its capacity however long it idles', async ({ clock, consume }) => {
    await consume([bucket('events:hb', 5, 60, 5)]);
    clock.advance(3_600_000);
    matches((await consume([bucket('events:hb', 5, 60, 0)])).states[0], { remaining: 5, resetMs: 0 }, 'after an hour');
  }),

  tokenBucket('a clock that goes backwards mints no tokens', async ({ clock, consume }) => {
    await consume([bucket('events:hb', 5, 60, 5)]);
    clock.advance(-10_000);
    equal((await consume([bucket('events:hb', 5, 60)])).allowed, false, 'allowed');
  }),

  tokenBucket('admits at most capacity + refill x time over a long run', async ({ clock, consume }) => {
    let admitted = 0;
    for (let ms = 0; ms < 10_000; ms += 21) {
      if ((await consume([bucket('events:hb', 50, 500, 3)])).allowed) admitted += 3;
      clock.advance(21);
    }
    const bound = 50 + (500 * 10_000) / 60_000;
    ok(admitted <= bound, `Expected at most ${bound} units admitted in 10 s, got ${admitted}.`);
    ok(admitted > bound - 6, `Expected more than ${bound - 6} units admitted in 10 s, got ${admitted}.`);
  }),

  shadowChecks(
    'a shadow check that does not fit refuses nothing and is not charged; one that fits is',
    async ({ consume }) => {
      const shadow = { ...window('api:ha', 1), shadow: true };
      const first = await consume([window('ip:i1', 10), shadow]);
      equal(first.allowed, true, 'allowed (first)');
      const second = await consume([window('ip:i1', 10), shadow]);
      equal(second.allowed, true, 'allowed (second)');
      matches(second.states[1], { allowed: false, remaining: 0 }, 'the shadow state');
      // The enforced IP check was charged both times.
      matches((await consume([window('ip:i1', 10, 0)])).states[0], { remaining: 8 }, 'the IP check');
    },
  ),

  suspension(
    'the threshold-th denial within the window suspends the identity; the suspension ends on time',
    async ({ clock, consume }) => {
      await consume([guarded()]);
      await consume([guarded()]);
      matches((await consume([guarded()])).states[0], { allowed: false, retryMs: anyNumber }, 'the first denial');
      equal((await consume([guarded()])).states[0]?.suspended, undefined, 'suspended (the second denial)');
      const third = await consume([guarded()]);
      matches(
        third.states[0],
        { allowed: false, suspended: true, suspendedNow: true, retryMs: 300_000 },
        'the third denial',
      );
      // The window resets after a minute, but the suspension holds for five.
      clock.advance(120_000);
      const still = await consume([guarded()]);
      equal(still.allowed, false, 'allowed two minutes later');
      matches(still.states[0], { suspended: true, retryMs: 180_000 }, 'the state two minutes later');
      equal(still.states[0]?.suspendedNow, undefined, 'suspendedNow two minutes later');
      clock.advance(180_000);
      equal((await consume([guarded()])).allowed, true, 'allowed after the suspension');
    },
  ),

  suspension('a suspension refuses the whole request and charges nothing else', async ({ consume }) => {
    for (let i = 0; i < 5; i++) await consume([guarded()]);
    const refused = await consume([window('ip:i1', 10), guarded()]);
    equal(refused.allowed, false, 'allowed');
    matches((await consume([window('ip:i1', 10, 0)])).states[0], { remaining: 10 }, 'the IP check');
  }),

  suspension('denials of another check do not count against an identity that fit', async ({ consume }) => {
    for (let i = 0; i < 6; i++) await consume([window('ip:i1', 1), guarded(0)]);
    equal((await consume([guarded()])).allowed, true, 'allowed');
  }),

  suspension(
    'operators list and lift suspensions',
    async ({ clock, consume, admin }) => {
      const store = admin();
      for (let i = 0; i < 5; i++) await consume([guarded()]);
      equal(await store.listSuspensions(), [{ identity: 'ha', until: clock.now() + 300_000 }], 'listSuspensions()');
      equal(await store.liftSuspension('ha'), true, 'liftSuspension() the first time');
      equal(await store.liftSuspension('ha'), false, 'liftSuspension() again');
      equal(await store.listSuspensions(), [], 'listSuspensions() once lifted');
      // Lifted: the window is still used up (2 of 2), but after it the key is free again.
      clock.advance(60_000);
      equal((await consume([guarded()])).allowed, true, 'allowed in the next window');
    },
    ['admin'],
  ),

  peeks(
    'a peek decides as if charging its cost, charges nothing and creates no state',
    async ({ consume, keyCount }) => {
      await consume([window('api:ha', 3, 2)]);
      const tooMuch = await consume([window('api:ha', 3, 2)], { peek: true });
      equal(tooMuch.allowed, false, 'allowed (a peek at 2 units)');
      equal(tooMuch.states[0], { allowed: false, remaining: 1, resetMs: 60_000, retryMs: 60_000 }, 'a peek at 2 units');
      const fits = await consume([window('api:ha', 3, 1)], { peek: true });
      equal(fits.allowed, true, 'allowed (a peek at 1 unit)');
      // Remaining as it stands: nothing was charged.
      equal(fits.states[0], { allowed: true, remaining: 1, resetMs: 60_000, retryMs: 0 }, 'a peek at 1 unit');
      matches((await consume([window('api:ha', 3, 1)])).states[0], { allowed: true, remaining: 0 }, 'the charge after');
      const keys = await keyCount();
      const fresh = await consume([window('ip:i1', 10), bucket('events:hb', 5, 60, 2)], { peek: true });
      equal(fresh.allowed, true, 'allowed (a peek at new keys)');
      equal(
        fresh.states,
        [
          { allowed: true, remaining: 10, resetMs: 60_000, retryMs: 0 },
          { allowed: true, remaining: 5, resetMs: 0, retryMs: 0 },
        ],
        'the states of a peek at new keys',
      );
      equal(await keyCount(), keys, 'the key count after a peek at new keys');
    },
    ['keyCount'],
  ),

  peeks(
    'a peek counts no denial toward a suspension; a suspended identity still shows as suspended',
    async ({ clock, consume }) => {
      const check = guarded();
      await consume([check]);
      await consume([check]);
      for (let i = 0; i < 5; i++) {
        const peek = await consume([check], { peek: true });
        equal(peek.allowed, false, `allowed (peek ${i + 1})`);
        equal(peek.states[0]?.suspended, undefined, `suspended (peek ${i + 1})`);
      }
      // Only real denials count: the third one suspends.
      equal((await consume([check])).states[0]?.suspended, undefined, 'suspended (the first denial)');
      equal((await consume([check])).states[0]?.suspended, undefined, 'suspended (the second denial)');
      matches((await consume([check])).states[0], { suspended: true, suspendedNow: true }, 'the third denial');
      clock.advance(1_000);
      const peek = await consume([check], { peek: true });
      equal(peek.allowed, false, 'allowed (a peek while suspended)');
      equal(
        peek.states[0],
        { allowed: false, remaining: 0, resetMs: 59_000, retryMs: 299_000, suspended: true },
        'a peek while suspended',
      );
    },
  ),

  refunds(
    "every answer carries the store's clock, also for a request across identities",
    async ({ clock, consume, lacks }) => {
      clock.advance(1_234);
      const one = await consume([window('api:ha', 3)]);
      if (one.now === undefined) lacks('reportsNow');
      equal(one.now, clock.now(), 'now');
      equal((await consume([window('ip:i1', 10), window('api:ha', 3)])).now, clock.now(), 'now (two identities)');
    },
    ['reportsNow'],
  ),

  refunds(
    'a refund gives back what was charged: a window within its window, a bucket its units',
    async ({ clock, consume, refund }) => {
      const checks = [window('api:ha', 3), bucket('events:hb', 5, 60, 2)];
      const charged = await consume(checks);
      equal(charged.allowed, true, 'allowed');
      clock.advance(1_000);
      await refund(checks, charged);
      equal(
        (await consume([window('api:ha', 3, 0), bucket('events:hb', 5, 60, 0)])).states,
        [
          { allowed: true, remaining: 3, resetMs: 59_000, retryMs: 0 },
          { allowed: true, remaining: 5, resetMs: 0, retryMs: 0 },
        ],
        'the states after the refund',
      );
    },
    ['refund'],
  ),

  refunds(
    'a fixed window is refunded only in the window the charge was made in',
    async ({ clock, consume, refund }) => {
      const checks = [window('api:ha', 3)];
      const first = await consume(checks);
      clock.advance(60_000);
      await consume(checks);
      await refund(checks, first);
      matches((await consume([window('api:ha', 3, 0)])).states[0], { remaining: 2 }, 'the next window');
    },
    ['refund'],
  ),

  refunds(
    'a bucket gets its units back up to its capacity, never more',
    async ({ consume, refund }) => {
      const checks = [bucket('events:hb', 5, 60, 2)];
      const charged = await consume(checks);
      await refund(checks, charged);
      await refund(checks, charged);
      equal((await consume([bucket('events:hb', 5, 60, 5)])).allowed, true, 'allowed (5 units)');
      equal((await consume([bucket('events:hb', 5, 60, 1)])).allowed, false, 'allowed (one more)');
    },
    ['refund'],
  ),

  refunds(
    'a denied answer refunds nothing, nor a shadow check that did not fit',
    async ({ consume, refund }) => {
      await consume([window('ip:i1', 10)]);
      await consume([window('api:ha', 1)]);
      const denied = await consume([window('ip:i1', 10), window('api:ha', 1)]);
      equal(denied.allowed, false, 'allowed');
      await refund([window('ip:i1', 10), window('api:ha', 1)], denied);
      matches((await consume([window('ip:i1', 10, 0)])).states[0], { remaining: 9 }, 'the IP check');
      const shadow = { ...window('api:ha', 1), shadow: true };
      const admitted = await consume([window('ip:i1', 10), shadow]);
      equal(admitted.allowed, true, 'allowed (with a shadow check)');
      matches(admitted.states[1], { allowed: false }, 'the shadow state');
      await refund([window('ip:i1', 10), shadow], admitted);
      equal(
        (await consume([window('ip:i1', 10, 0), window('api:ha', 1, 0)])).states,
        [containing({ remaining: 9 }), containing({ remaining: 0 })],
        'the states after the refund',
      );
    },
    ['refund'],
  ),

  overrides(
    'set, read, list, expire and delete',
    async ({ admin }) => {
      const store = admin();
      await store.setOverride('ha', { limits: { api: { limit: 500 } } });
      await store.setOverride('hb', { limits: { api: { limit: 9 } }, expiresAt: Date.now() + 60_000 });
      equal(await store.getOverride('ha'), { limits: { api: { limit: 500 } } }, "getOverride('ha')");
      equal((await store.listOverrides()).map((o) => o.identity).sort(), ['ha', 'hb'], 'listOverrides()');
      equal(await store.deleteOverride('ha'), true, 'deleteOverride() the first time');
      equal(await store.deleteOverride('ha'), false, 'deleteOverride() again');
      equal(await store.getOverride('ha'), undefined, 'getOverride() once deleted');
    },
    ['admin'],
  ),

  leaseGroup(
    'at most `max` live leases per key; a refused acquire takes nothing',
    async ({ leases }) => {
      const l = leases();
      const taken = [];
      for (let i = 0; i < 3; i++) taken.push(await l.acquireLease('connections:ha', 3, 30_000));
      equal(
        taken.every((id) => typeof id === 'string'),
        true,
        `every lease id a string (${taken.map(String).join(', ')})`,
      );
      equal(new Set(taken).size, 3, 'distinct lease ids');
      equal(await l.acquireLease('connections:ha', 3, 30_000), undefined, 'a fourth lease');
      equal(await l.countLeases('connections:ha'), 3, 'countLeases()');
      equal(await l.acquireLease('connections:hb', 3, 30_000), anyString, 'a lease on another key');
    },
    ['leases'],
  ),

  leaseGroup(
    'release is idempotent and the count never goes negative',
    async ({ leases }) => {
      const l = leases();
      const id = (await l.acquireLease('connections:ha', 2, 30_000)) as string;
      equal(await l.releaseLease('connections:ha', id), true, 'releaseLease() the first time');
      equal(await l.releaseLease('connections:ha', id), false, 'releaseLease() again');
      equal(await l.releaseLease('connections:ha', 'never-taken'), false, 'releaseLease() of a lease never taken');
      equal(await l.countLeases('connections:ha'), 0, 'countLeases() after the releases');
      equal(await l.acquireLease('connections:ha', 2, 30_000), anyString, 'the first lease');
      equal(await l.acquireLease('connections:ha', 2, 30_000), anyString, 'the second lease');
      equal(await l.countLeases('connections:ha'), 2, 'countLeases()');
    },
    ['leases'],
  ),

  leaseGroup(
    'a lease that is not renewed lapses, freeing its slot; a renewed one stays',
    async ({ clock, leases }) => {
      const l = leases();
      const dead = (await l.acquireLease('connections:ha', 2, 10_000)) as string;
      const alive = (await l.acquireLease('connections:ha', 2, 10_000)) as string;
      clock.advance(6_000);
      equal(await l.renewLease('connections:ha', alive, 10_000), true, 'renewLease() of a live lease');
      clock.advance(6_000);
      equal(await l.countLeases('connections:ha'), 1, 'countLeases() once one lapsed');
      equal(await l.renewLease('connections:ha', dead, 10_000), false, 'renewLease() of a lapsed lease');
      equal(await l.acquireLease('connections:ha', 2, 10_000), anyString, 'a lease in the freed slot');
      equal(await l.acquireLease('connections:ha', 2, 10_000), undefined, 'one lease more');
    },
    ['leases'],
  ),

  // ManualClock.START is on a minute: the 60 s windows are aligned to it.
  slidingWindow("the previous window's units fade out linearly through the current one", async ({ clock, consume }) => {
    clock.advance(50_000);
    for (let i = 0; i < 10; i++) equal((await consume([sliding('api:hs', 10)])).allowed, true, `allowed (${i + 1})`);
    matches(
      (await consume([sliding('api:hs', 10)])).states[0],
      { allowed: false, remaining: 0, retryMs: 16_000 },
      'the eleventh',
    );
    // 15 s into the next window the 10 weigh 7.5: two more fit, not three.
    clock.advance(25_000);
    equal(
      (await consume([sliding('api:hs', 10)])).states[0],
      { allowed: true, remaining: 1, resetMs: 105_000, retryMs: 0 },
      '15 s into the next window',
    );
    equal((await consume([sliding('api:hs', 10)])).allowed, true, 'allowed (the second there)');
    // A third waits until the faded share and the two fit: 120 - 60 x 7/10 = 78 s.
    matches((await consume([sliding('api:hs', 10)])).states[0], { allowed: false, retryMs: 3_000 }, 'the third there');
    clock.advance(3_000);
    equal((await consume([sliding('api:hs', 10)])).allowed, true, 'allowed 3 s later');
  }),

  slidingWindow(
    'at a window boundary a fixed window admits twice the limit; the sliding window admits nothing more',
    async ({ clock, consume }) => {
      const admitted = async (check: (key: string) => StoreCheck, key: string) => {
        let n = 0;
        for (let i = 0; i < 20; i++) if ((await consume([check(key)])).allowed) n++;
        return n;
      };
      // A first request at 0 s anchors the fixed window at [0, 60 s); then 9 more just
      // before the boundary and as many as possible just after it.
      await consume([window('api:hf', 10)]);
      await consume([sliding('api:hs', 10)]);
      clock.advance(59_999);
      equal(await admitted((key) => window(key, 10), 'api:hf'), 9, 'admitted by the fixed window before the boundary');
      equal(await admitted((key) => sliding(key, 10), 'api:hs'), 9, 'admitted by the sliding window before it');
      clock.advance(2);
      // Two milliseconds later: 10 more through the fixed window (19 in 2 ms), none through
      // the sliding one (its bound in an interval of length t: 10 x (1 + t / 60 s)).
      equal(await admitted((key) => window(key, 10), 'api:hf'), 10, 'admitted by the fixed window after the boundary');
      equal(await admitted((key) => sliding(key, 10), 'api:hs'), 0, 'admitted by the sliding window after it');
    },
  ),

  slidingWindow('never more than limit x (1 + t / window) in any interval of length t', async ({ clock, consume }) => {
    // Random arrivals over four windows, each request one unit; then every interval checked.
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const times: number[] = [];
    for (let t = 0; t < 240_000; t += Math.floor(random() * 4_000)) {
      clock.time = ManualClock.START + t;
      if ((await consume([sliding('api:hs', 10)])).allowed) times.push(t);
    }
    ok(times.length > 30, `Expected more than 30 requests admitted, got ${times.length}.`);
    for (let i = 0; i < times.length; i++) {
      for (let j = i; j < times.length; j++) {
        const span = (times[j] as number) - (times[i] as number);
        if (span > 60_000) break;
        const bound = Math.floor(10 * (1 + span / 60_000) + 1e-9);
        ok(
          j - i + 1 <= bound,
          `Expected at most ${bound} admitted in ${span} ms, got ${j - i + 1} (from ${times[i]} ms to ${times[j]} ms).`,
        );
      }
    }
  }),

  slidingWindow(
    'state older than the previous window counts nothing; the key expires after two windows',
    async ({ clock, consume }) => {
      for (let i = 0; i < 4; i++) await consume([sliding('api:hs', 5)]);
      clock.advance(120_000);
      matches((await consume([sliding('api:hs', 5)])).states[0], { allowed: true, remaining: 4 }, 'two windows later');
      clock.advance(120_000);
      matches(
        (await consume([sliding('api:hs', 5, 0)])).states[0],
        { remaining: 5, resetMs: 0 },
        'two windows after that',
      );
    },
  ),

  calendar(
    'at most `limit` per period; the next period starts from zero; the reset is the period end',
    async ({ clock, consume }) => {
      const end = ManualClock.START + hour;
      for (let i = 2; i >= 0; i--) {
        matches(
          (await consume([quota('month:ha', 3, end, hour)])).states[0],
          { allowed: true, remaining: i, resetMs: hour },
          `the state with ${i} left`,
        );
      }
      clock.advance(1_000);
      equal(
        (await consume([quota('month:ha', 3, end, hour)])).states[0],
        { allowed: false, remaining: 0, resetMs: hour - 1_000, retryMs: hour - 1_000 },
        'the fourth',
      );
      clock.time = end;
      matches(
        (await consume([quota('month:ha', 3, end + hour, hour)])).states[0],
        { allowed: true, remaining: 2, resetMs: hour },
        'the first of the next period',
      );
    },
  ),

  calendar(
    'a refund gives back units of its own period only',
    async ({ clock, consume, refund }) => {
      const end = ManualClock.START + hour;
      const charged = await consume([quota('month:ha', 3, end, hour, 2)]);
      await refund([quota('month:ha', 3, end, hour, 2)], charged);
      matches((await consume([quota('month:ha', 3, end, hour, 0)])).states[0], { remaining: 3 }, 'after the refund');
      const again = await consume([quota('month:ha', 3, end, hour, 2)]);
      clock.time = end;
      await consume([quota('month:ha', 3, end + hour, hour, 1)]);
      await refund([quota('month:ha', 3, end, hour, 2)], again);
      matches(
        (await consume([quota('month:ha', 3, end + hour, hour, 0)])).states[0],
        { remaining: 2 },
        'the next period after a refund of the previous one',
      );
    },
    ['refund'],
  ),

  concurrency(
    'at most `limit` in flight; a released slot is free again; a refused request takes none',
    async ({ consume, leases }) => {
      const first = await consume([slots('inflight:ha', 2)]);
      const second = await consume([slots('inflight:ha', 2)]);
      matches(first.states[0], { allowed: true, remaining: 1, lease: anyString }, 'the first');
      matches(second.states[0], { allowed: true, remaining: 0, lease: anyString }, 'the second');
      ok(
        first.states[0]?.lease !== second.states[0]?.lease,
        `Expected two leases, got ${first.states[0]?.lease} twice.`,
      );
      const refused = await consume([slots('inflight:ha', 2)]);
      equal(refused.states[0], { allowed: false, remaining: 0, resetMs: 0, retryMs: 30_000 }, 'the third');
      const store = leases();
      equal(await store.releaseLease('inflight:ha', first.states[0]?.lease as string), true, 'releaseLease()');
      equal(await store.releaseLease('inflight:ha', first.states[0]?.lease as string), false, 'releaseLease() again');
      equal((await consume([slots('inflight:ha', 2)])).allowed, true, 'allowed after the release');
    },
    ['leases'],
  ),

  concurrency('a slot never released lapses after its lease time (a crashed instance)', async ({ clock, consume }) => {
    await consume([slots('inflight:ha', 1, 10_000)]);
    clock.advance(4_000);
    matches(
      (await consume([slots('inflight:ha', 1, 10_000)])).states[0],
      { allowed: false, retryMs: 6_000 },
      'the second',
    );
    clock.advance(6_000);
    equal((await consume([slots('inflight:ha', 1, 10_000)])).allowed, true, 'allowed once the lease lapsed');
  }),

  concurrency(
    'a refund releases the slot it took',
    async ({ consume, refund }) => {
      const taken = await consume([slots('inflight:ha', 1)]);
      await refund([slots('inflight:ha', 1)], taken);
      equal((await consume([slots('inflight:ha', 1)])).allowed, true, 'allowed after the refund');
    },
    ['refund'],
  ),

  concurrency('a peek takes no slot', async ({ consume }) => {
    matches((await consume([slots('inflight:ha', 1)], { peek: true })).states[0], { allowed: true }, 'the first peek');
    equal((await consume([slots('inflight:ha', 1)])).allowed, true, 'allowed');
    equal((await consume([slots('inflight:ha', 1)], { peek: true })).allowed, false, 'allowed (a peek after)');
  }),

  together(
    'a request passes only if every limit has room; a refusal by one charges none of them',
    async ({ consume, leases }) => {
      const plan = (cost = 1) => [
        window('api:ha', 10, cost, 1_000),
        sliding('api-minute:ha', 100, cost),
        quota('api-month:ha', 3, ManualClock.START + hour, hour, cost),
        slots('api-inflight:ha', 5),
      ];
      for (let i = 0; i < 3; i++) equal((await consume(plan())).allowed, true, `allowed (${i + 1})`);
      const refused = await consume(plan());
      equal(refused.allowed, false, 'allowed (the fourth)');
      equal(
        refused.states.map((state) => state.allowed),
        [true, true, false, true],
        'allowed of each check (the fourth)',
      );
      // Nothing of the refused request was charged: the same counts as before it.
      const read = await consume([
        window('api:ha', 10, 0, 1_000),
        sliding('api-minute:ha', 100, 0),
        quota('api-month:ha', 3, ManualClock.START + hour, hour, 0),
      ]);
      equal(
        read.states.map((state) => state.remaining),
        [7, 97, 0],
        'remaining of each check after the refusal',
      );
      equal(await leases().countLeases('api-inflight:ha'), 3, 'countLeases()');
    },
    ['leases'],
  ),

  allOrNothing(
    'a request denied by one policy charges none of the others (keys of two identities)',
    async ({ consume }) => {
      await consume([window('ip:i198.51.100.1', 100), bucket('events:hb', 10, 600, 10)]);
      const denied = await consume([window('ip:i198.51.100.1', 100), bucket('events:hb', 10, 600, 5)]);
      equal(denied.allowed, false, 'allowed');
      matches(denied.states[0], { allowed: true, remaining: 99 }, 'the IP state');
      matches(denied.states[1], { allowed: false }, 'the bucket state');
      matches((await consume([window('ip:i198.51.100.1', 100, 0)])).states[0], { remaining: 99 }, 'the IP check after');
    },
  ),

  allOrNothing('denied requests do not count against the policy that denied them', async ({ clock, consume }) => {
    for (let i = 0; i < 3; i++) await consume([window('api:ha', 3)]);
    for (let i = 0; i < 20; i++) await consume([window('api:ha', 3)]);
    clock.advance(60_000);
    matches((await consume([window('api:ha', 3)])).states[0], { allowed: true, remaining: 2 }, 'the next window');
  }),

  allOrNothing(
    'a cost of 0 reads without creating state',
    async ({ consume, keyCount }) => {
      const peek = await consume([window('api:ha', 5, 0), bucket('events:hb', 5, 60, 0)]);
      equal(
        peek.states,
        [
          { allowed: true, remaining: 5, resetMs: 60_000, retryMs: 0 },
          { allowed: true, remaining: 5, resetMs: 0, retryMs: 0 },
        ],
        'the states',
      );
      equal(await keyCount(), 0, 'the key count');
    },
    ['keyCount'],
  ),
];
