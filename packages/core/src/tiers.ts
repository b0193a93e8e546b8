/**
 * Tier (plan) configuration types and the built-in preset from SPEC section 1. Every
 * number here is a default: users replace any part of it.
 */

/**
 * A policy's limits. Without `burst` it is a fixed window: at most `limit` units per
 * `windowMs`, the window starting at the identity's first hit. With `burst` it is a
 * token bucket: it holds up to `burst` units and refills continuously at `limit` units
 * per `windowMs`.
 */
export interface PolicyLimits {
  /** Units allowed per window (fixed window), or refilled per window (token bucket). Positive integer. */
  readonly limit: number;
  /** Window length in milliseconds. Positive integer. */
  readonly windowMs: number;
  /** Token-bucket capacity: the most units one request or one burst may use. Positive integer. Omit for a fixed window. */
  readonly burst?: number;
  /** Shadow mode for this policy: evaluated, counted and reported, never refusing. Default `false`. */
  readonly shadow?: boolean;
}

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
  readonly api?: PolicyLimits | false;
  /** Event-ingestion limit, usually a token bucket (a batch of N events costs N). */
  readonly events?: PolicyLimits | false;
  /** WebSocket limits for this tier. */
  readonly websocket?: WebSocketTierLimits;
  readonly [policy: string]: PolicyLimits | WebSocketTierLimits | false | undefined;
}

/** Tiers by name. */
export type TierMap = Readonly<Record<string, TierConfig>>;

/**
 * Per-customer changes to a tier, returned by a tier resolver (Enterprise contracts,
 * custom deals). Each policy given is merged field by field over the tier's own.
 */
export type TierOverrides = {
  readonly [policy: string]: Partial<PolicyLimits> | Partial<WebSocketTierLimits> | false | undefined;
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
