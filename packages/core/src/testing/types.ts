/**
 * The types of the store suite, in a leaf module so the case list, the runner and the
 * registration can all use them without importing one another.
 */
import type { AdminStore, ConsumeOptions, ConsumeResult, LeaseStore, Store, StoreCheck } from '../store.js';
import type { ManualClock } from './manual-clock.js';

/**
 * What some cases need beyond `consume`:
 * - `admin`: an {@link AdminStore} (suspensions and overrides; `isAdminStore(store)`);
 * - `leases`: a {@link LeaseStore} (`isLeaseStore(store)`);
 * - `refund`: `store.refund`;
 * - `reportsNow`: the store reports its clock as `ConsumeResult.now` (optional in the
 *   contract: a store that decides with the limiter's clock may leave it out);
 * - `keyCount`: the target's `keyCount`, to check that reads create no state.
 */
export type StoreCapability = 'admin' | 'leases' | 'refund' | 'reportsNow' | 'keyCount';

/**
 * What the store under test can do. A capability left out is detected when a case runs
 * (`isAdminStore(store)`, `isLeaseStore(store)`, `typeof store.refund`, `now` in a result)
 * and the cases that need it are skipped if it is missing. `false` skips them without
 * creating a store, and lets `registerStoreSuite` register them as skipped, which jest
 * can only do before the tests run. `true` makes a missing capability a failure.
 */
export type StoreCapabilities = Readonly<Partial<Record<Exclude<StoreCapability, 'keyCount'>, boolean>>>;

/** The store under test, for {@link storeSuite} and {@link registerStoreSuite}. */
export interface StoreSuiteTarget<S extends Store = Store> {
  /** Names the suite: `describe(name)`, and the start of each case's full name. */
  readonly name: string;
  /**
   * A fresh, empty store that reads the time from `clock.now()` (ms since the epoch),
   * e.g. `({ now }) => memoryStore({ now })`. Called once for each case: the cases assume
   * that no key exists when they start.
   */
  create(clock: { readonly now: () => number }): S | Promise<S>;
  /**
   * Called after each case, also when it failed: close the store and drop its data. It may
   * check the store and throw (the repository's Redis targets fail on a key left without a
   * TTL); that fails a case that had passed. Default: `store.close?.()`.
   */
  cleanup?(store: S): void | Promise<void>;
  /** Keys the store holds now; without it the cases that check that reads create no state are skipped. */
  keyCount?(store: S): number | Promise<number>;
  /** See {@link StoreCapabilities}. Default: detect each one. */
  readonly capabilities?: StoreCapabilities;
}

/** How one case ended when it did not fail (a failure rejects). */
export type StoreSuiteResult = { readonly status: 'passed' } | { readonly status: 'skipped'; readonly reason: string };

/** One case of the store suite, bound to a target. */
export interface StoreSuiteCase {
  /** What it is about, e.g. `'token bucket'`. */
  readonly group: string;
  /** What it shows, e.g. `'a clock that goes backwards mints no tokens'`. */
  readonly name: string;
  /** The capabilities it needs. */
  readonly needs: readonly StoreCapability[];
  /** Why it will be skipped, when the target already says so; else `undefined`. */
  readonly skip: string | undefined;
  /**
   * Creates a store, runs the case on it and cleans up. Resolves `passed`, or `skipped`
   * with the reason (a missing capability, or `store.unsupported()` refusing a policy the
   * case sends); rejects with the first failed expectation or the store's own error.
   */
  run(): Promise<StoreSuiteResult>;
}

/** What a case gets: a fresh store, the clock it reads, and helpers. @internal */
export interface CaseContext {
  readonly clock: ManualClock;
  readonly store: Store;
  /** `store.consume`, awaited; skips the case if the store cannot keep one of the checks. */
  consume(checks: readonly StoreCheck[], options?: ConsumeOptions): Promise<ConsumeResult>;
  refund(checks: readonly StoreCheck[], result: ConsumeResult): Promise<void>;
  keyCount(): Promise<number>;
  admin(): Store & AdminStore;
  leases(): Store & LeaseStore;
  /** The store turned out to lack `capability`: skips the case, or fails it when the target declared it. */
  lacks(capability: StoreCapability): never;
}

/** A case before it is bound to a target. @internal */
export interface CaseDefinition {
  readonly group: string;
  readonly name: string;
  readonly needs: readonly StoreCapability[];
  readonly body: (t: CaseContext) => Promise<void>;
}
