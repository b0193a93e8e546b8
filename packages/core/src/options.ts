/**
 * Public options of `createRateLimiter`. Every field is optional; the resolved form that
 * the engine uses is produced once, at construction, by `resolveOptions`.
 */
import type { Store } from './store.js';
import type { StoreFaultOptions } from './store-guard.js';
import type { PolicyLimits, TierMap, TierOverrides } from './tiers.js';

/**
 * What a tier resolver may answer for an API key:
 * - a tier name (`'pro'`);
 * - an object naming the tier plus, optionally, a stable account `id` (counts follow the
 *   account across key rotation; several keys with one id share limits) and per-customer
 *   `limits` merged over the tier's (custom Enterprise contracts);
 * - `null` or `undefined` for an unknown key (answered with 401).
 */
export type TierResolution =
  | string
  | { readonly tier: string; readonly id?: string; readonly limits?: TierOverrides }
  | null
  | undefined;

/** Maps an API key to its tier. May be async (a database lookup); answers are cached. */
export type TierResolver = (apiKey: string) => TierResolution | Promise<TierResolution>;

/** An operational warning, reported once per code. */
export interface Warning {
  /** Stable code, for example `TL_NO_CLIENT_IP`. */
  readonly code: string;
  /** Human-readable text. Never contains an API key. */
  readonly message: string;
  /** The underlying error, when there is one (a resolver or store failure). */
  readonly error?: unknown;
}

/** Options of `createRateLimiter` (and of the adapters, which create one for you). */
export interface RateLimiterOptions {
  /**
   * Plan tiers by name. Replaces the preset as a whole; spread `defaultTiers` to keep
   * parts of it. Default: `defaultTiers` (free, starter, pro, enterprise of SPEC section 1).
   */
  readonly tiers?: TierMap;
  /**
   * Maps an API key to its tier (see {@link TierResolution}). Required unless every
   * request is anonymous (`anonymousTier`). No default.
   */
  readonly resolveTier?: TierResolver;
  /** How long a resolver answer for a known key is reused, in milliseconds. `0` disables caching. Default `30_000`. */
  readonly resolverCacheMs?: number;
  /** How long an "unknown key" answer is reused, in milliseconds. Default `5_000`. */
  readonly resolverNegativeCacheMs?: number;
  /** Most resolver answers kept at once (oldest dropped first). Default `10_000`. */
  readonly resolverCacheSize?: number;
  /**
   * Tier for requests without an API key, limited per client IP (IPv6 per subnet). When
   * unset, a request without a key is answered 401 `UNAUTHORIZED`. Default: unset.
   */
  readonly anonymousTier?: string;
  /**
   * The per-IP policy, applied to every request across all keys and tiers (a fixed window,
   * or a token bucket when `burst` is set), or `false` for none. Default: 10,000 requests
   * per minute (`defaultIpLimit`).
   */
  readonly ip?: PolicyLimits | false;
  /** IPv6 prefix length, in bits, that groups IPv6 clients into one identity. Default `56`. */
  readonly ipv6Subnet?: number;
  /**
   * Request header carrying the API key (case-insensitive). With `authorization`, the
   * `Bearer` scheme is expected and stripped. Default `'x-api-key'`.
   */
  readonly apiKeyHeader?: string;
  /** Longest API key accepted, in characters; longer keys get 400 `INVALID_API_KEY`. Default `256`. */
  readonly maxApiKeyLength?: number;
  /**
   * Request header with the caller's request id, echoed in error bodies and the
   * `X-Request-Id` response header; a fresh id is made when absent or malformed.
   * Default `'x-request-id'`.
   */
  readonly requestIdHeader?: string;
  /** Where counters live. Default: an in-memory store (`memoryStore({ now })`) using this limiter's clock. */
  readonly store?: Store;
  /**
   * What to do when an asynchronous store (Redis, a database) fails or is slow: the mode
   * (`local` by default, `open` or `closed`), the timeout (50 ms), the number of instances
   * sharing the store (1), and the circuit breaker (3 failures, 1 s cooldown). See
   * `StoreFaultOptions`.
   */
  readonly storeFaults?: StoreFaultOptions;
  /** Clock in milliseconds since the epoch, for tests. Default `Date.now`. */
  readonly now?: () => number;
  /**
   * Receives operational warnings (no client IP, store full, resolver failures), once per
   * code. Default: `console.warn`.
   */
  readonly onWarning?: (warning: Warning) => void;
}
