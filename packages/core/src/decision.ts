/**
 * The value the core returns for every request: allowed or not, why, and exactly what to
 * put on the wire. Adapters write `headers` and, when not allowed, `status` and `body`
 * with their framework's API; they never compute any of it.
 */

import type { ResolvedTier } from './limits.js';
import type { Algorithm } from './store.js';

/** One limit's part in a decision. Times are milliseconds on the limiter's clock. */
export interface PolicyOutcome {
  /** Policy name: `ip`, `api`, `events` or one of your own. */
  readonly policy: string;
  /**
   * The limit's name: the policy's for a policy of one limit, else the policy's and what
   * the limit counts (`api.1s`, `api.sliding-1m`, `api.month`, `api.concurrency`). Names the
   * limit in 429 bodies and the IETF fields.
   */
  readonly name: string;
  readonly algorithm: Algorithm;
  /** What `X-RateLimit-Limit` reports: the window's limit, the bucket's capacity (`burst`), or the slots of a concurrency limit. */
  readonly limit: number;
  /** Window length, the current calendar period's length, or the time a bucket takes to refill from empty, in ms; 0 for concurrency. */
  readonly windowMs: number;
  /** Calendar quota: its period (`hour`, `day`, `month`); else `undefined`. */
  readonly per: 'hour' | 'day' | 'month' | undefined;
  /** Calendar quota: the time zone of its calendar; else `undefined`. */
  readonly timeZone: string | undefined;
  /** Units this request asked for. */
  readonly cost: number;
  /** Whether this limit alone had room for the request. */
  readonly allowed: boolean;
  /** Units (or slots) left after this request; never negative. */
  readonly remaining: number;
  /** When the limit is back to its full limit (window or period end; bucket full; now for concurrency), ms since the epoch. */
  readonly resetAt: number;
  /** How long until this request's cost would fit, in ms; 0 when it fits now. */
  readonly retryAfterMs: number;
  /** A shadow limit: evaluated and counted, reported, but never the reason a request is refused. */
  readonly shadow: boolean;
  /** The identity is suspended on this policy (it kept sending after being limited); `retryAfterMs` is the rest of the suspension. */
  readonly suspended: boolean;
}

/** The JSON error body of SPEC section 2. */
export interface ErrorBody {
  readonly error: {
    /** Stable code: `RATE_LIMITED`, `UNAUTHORIZED`, `INVALID_API_KEY`, `BATCH_TOO_LARGE`... */
    readonly code: string;
    readonly message: string;
    readonly details?: Readonly<Record<string, unknown>>;
    /** The incoming request id, or a fresh one; also sent as `X-Request-Id`. */
    readonly requestId: string;
    /** ISO 8601, UTC, whole seconds. */
    readonly timestamp: string;
  };
}

/** The same error as an RFC 9457 problem (`errorFormat: 'problem'`, sent as `application/problem+json`). */
export interface ProblemBody {
  /** `about:blank`: the title is the HTTP status phrase. */
  readonly type: string;
  readonly title: string;
  readonly status: number;
  /** Human-readable message (the JSON body's `message`). */
  readonly detail: string;
  /** Extension members: the stable `code`, the details' fields, `requestId` and `timestamp`. */
  readonly code: string;
  readonly requestId: string;
  readonly timestamp: string;
  readonly [extension: string]: unknown;
}

/** Outcome of one request. */
export interface Decision {
  /** True when the request may proceed to the route handler. */
  readonly allowed: boolean;
  /** HTTP status to answer with when not allowed (429, 400, 401, 413, 503); 200 when allowed. */
  readonly status: number;
  /** Error code when not allowed (the body's `error.code`), else `undefined`. */
  readonly code: string | undefined;
  /** Tier of the caller, when known. */
  readonly tier: string | undefined;
  /**
   * The caller's storage identity once known: `h` + a hash of the API key (or account id),
   * or `i` + the client IP identity for anonymous tiers. Never the raw key. Use it to key
   * your own per-caller state (the WebSocket guard keys connection leases with it).
   */
  readonly identity: string | undefined;
  /** The caller's limits once known: its tier with any per-customer limits merged in. */
  readonly limits: ResolvedTier | undefined;
  /** The policy the headers describe: closest to exhaustion, or on 429 the one that denied with the longest wait. */
  readonly policy: PolicyOutcome | undefined;
  /** Every policy evaluated, in order (`ip` first). */
  readonly policies: readonly PolicyOutcome[];
  /** `policy.limit`, or 0 when no policy applied. */
  readonly limit: number;
  /** `policy.remaining`, or 0 when no policy applied. */
  readonly remaining: number;
  /** `policy.resetAt` in ms since the epoch, or 0 when no policy applied. */
  readonly resetAt: number;
  /** How long the client should wait before retrying, in ms (429 and 503 only), else 0. */
  readonly retryAfterMs: number;
  /** Response headers to set, whether allowed or not. */
  readonly headers: Readonly<Record<string, string>>;
  /** Body to send when not allowed: the SPEC's JSON shape, or RFC 9457 problem details if configured. */
  readonly body: ErrorBody | ProblemBody | undefined;
  /** True when the route's `skip` function let the request through unchecked. */
  readonly skipped: boolean;
  /**
   * Set while the store is failing and the request was decided without it: `local` (by an
   * in-process limiter) or `open` (served regardless). Also sent as `X-RateLimit-Degraded`.
   */
  readonly degraded: 'local' | 'open' | undefined;
  /**
   * True while the request holds concurrency slots (a `{ concurrency: N }` limit admitted
   * it): call {@link Decision.release} when it is done. The adapters do, when the response
   * finishes or the connection closes.
   */
  readonly inFlight: boolean;
  /**
   * Gives back the concurrency slots this request holds, the first time it is called;
   * after that (and for a decision that holds none) it does nothing. A slot never given
   * back lapses after the limit's `leaseMs`.
   */
  release(): void;
}

const nothingToRelease = (): void => undefined;

/** The decision for a request a route chose to skip: allowed, nothing checked, no headers. */
export const SKIPPED: Decision = Object.freeze({
  allowed: true,
  status: 200,
  code: undefined,
  tier: undefined,
  identity: undefined,
  limits: undefined,
  policy: undefined,
  policies: Object.freeze([]) as readonly PolicyOutcome[],
  limit: 0,
  remaining: 0,
  resetAt: 0,
  retryAfterMs: 0,
  headers: Object.freeze({}),
  body: undefined,
  skipped: true,
  degraded: undefined,
  inFlight: false,
  release: nothingToRelease,
});

/**
 * The decision of a peek (`RouteHandler.peek`) that found room: allowed, nothing
 * charged, no headers; the request's real decision comes once its body is read.
 */
export const PASSED: Decision = Object.freeze({ ...SKIPPED, skipped: false });
