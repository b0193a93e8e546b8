/**
 * The contract between the core and a store. The core builds one `StoreCheck` per
 * policy that applies to a request and asks the store to decide them together:
 * all-or-nothing, so a request denied by one policy consumes nothing from the others.
 */

/** How a policy counts. */
export type Algorithm = 'fixed-window' | 'token-bucket';

/** One policy to check and charge, as the store sees it. */
export interface StoreCheck {
  /** Storage key: policy name and a hashed or normalised identity, never a raw API key. */
  readonly key: string;
  readonly algorithm: Algorithm;
  /** Fixed window: units per window. Token bucket: units refilled per window. */
  readonly limit: number;
  /** Window length in milliseconds. */
  readonly windowMs: number;
  /** Most units the policy can ever hold: `limit` for a fixed window, `burst` for a bucket. */
  readonly capacity: number;
  /** Units this request takes. 0 reads the state without charging or creating it. */
  readonly cost: number;
  /**
   * A shadow check is evaluated and charged when it fits, but its not fitting never
   * refuses the request (shadow mode, to try a new limit on live traffic). Default false.
   */
  readonly shadow?: boolean;
  /** Suspends this check's identity after repeated denials. Default: none. */
  readonly penalty?: Penalty | undefined;
}

/**
 * Suspension of an identity that keeps sending after being limited (SPEC section 3).
 * While `blockKey` lives, the check fails with the rest of the suspension as its wait.
 * Each time the check does not fit (and the identity is not already suspended), a denial
 * is counted at `violationKey` in a fixed window of `windowMs`; the `threshold`th denial
 * within one window sets `blockKey` for `blockMs`. Both keys belong to the same identity
 * as the check's own key (one Redis Cluster slot).
 */
export interface Penalty {
  readonly violationKey: string;
  readonly blockKey: string;
  readonly threshold: number;
  readonly windowMs: number;
  readonly blockMs: number;
}

/** What a store reports for one check. Durations are relative so the store's clock is the only one that matters. */
export interface CheckState {
  /** Whether this check alone had room for its cost. */
  readonly allowed: boolean;
  /** Whole units left: after charging when the request was admitted, as it stands otherwise. */
  readonly remaining: number;
  /** Milliseconds until the policy is back to its full limit (window end, bucket full). */
  readonly resetMs: number;
  /** Milliseconds until this check's cost would fit; 0 when it fits now. */
  readonly retryMs: number;
  /** The identity is suspended (the check's penalty); `retryMs` is the rest of the suspension. */
  readonly suspended?: boolean;
  /** This very request started the suspension. */
  readonly suspendedNow?: boolean;
}

/** The store's answer for one request. */
export interface ConsumeResult {
  /** True when every check that is not a shadow had room; only then was anything charged. */
  readonly allowed: boolean;
  /** One state per check, in the order of the checks. */
  readonly states: readonly CheckState[];
}

/** A policy as a store sees it when asked whether it can keep it. */
export interface PolicySpec {
  readonly name: string;
  readonly algorithm: Algorithm;
  readonly limit: number;
  readonly windowMs: number;
  readonly capacity: number;
}

/** A place to keep counters. Implementations must decide all checks of one call atomically. */
export interface Store {
  /**
   * Why this store cannot keep `policy`, or `undefined` if it can. Asked for every policy
   * when the limiter is built (and for per-customer limits when resolved), so an
   * unsupported policy is a configuration error, never a per-request failure.
   */
  unsupported?(policy: PolicySpec): string | undefined;
  /**
   * Check every policy of one request and, only if all have room, charge each its cost.
   * May answer synchronously (the memory store does) or with a promise. A failure is an
   * exception or rejection, never a denied result. The checks are shared between requests
   * (the limiter reuses each identity's usual check): never modify them. Nor does the
   * limiter: new limits make new checks, so a store may cache what it derives from a check
   * by object identity.
   */
  consume(checks: readonly StoreCheck[]): ConsumeResult | Promise<ConsumeResult>;
  /** Release timers and connections. */
  close?(): void | Promise<void>;
}

/**
 * Counted leases with a time to live, for limits on concurrent things (WebSocket
 * connections per API key). A holder renews its lease (a heartbeat) before the TTL
 * passes; a holder that dies stops renewing and its lease lapses, so a crashed instance
 * cannot hold slots forever. Leases are members of a set, so releasing twice is harmless
 * and a count never goes negative.
 */
export interface LeaseStore {
  /** Takes a lease on `key` if fewer than `max` live leases exist; its id, or `undefined` when full. */
  acquireLease(key: string, max: number, ttlMs: number): string | undefined | Promise<string | undefined>;
  /** Extends a held lease by `ttlMs` from now; `false` if it had already lapsed or been released. */
  renewLease(key: string, lease: string, ttlMs: number): boolean | Promise<boolean>;
  /** Gives a lease back; `true` the first time, `false` after (idempotent). */
  releaseLease(key: string, lease: string): boolean | Promise<boolean>;
  /** Live leases on `key`. */
  countLeases(key: string): number | Promise<number>;
}

/** True when `store` also keeps leases (the memory and Redis stores do). */
export function isLeaseStore(store: unknown): store is LeaseStore {
  return (
    typeof store === 'object' &&
    store !== null &&
    typeof (store as Partial<LeaseStore>).acquireLease === 'function' &&
    typeof (store as Partial<LeaseStore>).releaseLease === 'function'
  );
}

/** A suspension as operators see it. */
export interface Suspension {
  /** The suspended identity: `h` + the hashed API key (or account id), or `i` + the client address. */
  readonly identity: string;
  /** When it ends, ms since the epoch. */
  readonly until: number;
}

/** A per-identity limit override (custom Enterprise limits, a temporary increase) as stored. */
export interface StoredOverride {
  /** Policies merged over the tier's, field by field, e.g. `{ api: { limit: 5_000 } }`. */
  readonly limits: Readonly<Record<string, unknown>>;
  /** When the override lapses, ms since the epoch; `undefined` for never. */
  readonly expiresAt?: number | undefined;
}

/**
 * Operator state a store may keep for every instance to see: suspensions (written by
 * consume's penalties) and limit overrides. The memory and Redis stores implement it.
 */
export interface AdminStore {
  /** Live suspensions. */
  listSuspensions(): Suspension[] | Promise<Suspension[]>;
  /** Lifts an identity's suspension and forgets its recent denials; `true` if it was suspended. */
  liftSuspension(identity: string): boolean | Promise<boolean>;
  getOverride(identity: string): StoredOverride | undefined | Promise<StoredOverride | undefined>;
  setOverride(identity: string, override: StoredOverride): void | Promise<void>;
  deleteOverride(identity: string): boolean | Promise<boolean>;
  listOverrides():
    | Array<{ identity: string; override: StoredOverride }>
    | Promise<Array<{ identity: string; override: StoredOverride }>>;
}

/** True when `store` keeps suspensions and overrides (the memory and Redis stores do). */
export function isAdminStore(store: unknown): store is AdminStore {
  return (
    typeof store === 'object' &&
    store !== null &&
    typeof (store as Partial<AdminStore>).listSuspensions === 'function' &&
    typeof (store as Partial<AdminStore>).getOverride === 'function'
  );
}
