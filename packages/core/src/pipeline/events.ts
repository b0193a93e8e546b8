/** The events a RateLimiter emits (`limiter.on(name, listener)`), shared by the steps that emit them. */
import type { Decision } from '../decision.js';
import type { FaultMode } from '../store-guard.js';

/** Events a RateLimiter emits (`limiter.on(name, listener)`). */
export interface RateLimiterEvents {
  /** A store call failed or timed out (not emitted while the circuit is open). */
  storeError: [error: unknown];
  /** How long a store call took, in ms (only measured while someone listens). */
  storeLatency: [ms: number];
  /** The store started failing; requests are now answered per `storeFaults.mode`. */
  degraded: [info: { readonly mode: FaultMode; readonly error: unknown }];
  /** The store answered again after failing; `downtimeMs` is how long requests were degraded. */
  recovered: [info: { readonly downtimeMs: number }];
  /** A request was admitted. */
  allowed: [decision: Decision];
  /** A request was refused with 429 (rate limited or suspended). */
  limited: [decision: Decision];
  /** A request was refused for another reason: bad input (400, 413), no valid key (401), or 503. */
  refused: [decision: Decision];
  /** A shadow limit would have refused this request (it was not refused for it). `policy` is the limit's name. */
  shadowLimited: [info: { readonly policy: string; readonly decision: Decision }];
  /**
   * An identity was suspended for sending after being limited. `identity` is the hashed
   * key (`h...`) or the client address (`i...`); pass it to `liftSuspension` to lift it.
   */
  suspended: [
    info: { readonly identity: string; readonly policy: string; readonly until: number; readonly decision: Decision },
  ];
}
