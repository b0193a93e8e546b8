/**
 * Public options of `webSocketGuard`. Every field but `limiter` is optional; the resolved
 * form the guard runs on is produced once, at construction, by `resolveGuardOptions`.
 */
import type { IncomingMessage } from 'node:http';
import type { LeaseStore, RateLimiter, Warning } from '@tierlimit/core';
import type { LeaseFaultMode } from './connection-lease.js';
import type { GuardedConnection } from './guarded-connection.js';

/** Message rate of one connection: a token bucket. */
export interface MessageLimits {
  /** Messages refilled per `windowMs`. Positive integer. Default `10`. */
  readonly limit?: number;
  /** Refill period in milliseconds. Positive integer. Default `1_000`. */
  readonly windowMs?: number;
  /** Most messages accepted back to back (the bucket's capacity). Positive integer. Default: `limit`. */
  readonly burst?: number;
}

/** When refused messages stop being answered with error frames and close the connection. */
export interface ViolationLimits {
  /** Refused messages tolerated within `windowMs`; one more closes the connection with 1008. Positive integer. Default `20`. */
  readonly limit?: number;
  /** Window in milliseconds, starting at the first refused message. Positive integer. Default `10_000`. */
  readonly windowMs?: number;
}

/** Concurrent connections per API key: leases with a time to live, renewed by a heartbeat. */
export interface ConnectionOptions {
  /**
   * How long a lease lives without renewal, in milliseconds: the longest a crashed
   * instance's connections keep occupying slots. Positive integer. Default `30_000`.
   */
  readonly leaseTtlMs?: number;
  /**
   * How often each connection renews its lease (and its send buffer is checked), in
   * milliseconds. Must be less than `leaseTtlMs`. Default: `leaseTtlMs / 3`, rounded down.
   */
  readonly heartbeatMs?: number;
  /**
   * Where leases live. Default: the limiter's store when it keeps leases (the memory
   * store and `@tierlimit/redis` do; with Redis the cap holds across instances), else an
   * in-memory store of this guard (the cap then holds per process).
   */
  readonly store?: LeaseStore;
  /** Longest wait for one lease store call, in milliseconds; longer counts as a failure. Default `1_000`. */
  readonly timeoutMs?: number;
  /** See {@link LeaseFaultMode}. Default `'local'`. */
  readonly onStoreFailure?: LeaseFaultMode;
  /**
   * `Retry-After` of an upgrade refused because the cap is full, in milliseconds (sent in
   * whole seconds, rounded up). Default: `leaseTtlMs`, the longest a dead instance's
   * connections can hold slots.
   */
  readonly retryAfterMs?: number;
}

/** Options of {@link webSocketGuard}. */
export interface WebSocketGuardOptions {
  /** The limiter that identifies and limits upgrade requests; share the one your HTTP routes use. Required. */
  readonly limiter: RateLimiter;
  /**
   * The tier policy an upgrade draws from, like an HTTP route's `policy`; every tier must
   * define it (or set it to `false`). Default `'api'`.
   */
  readonly policy?: string;
  /** Units one upgrade takes from `policy`. Non-negative integer. Default `1`. */
  readonly cost?: number;
  /**
   * The client's address for the per-IP limit and anonymous tiers, after your framework's
   * trust-proxy logic (see the README for Express, Koa and Fastify). Never read
   * `X-Forwarded-For` here without checking who sent it. Default: `req.socket.remoteAddress`.
   */
  readonly clientIp?: (req: IncomingMessage) => string | undefined;
  /**
   * Largest message accepted, in bytes, after reassembling fragments and after inflating
   * a permessage-deflate message. Larger closes the connection with 1009 (enforced by `ws`
   * through `serverOptions.maxPayload`). Positive integer. Default `65_536` (64 KiB).
   */
  readonly maxPayload?: number;
  /** Message rate of each connection, or `false` for none. Default `{ limit: 10, windowMs: 1_000, burst: 10 }`. */
  readonly messages?: MessageLimits | false;
  /**
   * How many refused messages a connection may send before it is closed with 1008, or
   * `false` to only ever answer with error frames. Default `{ limit: 20, windowMs: 10_000 }`.
   */
  readonly violations?: ViolationLimits | false;
  /** Most channels one connection may be subscribed to at once (`conn.subscribe`). Positive integer. Default `50`. */
  readonly maxSubscriptions?: number;
  /**
   * Bytes queued for a client (`ws.bufferedAmount`) that a client may hold for at most
   * `bufferGraceMs`: still above it after that, it is dropped (terminated: the client sees
   * 1006). Checked after every `conn.send` and at every heartbeat. Positive integer.
   * Default `1_048_576` (1 MiB).
   */
  readonly maxBufferedBytes?: number;
  /**
   * How long a client's send buffer may stay above `maxBufferedBytes` before it is dropped,
   * in milliseconds: a client reading normally drains one large publish within it; one that
   * stopped reading does not. A check (a `conn.send`, a heartbeat) that finds the buffer
   * back under the cap ends the grace period. `0` drops at the first check over the cap.
   * Non-negative integer, at most `2_147_483_647` (Node's longest timer). Default `5_000`.
   */
  readonly bufferGraceMs?: number;
  /**
   * Bytes queued for a client beyond which it is dropped at once, grace period or not: the
   * bound on what one stalled client can make this process hold. Set it above the largest
   * burst you send to one client at a time. At least `maxBufferedBytes`. Positive integer.
   * Default: 4 × `maxBufferedBytes` (4 MiB).
   */
  readonly bufferCeilingBytes?: number;
  /** Connection leases: TTL, heartbeat, store and what a store failure means. */
  readonly connections?: ConnectionOptions;
  /**
   * Request header with the caller's request id, used in refusals and error frames (a
   * fresh id when absent). Set it to the limiter's `requestIdHeader` if you changed that.
   * Default `'x-request-id'`.
   */
  readonly requestIdHeader?: string;
  /** Clock in milliseconds since the epoch (message buckets, timestamps, the fallback lease store). Default `Date.now`. */
  readonly now?: () => number;
  /**
   * Receives every error thrown by your `onConnection` handler or by a listener on a
   * connection (`message`, `limited`, `close`, `error`), or the rejection of a promise one
   * of them returns, with the connection concerned. Nothing of it reaches the process.
   * Close the connection here if its state may be broken. If `onError` itself throws, the
   * default applies. Default: report `TL_WS_HANDLER_FAILED` through `onWarning` (once) and
   * close that connection with 1011.
   */
  readonly onError?: (error: unknown, conn: GuardedConnection) => void;
  /**
   * Receives operational warnings once per code: `TL_WS_LEASE_STORE_FAILED`,
   * `TL_WS_LOCAL_LEASES`, `TL_WS_NO_CONNECTION_LIMIT`, `TL_WS_SERVER_OPTIONS`,
   * `TL_WS_UPGRADE_FAILED`, `TL_WS_HANDLER_FAILED`, `TL_WS_SLOW_CLIENT`. Default: `console.warn`.
   */
  readonly onWarning?: (warning: Warning) => void;
}
