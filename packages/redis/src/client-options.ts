import { Redis, type RedisOptions } from 'ioredis';

/** The settings {@link recommendedRedisOptions} returns, typed exactly so they pass to `new Redis(url, ...)` under any tsconfig. */
export interface RecommendedRedisOptions {
  readonly enableOfflineQueue: false;
  readonly autoResendUnfulfilledCommands: false;
  readonly maxRetriesPerRequest: number;
  /** Milliseconds. */
  readonly commandTimeout: number;
  /** Milliseconds. */
  readonly connectTimeout: number;
  readonly enableReadyCheck: true;
  /** Milliseconds. */
  readonly disconnectTimeout: number;
  /** Delay before reconnect attempt `attempt`, in milliseconds, with jitter; never gives up. */
  readonly retryStrategy: (attempt: number) => number;
}

/**
 * ioredis settings that keep a rate limiter safe when Redis misbehaves (SPEC section 6:
 * with ioredis's defaults a call hangs ~73 s when Redis is down at boot and forever when
 * it is paused, and the offline queue plus automatic resend can count one request twice).
 *
 * - `enableOfflineQueue: false`: fail at once while disconnected instead of queueing.
 * - `autoResendUnfulfilledCommands: false`, `maxRetriesPerRequest: 0`: a command that may
 *   have reached Redis is never sent again, so no request is counted twice.
 * - `commandTimeout` (1 s): a backstop so no command waits forever on a paused Redis. The
 *   limiter's own `storeFaults.timeoutMs` (tens of ms) bounds each request; this one is
 *   longer on purpose, because ioredis's timer can fire before a reply already received
 *   during a busy event loop has been read, and would turn a burst into failures.
 * - `disconnectTimeout` (500 ms): how long closing waits for a socket to close cleanly
 *   before destroying it; ioredis's 2 s held a shutting-down process that long when
 *   Redis was down or paused.
 * - `retryStrategy`: reconnect forever with capped backoff, so the app recovers without
 *   a restart whenever Redis comes back, with jitter (SPEC section 6: without it every
 *   instance of a fleet reconnects in the same few milliseconds after a Redis restart).
 */
export function recommendedRedisOptions(options: { readonly commandTimeoutMs?: number } = {}): RecommendedRedisOptions {
  return {
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs ?? 1_000,
    connectTimeout: 2_000,
    enableReadyCheck: true,
    disconnectTimeout: 500,
    retryStrategy: reconnectDelay,
  };
}

/**
 * Delay before reconnect attempt `attempt` (1, 2, ...), in ms: capped exponential backoff
 * (100, 200, 400... at most 2,000) with "equal jitter", a random delay between half the
 * backoff and all of it. Half keeps a floor, so a fleet facing a dead Redis does not
 * hammer it with near-zero delays; the other half spreads the fleet's reconnections over
 * up to a second instead of one instant.
 */
export function reconnectDelay(attempt: number): number {
  const backoff = Math.min(50 * 2 ** Math.min(Math.max(attempt, 1), 10), 2_000);
  return Math.round(backoff / 2 + Math.random() * (backoff / 2));
}

/**
 * An ioredis client for `url` with {@link recommendedRedisOptions} (override any), whose
 * `error` events go to `onError` instead of ioredis's "Unhandled error event" log line.
 */
export function createRedisClient(
  url: string,
  options: RedisOptions & { readonly onError?: (error: Error) => void } = {},
): Redis {
  const { onError, ...overrides } = options;
  const merged: RedisOptions = { ...recommendedRedisOptions(), ...overrides };
  // ioredis's option types do not admit `undefined` for optional fields under exactOptionalPropertyTypes.
  const client = new Redis(url, merged as never);
  client.on('error', onError ?? (() => undefined));
  return client;
}
