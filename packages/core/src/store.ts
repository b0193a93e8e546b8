/**
 * The contract between the core and a store. The core builds one `StoreCheck` per
 * policy that applies to a request and asks the store to decide them together:
 * all-or-nothing, so a request denied by one policy consumes nothing from the others.
 */

/**
 * How a limit counts: `fixed-window`, `sliding-window` (weighted two-window counter),
 * `token-bucket`, `calendar` (a window aligned to hours, days or months in a time zone) or
 * `concurrency` (requests in flight). Each is defined once, in `algorithms/`.
 */
export type Algorithm = 'fixed-window' | 'sliding-window' | 'token-bucket' | 'calendar' | 'concurrency';

/** One policy to check and charge, as the store sees it. */
export interface StoreCheck {
  /** Storage key: policy name and a hashed or normalised identity, never a raw API key. */
  readonly key: string;
  readonly algorithm: Algorithm;
  /** Units per window (fixed and sliding window, calendar), refilled per window (token bucket), or requests in flight (concurrency). */
  readonly limit: number;
  /** Window length in milliseconds (a calendar period's length; 0 for concurrency). */
  readonly windowMs: number;
  /** Most units the limit can ever hold: `limit`, or `burst` for a bucket. */
  readonly capacity: number;
  /** Calendar quota (required there): when the current period ends, ms since the epoch (the limiter computes it). */
  readonly periodEnd?: number;
  /** Concurrency (required there): how long a slot is held when its request is never released, ms. */
  readonly leaseMs?: number;
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
  /**
   * The store had no room to keep this check's new key (a full memory store): not the
   * client's limit. The limiter answers 503 with `retryMs` as `Retry-After`.
   */
  readonly full?: boolean;
  /** Concurrency: the lease taken for this request (release it with `releaseLease(key, lease)`). */
  readonly lease?: string;
}

/** The store's answer for one request. */
export interface ConsumeResult {
  /** True when every check that is not a shadow had room; only then was anything charged (never on a peek). */
  readonly allowed: boolean;
  /** One state per check, in the order of the checks. */
  readonly states: readonly CheckState[];
  /**
   * The store's clock when it decided, in ms since the epoch (Redis `TIME` for Redis).
   * The limiter reports reset times from it, so a skewed application clock does not skew
   * `X-RateLimit-Reset`. Omit it when the store uses the limiter's own clock.
   */
  readonly now?: number;
}

/**
 * What the limiter tells a store about one `consume` call. The same object may be passed to
 * many calls (its fields then never change); `sent` is per call.
 */
export interface ConsumeOptions {
  /**
   * Decide as if charging each check's cost and report the states, but charge nothing and
   * count no denial toward a suspension: the limiter asks this before reading a request's
   * body, to refuse a request that has no room for even one unit without charging it.
   * Default `false`.
   */
  readonly peek?: boolean;
  /**
   * How long the limiter waits for the answer, in ms, counted from `sent()` (or from the
   * call, for a store that never calls it). A store that can tell when the decision is
   * executed should refuse to charge one that runs after that and fail it instead (it
   * would arrive after the limiter answered without it). `undefined`: no deadline.
   */
  readonly timeoutMs?: number;
  /**
   * A store that queues decisions before sending them (batching, waiting for a connection)
   * calls this when the decision leaves the process: the limiter's timeout counts from
   * then, so time spent waiting behind this process's own work is not blamed on the store.
   */
  sent?(): void;
}

/** A limit as a store sees it when asked whether it can keep it. */
export interface PolicySpec {
  /** The policy's name. */
  readonly name: string;
  readonly algorithm: Algorithm;
  readonly limit: number;
  /** The window, the refill period, or for a calendar quota its longest period. */
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
  consume(checks: readonly StoreCheck[], options?: ConsumeOptions): ConsumeResult | Promise<ConsumeResult>;
  /**
   * Gives back what `consume(checks)` charged when it answered `result` (nothing unless
   * `result.allowed`; each check whose state fitted, at its cost). A fixed window is only
   * refunded while it is still the window the charge was made in (`result.now` +
   * `resetMs` tells which); a bucket gets its units back, capped at its capacity. The
   * limiter calls it when a request it charged is refused after all: a later mount of the
   * same limiter refused it, or the store's answer came after the limiter had answered
   * without it and refused. Stores without it leave such charges in place.
   */
  refund?(checks: readonly StoreCheck[], result: ConsumeResult): void | Promise<void>;
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
