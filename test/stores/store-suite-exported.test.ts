/**
 * The store suite as a third party runs it (`@tierlimit/core/testing`, issue 14): run
 * programmatically on deliberately broken stores, it must fail them; on a store that lacks
 * optional capabilities, it must skip what needs them, saying why, and fail nothing else.
 */
import { type ConsumeOptions, MemoryStore, type Store, type StoreCheck } from '@tierlimit/core';
import {
  registerStoreSuite,
  StoreSuiteAssertionError,
  type StoreSuiteTarget,
  storeSuite,
  type TestBody,
} from '@tierlimit/core/testing';

interface Outcome {
  readonly name: string;
  readonly status: 'passed' | 'skipped' | 'failed';
  readonly detail: string;
}

/** Runs every case of the suite for `target`, one after the other, as a third party may. */
async function runAll<S extends Store>(target: StoreSuiteTarget<S>): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const c of storeSuite(target)) {
    const name = `${c.group} > ${c.name}`;
    try {
      const result = await c.run();
      outcomes.push({ name, status: result.status, detail: result.status === 'skipped' ? result.reason : '' });
    } catch (error) {
      outcomes.push({ name, status: 'failed', detail: error instanceof Error ? error.message : String(error) });
    }
  }
  return outcomes;
}

const named = (outcomes: Outcome[], status: Outcome['status']) =>
  outcomes.filter((o) => o.status === status).map((o) => o.name);

/**
 * A memory store whose `consume` is replaced by `broken(inner, checks, options)`; every
 * other method is the memory store's own (bound to it: its fields are private).
 */
