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
  /** Delay before reconnect attempt `attempt`, in milliseconds; never gives up. */
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
 * - `retryStrategy`: reconnect forever with capped backoff, so the app recovers without
 *   a restart whenever Redis comes back.
 */
export function recommendedRedisOptions(options: { readonly commandTimeoutMs?: number } = {}): RecommendedRedisOptions {
  return {
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs ?? 1_000,
    connectTimeout: 2_000,
    enableReadyCheck: true,
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 10), 2_000),
  };
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
