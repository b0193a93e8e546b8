/**
 * Binds the store suite's cases to a target: each case runs on a fresh store made by the
 * target, on its own manual clock, and is cleaned up after. Nothing here knows a test
 * runner; `registerStoreSuite` hands the cases to one.
 */
import { isAdminStore, isLeaseStore, type PolicySpec, type Store, type StoreCheck } from '../store.js';
import { StoreSuiteAssertionError } from './assert.js';
import { CASES } from './cases.js';
import { ManualClock } from './manual-clock.js';
import type {
  CaseContext,
  CaseDefinition,
  StoreCapability,
  StoreSuiteCase,
  StoreSuiteResult,
  StoreSuiteTarget,
} from './types.js';

/** Why the cases that need a capability cannot run without it. */
const MISSING: Readonly<Record<StoreCapability, string>> = {
  admin: 'the store keeps no suspensions or overrides (isAdminStore(store) is false)',
  leases: 'the store keeps no leases (isLeaseStore(store) is false)',
  refund: 'the store has no refund()',
  reportsNow: "the store reports no clock in ConsumeResult.now (it decides with the limiter's)",
  keyCount: 'the target has no keyCount(), so reads cannot be shown to create no state',
};

/** Thrown inside a case to end it as skipped. */
class SkipCase extends Error {
  override readonly name = 'SkipCase';
}

/**
 * The store suite for `target`: every case of the contract of `Store`, for every
 * algorithm, in a stable order. Run each with `run()` under any test runner, or let
 * {@link registerStoreSuite} register them.
 */
export function storeSuite<S extends Store>(target: StoreSuiteTarget<S>): StoreSuiteCase[] {
  return CASES.map((definition) => {
    const skip = declaredMissing(target, definition.needs);
    return {
      group: definition.group,
      name: definition.name,
      needs: definition.needs,
      skip,
      run: () =>
        skip === undefined ? runCase(target, definition) : Promise.resolve({ status: 'skipped', reason: skip }),
    };
  });
}

/** Why a case cannot run by what the target declares, before any store exists. */
function declaredMissing(target: StoreSuiteTarget<Store>, needs: readonly StoreCapability[]): string | undefined {
  for (const need of needs) {
    const declared = need === 'keyCount' ? target.keyCount !== undefined : target.capabilities?.[need];
    if (declared === false) return MISSING[need];
  }
  return undefined;
}

/** Whether `store` has `capability`; `undefined` when only the case itself can tell (`reportsNow`). */
function detect(target: StoreSuiteTarget<Store>, store: Store, capability: StoreCapability): boolean | undefined {
  switch (capability) {
    case 'admin':
      return isAdminStore(store);
    case 'leases':
      return isLeaseStore(store);
    case 'refund':
      return typeof store.refund === 'function';
    case 'keyCount':
      return target.keyCount !== undefined;
    case 'reportsNow':
      return undefined;
  }
}

/** The policy a check stands for, as `store.unsupported()` takes it. */
function policyOf(check: StoreCheck): PolicySpec {
  const { algorithm, limit, windowMs, capacity } = check;
  return { name: check.key.split(':')[0] ?? check.key, algorithm, limit, windowMs, capacity };
}

async function runCase<S extends Store>(
  target: StoreSuiteTarget<S>,
  definition: CaseDefinition,
): Promise<StoreSuiteResult> {
  const clock = new ManualClock();
  const store = await target.create(clock);
  const lacks = (capability: StoreCapability): never => {
    if (capability !== 'keyCount' && target.capabilities?.[capability] === true) {
      throw new StoreSuiteAssertionError(`The target declares \`${capability}: true\`, but ${MISSING[capability]}.`);
    }
    throw new SkipCase(MISSING[capability]);
  };
  const context: CaseContext = {
    clock,
    store,
    consume: async (checks, options) => {
      for (const check of checks) {
        const reason = store.unsupported?.(policyOf(check));
        if (reason !== undefined) throw new SkipCase(`the store cannot keep a ${check.algorithm} policy: ${reason}`);
      }
      return await store.consume(checks, options);
    },
    refund: async (checks, result) => {
      if (typeof store.refund !== 'function') lacks('refund');
      await store.refund?.(checks, result);
    },
    keyCount: async () => {
      if (target.keyCount === undefined) return lacks('keyCount');
      return await target.keyCount(store);
    },
    admin: () => (isAdminStore(store) ? store : lacks('admin')),
    leases: () => (isLeaseStore(store) ? store : lacks('leases')),
    lacks,
  };

  let result: StoreSuiteResult;
  try {
    for (const need of definition.needs) if (detect(target, store, need) === false) lacks(need);
    await definition.body(context);
    result = { status: 'passed' };
  } catch (error) {
    if (!(error instanceof SkipCase)) {
      // The case's own failure is the one to report; a cleanup failing after it is most
      // likely its consequence.
      await Promise.resolve()
        .then(() => cleanup(target, store))
        .catch(() => undefined);
      throw error;
    }
    result = { status: 'skipped', reason: error.message };
  }
  await cleanup(target, store);
  return result;
}

async function cleanup<S extends Store>(target: StoreSuiteTarget<S>, store: S): Promise<void> {
  if (target.cleanup !== undefined) await target.cleanup(store);
  else await store.close?.();
}
