/**
 * What the limiter charges one identity on one policy, with everything the store and the
 * renderer need built once: the storage key, the store check (penalty included) and the
 * window reported in the outcome. The limiter keeps the one-unit charge of each identity
 * and policy (the usual request) and reuses it, so the hot path builds no key string and
 * no check object per request. Checks are read-only for stores, so sharing one object
 * between requests (even in flight concurrently) is safe.
 */
import { storageKey } from './identity.js';
import type { Penalty, StoreCheck } from './store.js';
import type { ResolvedOptions, ResolvedPolicy } from './validate-options.js';

/** One policy to charge for a request (a cost of 0 only reads it). */
export interface Charge {
  readonly policy: ResolvedPolicy;
  /** Storage key: `<policy>:<identity>`. */
  readonly key: string;
  /** The identity the key belongs to (`h...` or `i...`), for penalties and partition keys. */
  readonly identity: string;
  readonly cost: number;
  /** What the store is asked: this charge as a StoreCheck. */
  readonly check: StoreCheck;
  /** The outcome's `windowMs`: the window, or the time a bucket takes to refill from empty. */
  readonly windowMs: number;
}

/** The suspension penalty of an identity (the same for each of its policies), or `undefined` when suspension is off. */
export function penaltyOf(suspension: ResolvedOptions['suspension'], identity: string): Penalty | undefined {
  if (suspension === false) return undefined;
  return {
    violationKey: storageKey('violations', identity),
    blockKey: storageKey('suspended', identity),
    threshold: suspension.threshold,
    windowMs: suspension.windowMs,
    blockMs: suspension.durationMs,
  };
}

/**
 * A charge of `cost` units of `policy` for `identity`, stored at `key`. `penalty` is the
 * identity's (see {@link penaltyOf}); it applies only to charges that can be refused
 * (a cost above 0 on an enforced policy).
 */
export function chargeOf(
  policy: ResolvedPolicy,
  key: string,
  identity: string,
  cost: number,
  penalty: Penalty | undefined,
): Charge {
  return {
    policy,
    key,
    identity,
    cost,
    check: {
      key,
      algorithm: policy.algorithm,
      limit: policy.limit,
      windowMs: policy.windowMs,
      capacity: policy.capacity,
      periodEnd: 0,
      leaseMs: 0,
      cost,
      // Always the same fields, so every check has one shape (a hot-path object).
      shadow: policy.shadow,
      penalty: cost === 0 || policy.shadow ? undefined : penalty,
    },
    windowMs:
      policy.algorithm === 'fixed-window'
        ? policy.windowMs
        : Math.round((policy.capacity * policy.windowMs) / policy.limit),
  };
}
