/**
 * Step: the checks to run. What the limiter charges one identity on one policy, with
 * everything the store and the renderer need built once: the storage key of each limit,
 * the store check (penalty included) and the window reported in the outcome. The limiter
 * keeps the one-unit charges of each identity and policy (the usual request) and reuses
 * them, so the hot path builds no key string and no check object per request. Checks are
 * read-only for stores, so sharing one object between requests (even in flight
 * concurrently) is safe; a calendar quota's check is replaced, not changed, when its
 * period ends.
 */
import type { Period } from '../calendar-periods.js';
import type { ResolvedLimit, ResolvedPolicy } from '../limits.js';
import { Namespaces, storageKey } from '../namespaces.js';
import type { Penalty, StoreCheck } from '../store.js';

/** One limit to charge for a request (a cost of 0 only reads it). */
export interface Charge {
  readonly limit: ResolvedLimit;
  /** Storage key: `<limit key>:<identity>`. */
  readonly key: string;
  /** The identity the key belongs to (`h...` or `i...`), for penalties and partition keys. */
  readonly identity: string;
  readonly cost: number;
  /** What the store is asked: this charge as a StoreCheck. */
  readonly check: StoreCheck;
  /** The outcome's `windowMs`: the window or period, the time a bucket takes to refill from empty, 0 for concurrency. */
  readonly windowMs: number;
}

/** The charges of one request on one policy: one per limit. */
export interface PolicyCharges {
  readonly policy: ResolvedPolicy;
  readonly charges: readonly Charge[];
  /** When one of its calendar quotas enters a new period, so its checks must be rebuilt; `Infinity` without one. */
  readonly renewAt: number;
}

/** The `suspension` option, resolved. */
export interface SuspensionSettings {
  readonly threshold: number;
  readonly windowMs: number;
  readonly durationMs: number;
}

/** The suspension penalty of an identity (the same for each of its limits), or `undefined` when suspension is off. */
export function penaltyOf(suspension: SuspensionSettings | false, identity: string): Penalty | undefined {
  if (suspension === false) return undefined;
  return {
    violationKey: storageKey(Namespaces.violations, identity),
    blockKey: storageKey(Namespaces.suspended, identity),
    threshold: suspension.threshold,
    windowMs: suspension.windowMs,
    blockMs: suspension.durationMs,
  };
}

const NO_PERIOD: Period = { start: 0, end: 0 };

/**
 * A charge of `cost` units of `limit` for `identity`, stored at `key`. `penalty` is the
 * identity's (see {@link penaltyOf}); it applies only to charges that can be refused (a
 * cost above 0 on an enforced limit). A concurrency limit takes one slot whatever the
 * cost; a calendar quota is charged in the period that contains `now`.
 */
export function chargeOf(
  limit: ResolvedLimit,
  key: string,
  identity: string,
  cost: number,
  penalty: Penalty | undefined,
  now: number,
): Charge {
  const algorithm = limit.algorithm;
  const units = algorithm === 'concurrency' ? Math.min(cost, 1) : cost;
  const period = limit.clock === undefined ? NO_PERIOD : limit.clock.at(now);
  const windowMs = limit.clock === undefined ? limit.windowMs : period.end - period.start;
  return {
    limit,
    key,
    identity,
    cost: units,
    check: {
      key,
      algorithm,
      limit: limit.limit,
      windowMs,
      capacity: limit.capacity,
      periodEnd: period.end,
      leaseMs: limit.leaseMs,
      cost: units,
      // Always the same fields, so every check has one shape (a hot-path object).
      shadow: limit.shadow,
      penalty: units === 0 || limit.shadow ? undefined : penalty,
    },
    windowMs: algorithm === 'token-bucket' ? Math.round((limit.capacity * limit.windowMs) / limit.limit) : windowMs,
  };
}

/**
 * The charges of `cost` units of `policy` for `identity`. `keys` are the storage keys of
 * the policy's limits when known (from the identity's one-unit charges), else built here.
 */
export function policyCharges(
  policy: ResolvedPolicy,
  identity: string,
  cost: number,
  penalty: Penalty | undefined,
  now: number,
  keys?: readonly Charge[],
): PolicyCharges {
  const limits = policy.limits;
  const charges: Charge[] = new Array(limits.length);
  let renewAt = Number.POSITIVE_INFINITY;
  for (let i = 0; i < limits.length; i++) {
    const limit = limits[i] as ResolvedLimit;
    const key = keys?.[i]?.key ?? storageKey(limit.key, identity);
    const charge = chargeOf(limit, key, identity, cost, penalty, now);
    charges[i] = charge;
    if (limit.clock !== undefined) renewAt = Math.min(renewAt, charge.check.periodEnd as number);
  }
  return { policy, charges, renewAt };
}

/** The smallest enforced limit of `policy` that `cost` units can never fit in (a 413), if any; concurrency never counts. */
export function tooLarge(policy: ResolvedPolicy, cost: number): ResolvedLimit | undefined {
  let found: ResolvedLimit | undefined;
  for (const limit of policy.limits) {
    if (limit.shadow || limit.algorithm === 'concurrency' || cost <= limit.capacity) continue;
    if (found === undefined || limit.capacity < found.capacity) found = limit;
  }
  return found;
}
