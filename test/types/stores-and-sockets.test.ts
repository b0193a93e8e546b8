/**
 * Type tests for @tierlimit/redis (redisStore options, the ioredis settings) and
 * @tierlimit/ws (guard options, the connection handler, what spreads into ws's server).
 * Checked by the typecheck step (tsc); each `@ts-expect-error` must stay an error.
 */
import type { IncomingMessage } from 'node:http';
import type { LeaseStore, RateLimiter, Store, Warning } from '@tierlimit/core';
import {
  type RecommendedRedisOptions,
  type RedisClient,
  type RedisStore,
  type RedisStoreOptions,
  recommendedRedisOptions,
  redisStore,
} from '@tierlimit/redis';
import {
  type ConnectionHandler,
  type ConnectionOptions,
  type GuardedConnection,
  type LeaseFaultMode,
  type MessageLimits,
  type ViolationLimits,
  type WebSocketGuard,
  type WebSocketGuardOptions,
  webSocketGuard,
} from '@tierlimit/ws';
import { expectTypeOf } from 'expect-type';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import type { RawData, ServerOptions } from 'ws';

// Only its type matters: nothing here runs a limiter.
const limiter = {} as RateLimiter;

describe('@tierlimit/redis', () => {
  test('redisStore options: a client or a url, a prefix, a test clock, a warning sink', () => {
    expectTypeOf<RedisStoreOptions>().toEqualTypeOf<{
      readonly client?: RedisClient;
      readonly url?: string;
      readonly prefix?: string;
      readonly now?: () => number;
      readonly onWarning?: (warning: { readonly code: string; readonly message: string }) => void;
    }>();
    expectTypeOf<RedisClient>().toEqualTypeOf<Redis | Cluster>();
    expectTypeOf(redisStore).returns.toEqualTypeOf<RedisStore>();
    expectTypeOf(redisStore).toBeCallableWith({ url: 'redis://127.0.0.1:6379', prefix: 'tl:1:' });
    // @ts-expect-error the prefix is a string
    expectTypeOf(redisStore).toBeCallableWith({ url: 'redis://127.0.0.1:6379', prefix: 1 });
    // @ts-expect-error the client is an ioredis Redis or Cluster, not a URL
    expectTypeOf(redisStore).toBeCallableWith({ client: 'redis://127.0.0.1:6379' });
  });

  test('the store keeps limits, leases and operator state; ready() never rejects', () => {
    expectTypeOf<RedisStore>().toExtend<Store>();
    expectTypeOf<RedisStore>().toExtend<LeaseStore>();
    expectTypeOf<RedisStore['ready']>().toEqualTypeOf<(timeoutMs?: number) => Promise<boolean>>();
    expectTypeOf<RedisStore['keyFor']>().toEqualTypeOf<(storageKey: string) => string>();
  });

  test('recommendedRedisOptions() spreads into ioredis options', () => {
    expectTypeOf(recommendedRedisOptions).returns.toEqualTypeOf<RecommendedRedisOptions>();
    expectTypeOf<RecommendedRedisOptions>().toExtend<RedisOptions>();
    expectTypeOf<RecommendedRedisOptions['enableOfflineQueue']>().toEqualTypeOf<false>();
    expectTypeOf<RecommendedRedisOptions['autoResendUnfulfilledCommands']>().toEqualTypeOf<false>();
    expectTypeOf(recommendedRedisOptions).toBeCallableWith({ commandTimeoutMs: 500 });
  });
});

describe('@tierlimit/ws', () => {
  test('guard options: only the limiter is required; limits are numbers in their documented units', () => {
    expectTypeOf<WebSocketGuardOptions>().toEqualTypeOf<{
      readonly limiter: RateLimiter;
      readonly policy?: string;
      readonly cost?: number;
      readonly clientIp?: (req: IncomingMessage) => string | undefined;
      readonly maxPayload?: number;
      readonly messages?: MessageLimits | false;
      readonly violations?: ViolationLimits | false;
      readonly maxSubscriptions?: number;
      readonly maxBufferedBytes?: number;
      readonly bufferGraceMs?: number;
      readonly bufferCeilingBytes?: number;
      readonly connections?: ConnectionOptions;
      readonly requestIdHeader?: string;
      readonly now?: () => number;
      readonly onError?: (error: unknown, conn: GuardedConnection) => void;
      readonly onWarning?: (warning: Warning) => void;
    }>();
    expectTypeOf<MessageLimits>().toEqualTypeOf<{
      readonly limit?: number;
      readonly windowMs?: number;
      readonly burst?: number;
    }>();
    expectTypeOf<LeaseFaultMode>().toEqualTypeOf<'local' | 'open' | 'closed'>();
    expectTypeOf<ConnectionOptions['onStoreFailure']>().toEqualTypeOf<LeaseFaultMode | undefined>();
    expectTypeOf(webSocketGuard).returns.toEqualTypeOf<WebSocketGuard>();
    expectTypeOf(webSocketGuard).toBeCallableWith({
      limiter,
      messages: { limit: 10, windowMs: 1_000, burst: 20 },
      violations: false,
      connections: { leaseTtlMs: 30_000, onStoreFailure: 'closed' },
    });
    // @ts-expect-error the limiter is required
    expectTypeOf(webSocketGuard).toBeCallableWith({ maxPayload: 65_536 });
    // @ts-expect-error messages is { limit, windowMs, burst } or false, not a number
    expectTypeOf(webSocketGuard).toBeCallableWith({ limiter, messages: 10 });
    // @ts-expect-error not a lease fault mode
    expectTypeOf(webSocketGuard).toBeCallableWith({ limiter, connections: { onStoreFailure: 'retry' } });
  });

  test('serverOptions spread into a ws server; the handler gets a GuardedConnection', () => {
    expectTypeOf<WebSocketGuard['serverOptions']>().toEqualTypeOf<{ readonly maxPayload: number }>();
    expectTypeOf<{ noServer: true } & WebSocketGuard['serverOptions']>().toExtend<ServerOptions>();
    expectTypeOf<ConnectionHandler>().toEqualTypeOf<(conn: GuardedConnection, req: IncomingMessage) => void>();
    expectTypeOf<GuardedConnection['subscribe']>().toEqualTypeOf<(channel: string) => boolean>();
    expectTypeOf<GuardedConnection['subscriptions']>().toEqualTypeOf<ReadonlySet<string>>();
    expectTypeOf<WebSocketGuard['close']>().returns.toEqualTypeOf<Promise<void>>();
    // Never called: the event listeners are typed per event.
    function listen(conn: GuardedConnection): void {
      conn.on('message', (data, isBinary) => {
        expectTypeOf(data).toEqualTypeOf<RawData>();
        expectTypeOf(isBinary).toEqualTypeOf<boolean>();
      });
      conn.on('close', (code) => expectTypeOf(code).toEqualTypeOf<number>());
    }
    expectTypeOf(listen).toBeFunction();
  });
});
