/**
 * Tier (plan) configuration types and the built-in preset from SPEC section 1. Every
 * number here is a default: users replace any part of it.
 */

/**
 * A limit counted over a window of `windowMs`: a fixed window (the default without
 * `burst`), a sliding window (`algorithm: 'sliding-window'`) or a token bucket (the
 * default with `burst`). The most units each admits in any interval of one window length:
 * - `fixed-window`: `2 × limit` (a window's last moment and the next window's first); at
 *   most `limit` within any one window, which starts at the identity's first hit;
 * - `sliding-window`: `limit × (1 + t ÷ windowMs)` in an interval of length `t ≤ windowMs`:
 *   the limit across a window boundary, where a fixed window admits twice the limit, and
 *   below twice the limit over a whole window length (weighted two-window counter);
 * - `token-bucket`: `burst + limit` (a full bucket, then its refill over the window).
 */
export interface PolicyLimits {
  /** Units allowed per window (fixed and sliding window), or refilled per window (token bucket). Positive integer. */
  readonly limit: number;
  /** Window length in milliseconds. Positive integer, at most a year. */
  readonly windowMs: number;
  /**
   * How the window counts: `'fixed-window'`, `'sliding-window'` or `'token-bucket'`.
   * Default: `'token-bucket'` with `burst`, else `'fixed-window'`.
   */
  readonly algorithm?: 'fixed-window' | 'sliding-window' | 'token-bucket';
  /** Token-bucket capacity: the most units one request or one burst may use. Positive integer. Default: `limit` for a token bucket; not allowed for the windows. */
  readonly burst?: number;
  /** Shadow mode for this limit: evaluated, counted and reported, never refusing. Default `false`. */
  readonly shadow?: boolean;
}

/**
 * A calendar quota: at most `limit` units per hour, day or month as the clocks of
 * `timeZone` show it (daylight saving time included), reset at the next boundary.
 */
export interface CalendarQuota {
  /** Units allowed per period. Positive integer. */
  readonly limit: number;
  /** The period: `'hour'`, `'day'` or `'month'`. */
  readonly per: 'hour' | 'day' | 'month';
  /** IANA time zone whose calendar the periods follow (`'America/New_York'`). Default `'UTC'`. */
  readonly timeZone?: string;
  /** Shadow mode for this limit. Default `false`. */
  readonly shadow?: boolean;
}

/**
 * At most `concurrency` requests of one identity in flight at once. A request holds its
 * slot until its response finishes or its connection closes (`Decision.release()` through
 * `check()`); a slot never released (a crashed instance) lapses after `leaseMs`.
 */
export interface ConcurrencyLimit {
  /** Requests in flight at once. Positive integer. */
  readonly concurrency: number;
  /** How long a slot is held at most, in milliseconds: set it above your slowest request. Default `120_000`. */
  readonly leaseMs?: number;
  /** Shadow mode for this limit. Default `false`. */
  readonly shadow?: boolean;
}

/** One limit of a policy. */
export type Limit = PolicyLimits | CalendarQuota | ConcurrencyLimit;

/**
 * A policy: one limit, or several that must all have room (`[{ limit: 10, windowMs: 1_000 },
 * { limit: 10_000, per: 'month' }, { concurrency: 5 }]`); a request that one of them refuses
 * is charged to none.
 */
export type Policy = Limit | readonly Limit[];

/** WebSocket limits that vary by tier (per-connection limits are set on the WebSocket guard). */
export interface WebSocketTierLimits {
  /** Concurrent connections per API key. Positive integer. */
  readonly connections: number;
}

/**
 * One plan. Each property other than `websocket` is a named policy (`api`, `events`, or
 * your own) that routes refer to by name; `false` means "no limit on this tier".
 */
export interface TierConfig {
  /** Request limit of ordinary API endpoints (the default policy of a route). */
  readonly api?: Policy | false;
  /** Event-ingestion limit, usually a token bucket (a batch of N events costs N). */
  readonly events?: Policy | false;
  /** WebSocket limits for this tier. */
  readonly websocket?: WebSocketTierLimits;
  readonly [policy: string]: Policy | WebSocketTierLimits | false | undefined;
}

/** Tiers by name. */
export type TierMap = Readonly<Record<string, TierConfig>>;

/**
 * Per-customer changes to a tier, returned by a tier resolver (Enterprise contracts,
 * custom deals). A policy given as one limit is merged field by field over the tier's own
 * one-limit policy (`{ api: { limit: 5_000 } }`); an array replaces the policy's limits.
 */
export type TierOverrides = {
  readonly [policy: string]:
    | Partial<PolicyLimits>
    | Partial<CalendarQuota>
    | Partial<ConcurrencyLimit>
    | readonly Limit[]
    | Partial<WebSocketTierLimits>
    | false
    | undefined;
};

const MINUTE = 60_000;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/**
 * The built-in preset (SPEC section 1). Enterprise limits are custom per customer: the
 * numbers here are the starting point a tier resolver overrides with `limits`.
 */
export const defaultTiers = deepFreeze({
  free: {
    api: { limit: 100, windowMs: MINUTE },
    events: { limit: 500, windowMs: MINUTE, burst: 50 },
    websocket: { connections: 10 },
  },
  starter: {
    api: { limit: 500, windowMs: MINUTE },
    events: { limit: 2_500, windowMs: MINUTE, burst: 250 },
    websocket: { connections: 50 },
  },
  pro: {
    api: { limit: 1_000, windowMs: MINUTE },
    events: { limit: 10_000, windowMs: MINUTE, burst: 1_000 },
    websocket: { connections: 200 },
  },
  enterprise: {
    api: { limit: 5_000, windowMs: MINUTE },
    events: { limit: 50_000, windowMs: MINUTE, burst: 5_000 },
    websocket: { connections: 1_000 },
  },
} satisfies TierMap);

/** The per-IP limit applied across all keys and tiers (SPEC section 1): 10,000 requests per minute. */
export const defaultIpLimit: PolicyLimits = deepFreeze({ limit: 10_000, windowMs: MINUTE });