function brokenMemoryStore(
  broken: (inner: MemoryStore, checks: readonly StoreCheck[], options?: ConsumeOptions) => ReturnType<Store['consume']>,
): StoreSuiteTarget<MemoryStore> {
  return {
    name: 'broken memory store',
    create: ({ now }) => {
      const inner = new MemoryStore({ now, sweepIntervalMs: 0 });
      return new Proxy(inner, {
        get(target, property) {
          if (property === 'consume')
            return (checks: readonly StoreCheck[], options?: ConsumeOptions) => broken(target, checks, options);
          const value: unknown = Reflect.get(target, property, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    },
    keyCount: (store) => store.size,
  };
}

test('a correct store passes every case when run programmatically (the control for the broken ones)', async () => {
  const outcomes = await runAll({
    name: 'memory store',
    create: ({ now }) => new MemoryStore({ now, sweepIntervalMs: 0 }),
    keyCount: (store) => store.size,
  });
  expect(outcomes.length).toBeGreaterThan(30);
  expect(outcomes.filter((o) => o.status !== 'passed')).toEqual([]);
});

test('a store that ignores `cost` (charges one unit a request) fails', async () => {
  const outcomes = await runAll(
    brokenMemoryStore((inner, checks, options) =>
      inner.consume(
        checks.map((check) => ({ ...check, cost: Math.min(check.cost, 1) })),
        options,
      ),
    ),
  );
  expect(named(outcomes, 'failed')).toEqual(
    expect.arrayContaining([
      'fixed window > a cost that does not fit is refused whole, even when some units remain',
      'token bucket > starts full, spends a burst, then refills continuously',
    ]),
  );
  const failure = outcomes.find((o) => o.name.startsWith('fixed window > a cost that does not fit'));
  // The message says what differed and where.
  expect(failure?.detail).toMatch(/^Expected a cost of 3 to match .*: expected false at \.allowed, got true\.$/);
});

test('a store that charges the checks that fit when another refuses (not all or nothing) fails', async () => {
  const outcomes = await runAll(
    brokenMemoryStore((inner, checks, options) => {
      const result = inner.consume(checks, options);
      if (result.allowed || options?.peek) return result;
      // Charge what fitted anyway, and answer as the store had.
      inner.consume(
        checks.filter((_, i) => result.states[i]?.allowed),
        options,
      );
      return result;
    }),
  );
  expect(named(outcomes, 'failed')).toEqual(
    expect.arrayContaining([
      'all or nothing > a request denied by one policy charges none of the others (keys of two identities)',
      'several limits of one identity, together > a request passes only if every limit has room; a refusal by one charges none of them',
      'suspension > a suspension refuses the whole request and charges nothing else',
    ]),
  );
});

test('a store that charges on a peek fails', async () => {
  const outcomes = await runAll(brokenMemoryStore((inner, checks) => inner.consume(checks)));
  expect(named(outcomes, 'failed')).toEqual(
    expect.arrayContaining([
      'peeks (decide, charge nothing) > a peek decides as if charging its cost, charges nothing and creates no state',
      'concurrency > a peek takes no slot',
    ]),
  );
});

describe('a store without the optional capabilities', () => {
  // Only `consume`: no refund, no leases, no suspensions or overrides; the target counts no keys.
  const bare: StoreSuiteTarget = {
    name: 'bare store',
    create: ({ now }) => {
      const inner = new MemoryStore({ now, sweepIntervalMs: 0 });
      return { consume: (checks, options) => inner.consume(checks, options), close: () => inner.close() };
    },
  };

  test('has the cases that need them skipped, each with its reason, and passes the rest', async () => {
    const outcomes = await runAll(bare);
    expect(named(outcomes, 'failed')).toEqual([]);
    const reasons = new Set(outcomes.filter((o) => o.status === 'skipped').map((o) => o.detail));
    expect([...reasons].sort()).toEqual([
      'the store has no refund()',
      'the store keeps no leases (isLeaseStore(store) is false)',
      'the store keeps no suspensions or overrides (isAdminStore(store) is false)',
      'the target has no keyCount(), so reads cannot be shown to create no state',
    ]);
    // Every algorithm still runs: the cases without those needs pass.
    expect(named(outcomes, 'passed')).toEqual(
      expect.arrayContaining([
        'token bucket > starts full, spends a burst, then refills continuously',
        'sliding window (weighted two-window counter) > never more than limit x (1 + t / window) in any interval of length t',
        'calendar quota > at most `limit` per period; the next period starts from zero; the reset is the period end',
        'concurrency > a slot never released lapses after its lease time (a crashed instance)',
      ]),
    );
    expect(named(outcomes, 'passed').length).toBeGreaterThan(20);
  });

  test('fails a case whose capability the target declares but the store lacks', async () => {
    const outcomes = await runAll({ ...bare, capabilities: { refund: true } });
    const refunds = outcomes.filter((o) => o.name.startsWith('refunds and the store clock > a refund gives back'));
    expect(refunds).toEqual([
      expect.objectContaining({
        status: 'failed',
        detail: 'The target declares `refund: true`, but the store has no refund().',
      }),
    ]);
  });

  test('a store that reports no clock (ConsumeResult.now) has that case skipped, unless it declares one', async () => {
    const silent: StoreSuiteTarget = {
      ...bare,
      create: ({ now }) => {
        const inner = new MemoryStore({ now, sweepIntervalMs: 0 });
        return {
          consume: (checks, options) => {
            const { allowed, states } = inner.consume(checks, options);
            return { allowed, states };
          },
        };
      },
    };
    const name = "every answer carries the store's clock, also for a request across identities";
    const clockCase = (target: StoreSuiteTarget) => storeSuite(target).find((c) => c.name === name);
    await expect(clockCase(silent)?.run()).resolves.toEqual({
      status: 'skipped',
      reason: "the store reports no clock in ConsumeResult.now (it decides with the limiter's)",
    });
    await expect(clockCase({ ...silent, capabilities: { reportsNow: true } })?.run()).rejects.toThrow(
      StoreSuiteAssertionError,
    );
  });
});

test('a policy the store reports `unsupported` skips the cases that send it, with the store’s reason', async () => {
  const outcomes = await runAll({
    name: 'no buckets',
    create: ({ now }) => {
      const inner = new MemoryStore({ now, sweepIntervalMs: 0 });
      const store: Store = {
        consume: (checks, options) => inner.consume(checks, options),
        unsupported: (policy) => (policy.algorithm === 'token-bucket' ? 'no token buckets here' : undefined),
      };
      return store;
    },
  });
  expect(named(outcomes, 'failed')).toEqual([]);
  const bucketCases = outcomes.filter((o) => o.name.startsWith('token bucket > '));
  expect(bucketCases.length).toBe(4);
  for (const o of bucketCases)
    expect(o).toMatchObject({
      status: 'skipped',
      detail: 'the store cannot keep a token-bucket policy: no token buckets here',
    });
});

describe('registerStoreSuite', () => {
  interface Registered {
    readonly path: string;
    readonly skipped: boolean;
    readonly body: TestBody;
  }

  /** A runner that records what is registered instead of running it. */
  function recorder(withSkip: boolean) {
    const registered: Registered[] = [];
    const path: string[] = [];
    const runner = {
      describe: (name: string, body: () => void) => {
        path.push(name);
        body();
        path.pop();
      },
      it: Object.assign(
        (name: string, body: TestBody) => {
          registered.push({ path: [...path, name].join(' > '), skipped: false, body });
        },
        withSkip
          ? {
              skip: (name: string, body: TestBody) => {
                registered.push({ path: [...path, name].join(' > '), skipped: true, body });
              },
            }
          : {},
      ),
    };
    return { runner, registered };
  }

  const memory: StoreSuiteTarget<MemoryStore> = {
    name: 'memory store',
    create: ({ now }) => new MemoryStore({ now, sweepIntervalMs: 0 }),
    keyCount: (store) => store.size,
    capabilities: { leases: false },
  };

  test('registers every case under describe(target) > describe(group); declared-absent ones with it.skip', () => {
    const { runner, registered } = recorder(true);
    registerStoreSuite(runner, memory);
    expect(registered.length).toBe(storeSuite(memory).length);
    expect(registered[0]?.path).toBe(
      'memory store > fixed window > admits exactly `limit` units per window, starting at the first hit',
    );
    const skipped = registered.filter((r) => r.skipped).map((r) => r.path);
    expect(skipped).toContain(
      'memory store > connection leases > release is idempotent and the count never goes negative (skipped: the store keeps no leases (isLeaseStore(store) is false))',
    );
    expect(skipped.length).toBe(storeSuite(memory).filter((c) => c.needs.includes('leases')).length);
  });

  test('leaves declared-absent cases out for a runner without it.skip', () => {
    const { runner, registered } = recorder(false);
    registerStoreSuite(runner, memory);
    expect(registered.length).toBe(storeSuite(memory).filter((c) => !c.needs.includes('leases')).length);
  });

  test("a case that finds a capability missing while it runs skips through the runner's test context", async () => {
    const { runner, registered } = recorder(true);
    const bare: StoreSuiteTarget = {
      name: 'bare store',
      create: ({ now }) => {
        const inner = new MemoryStore({ now, sweepIntervalMs: 0 });
        return { consume: (checks, options) => inner.consume(checks, options) };
      },
    };
    registerStoreSuite(runner, bare);
    const operators = registered.find((r) => r.path.endsWith('operators list and lift suspensions'));
    expect(operators?.skipped).toBe(false);
    const context = { skip: jest.fn() };
    await operators?.body.call(undefined, context); // node:test and vitest pass their context first
    expect(context.skip).toHaveBeenCalledWith(
      'the store keeps no suspensions or overrides (isAdminStore(store) is false)',
    );
    const mocha = { skip: jest.fn() };
    await operators?.body.call(mocha); // mocha's is `this`
    expect(mocha.skip).toHaveBeenCalledTimes(1);
  });
});
