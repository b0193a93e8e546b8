/**
 * Public options of `createRateLimiter`. Every field is optional; the resolved form that
 * the engine uses is produced once, at construction, by `resolveOptions`.
 */

import type { StandardHeaders } from './standard-headers.js';
import type { Store } from './store.js';
import type { StoreFaultOptions } from './store-guard.js';
import type { PolicyLimits, TierMap, TierOverrides } from './tiers.js';
import type { Warning } from './warnings.js';

export type { Warning } from './warnings.js';

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
  /**
   * How long an "unknown key" answer is reused, in milliseconds. Default `0` (not cached:
   * `unknownKeys` bounds the resolver calls a guessing client can cause, and caching every
   * guessed key would be per-key state an attacker controls).
   */
  readonly resolverNegativeCacheMs?: number;
  /** Most resolver answers kept at once; when full, the oldest tenth is dropped. Default `10_000`. */
  readonly resolverCacheSize?: number;
  /**
   * Tier for requests without an API key, limited per client IP (IPv6 per subnet). When
   * unset, a request without a key is answered 401 `UNAUTHORIZED`. Default: unset.
   */
  readonly anonymousTier?: string;
  /**
   * The per-IP limit, applied to every request across all keys and tiers: one window limit
   * (a fixed window, a sliding window with `algorithm: 'sliding-window'`, or a token bucket
   * when `burst` is set), or `false` for none. Default: 10,000 requests per minute
   * (`defaultIpLimit`).
   */
  readonly ip?: PolicyLimits | false;
  /** IPv6 prefix length, in bits, that groups IPv6 clients into one identity. Default `56`. */
  readonly ipv6Subnet?: number;
  /**
   * Your proxies, by address: IP addresses, CIDR ranges (`'10.0.0.0/8'`, `'fd00::/8'`) and
   * the presets `'loopback'`, `'linklocal'`, `'uniquelocal'`. When set, the limiter finds
   * the client address itself instead of taking the framework's: from the connection's
   * peer address, walking `X-Forwarded-For` right to left while the address at hand is one
   * of these proxies (entries may carry a port). For frameworks that can only trust proxies
   * by hop count (Koa's `proxy` with `maxIpsCount`), where a client that reaches the app
   * directly picks its own address. Default: unset (the framework's own setting decides).
   */
  readonly trustedProxies?: readonly string[];
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
  /**
   * Which rate-limit headers to send: `legacy` X-RateLimit-Limit/Remaining/Reset (default
   * `true`) and the IETF fields in one `standard` form: `'draft-6'`, `'draft-7'`,
   * `'draft-8'` (lists every limit that applied) or `'draft-10'` (as draft-8, with `t` the
   * time until more quota is available, for a token bucket its next unit). Default
   * `false`, none.
   */
  readonly headers?: { readonly legacy?: boolean; readonly standard?: StandardHeaders | false };
  /**
   * Error body format: `'json'` (SPEC section 2: `{ error: { code, message, ... } }`) or
   * `'problem'` (RFC 9457 `application/problem+json`). Default `'json'`.
   */
  readonly errorFormat?: 'json' | 'problem';
  /**
   * Shadow mode for every policy: evaluate and count, report in `X-RateLimit-Shadow`, the
   * `shadowLimited` event and metrics, but never refuse a request for a limit. Single
   * policies can be shadowed with `shadow: true` in their limits. Default `false`.
   */
  readonly shadow?: boolean;
  /**
   * Temporary suspension of an API key or client IP that keeps sending after being limited:
   * its `threshold`th denied request within `windowMs` suspends it for `durationMs`
   * (answered 429 `SUSPENDED` with the rest of the suspension as Retry-After; the
   * `suspended` event fires; lift it with `liftSuspension`). Default: off (`false`).
   */
  readonly suspension?:
    | { readonly threshold?: number; readonly windowMs?: number; readonly durationMs?: number }
    | false;
  /**
   * Key enumeration guard: unknown and malformed API keys counted per client IP (a fixed
   * window, or `false` to turn it off). Past it the address gets 429s without the resolver
   * being asked. Default `{ limit: 50, windowMs: 600_000 }` (50 bad keys per 10 minutes).
   */
  readonly unknownKeys?: PolicyLimits | false;
  /**
   * Checks of the deployment that can only be made on live requests (or, for Fastify, when
   * the plugin is registered), each reported once per process through `onWarning` with a
   * stable code, each on by default; set one to `false` to silence it:
   * - `permissiveTrustProxy`: every proxy is trusted (Express `trust proxy` true, Koa
   *   `proxy` without `maxIpsCount`, Fastify `trustProxy` true), so clients pick their own
   *   address (`TL_PERMISSIVE_TRUST_PROXY`). `'error'` makes it fatal: a
   *   `ConfigurationError` with that code, as early as the framework allows (Fastify:
   *   `register`/`ready`; Express and Koa: every request, answered 500, until it is fixed).
   * - `hopCountTrust`: proxies are trusted by hop count, not by address, and
   *   `trustedProxies` is not set (`TL_HOP_COUNT_TRUST`).
   * - `untrustedForwardedFor`: requests carry X-Forwarded-For but no proxy is trusted
   *   (`TL_UNTRUSTED_FORWARDED_FOR`).
   * - `noClientIp`: a request had no usable client address (`TL_NO_CLIENT_IP`).
   * - `unparsableClientIp`: the framework reported an address that could not be parsed,
   *   and the connection's peer address was used instead (`TL_UNPARSABLE_CLIENT_IP`).
   */
  readonly validations?: {
    readonly permissiveTrustProxy?: boolean | 'error';
    readonly hopCountTrust?: boolean;
    readonly untrustedForwardedFor?: boolean;
    readonly noClientIp?: boolean;
    readonly unparsableClientIp?: boolean;
  };
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
   * Receives operational warnings (no client IP, store full, resolver failures): a
   * misconfiguration once per code, a deployment setting once per process, a store outage
   * once per outage. Default: `console.warn`.
   */
  readonly onWarning?: (warning: Warning) => void;
}
