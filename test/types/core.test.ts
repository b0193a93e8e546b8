/**
 * Type tests for @tierlimit/core's public API: options, route options, the Decision value.
 * `npx tsc -p tsconfig.json --noEmit` (the test command's typecheck step) fails if a type
 * drifts; jest only runs the (empty at run time) assertions. Each `@ts-expect-error` is a
 * call that must not compile: if it ever does, the directive is unused and tsc fails.
 */
import {
  createRateLimiter,
  type Decision,
  type ErrorBody,
  type FaultMode,
  type Limit,
  type LimitUsage,
  type MemoryStore,
  type MemoryStoreOptions,
  memoryStore,
  type Policy,
  type PolicyLimits,
  type PolicyOutcome,
  type ProblemBody,
  type RateLimiter,
  type RateLimiterOptions,
  type RequestFacts,
  type RouteOptions,
  type StandardHeaders,
  type Store,
  type StoreFaultOptions,
  type TierMap,
  type TierResolution,
  type TierResolver,
  type Usage,
  type Warning,
} from '@tierlimit/core';
import { expectTypeOf } from 'expect-type';

test('RateLimiterOptions: every field optional, each with its documented type and unit', () => {
  expectTypeOf<RateLimiterOptions>().toEqualTypeOf<{
    readonly tiers?: TierMap;
    readonly resolveTier?: TierResolver;
    readonly resolverCacheMs?: number;
    readonly resolverNegativeCacheMs?: number;
    readonly resolverCacheSize?: number;
    readonly anonymousTier?: string;
    readonly ip?: PolicyLimits | false;
    readonly ipv6Subnet?: number;
    readonly trustedProxies?: readonly string[];
    readonly apiKeyHeader?: string;
    readonly maxApiKeyLength?: number;
    readonly requestIdHeader?: string;
    readonly headers?: { readonly legacy?: boolean; readonly standard?: StandardHeaders | false };
    readonly errorFormat?: 'json' | 'problem';
    readonly shadow?: boolean;
    readonly suspension?:
      | { readonly threshold?: number; readonly windowMs?: number; readonly durationMs?: number }
      | false;
    readonly unknownKeys?: PolicyLimits | false;
    readonly validations?: {
      readonly permissiveTrustProxy?: boolean | 'error';
      readonly hopCountTrust?: boolean;
      readonly untrustedForwardedFor?: boolean;
      readonly noClientIp?: boolean;
      readonly unparsableClientIp?: boolean;
    };
    readonly store?: Store;
    readonly storeFaults?: StoreFaultOptions;
    readonly now?: () => number;
    readonly onWarning?: (warning: Warning) => void;
  }>();
  expectTypeOf<StandardHeaders>().toEqualTypeOf<'draft-6' | 'draft-7' | 'draft-8' | 'draft-10'>();
  expectTypeOf<FaultMode>().toEqualTypeOf<'local' | 'open' | 'closed'>();
  expectTypeOf<StoreFaultOptions>().toEqualTypeOf<{
    readonly mode?: FaultMode;
    readonly timeoutMs?: number;
    readonly instances?: number;
    readonly failureThreshold?: number;
    readonly cooldownMs?: number;
  }>();
  expectTypeOf<PolicyLimits>().toEqualTypeOf<{
    readonly limit: number;
    readonly windowMs: number;
    readonly algorithm?: 'fixed-window' | 'sliding-window' | 'token-bucket';
    readonly burst?: number;
    readonly shadow?: boolean;
  }>();
});

test('the tier resolver may answer a name, an object with id and limits, or nothing, sync or async', () => {
  expectTypeOf<TierResolver>().toEqualTypeOf<(apiKey: string) => TierResolution | Promise<TierResolution>>();
  expectTypeOf<'pro'>().toExtend<TierResolution>();
  expectTypeOf<{ tier: 'enterprise'; id: 'acct_1'; limits: { api: { limit: 20_000 } } }>().toExtend<TierResolution>();
  expectTypeOf<null>().toExtend<TierResolution>();
  expectTypeOf<undefined>().toExtend<TierResolution>();
  expectTypeOf<{ id: 'acct_1' }>().not.toExtend<TierResolution>();
});

test('createRateLimiter takes the options and rejects wrong ones at compile time', () => {
  expectTypeOf(createRateLimiter).parameters.toEqualTypeOf<[options?: RateLimiterOptions]>();
  expectTypeOf(createRateLimiter).returns.toEqualTypeOf<RateLimiter>();
  expectTypeOf(createRateLimiter).toBeCallableWith({
    resolveTier: async (apiKey: string) => (apiKey.startsWith('sk_') ? { tier: 'pro', id: 'acct_1' } : null),
    tiers: { free: { api: { limit: 100, windowMs: 60_000 }, events: { limit: 500, windowMs: 60_000, burst: 50 } } },
    ip: false,
    storeFaults: { mode: 'closed', timeoutMs: 50 },
    headers: { legacy: false, standard: 'draft-8' },
    suspension: { threshold: 20 },
  });
  // @ts-expect-error a duration is a number of milliseconds, not a string
  expectTypeOf(createRateLimiter).toBeCallableWith({ resolverCacheMs: '30s' });
  // @ts-expect-error a misspelt option is an error, not a silently kept default
  expectTypeOf(createRateLimiter).toBeCallableWith({ resolverCache: 30_000 });
  // @ts-expect-error not a fault mode
  expectTypeOf(createRateLimiter).toBeCallableWith({ storeFaults: { mode: 'sometimes' } });
  // @ts-expect-error not a standard-headers draft
  expectTypeOf(createRateLimiter).toBeCallableWith({ headers: { standard: 'draft-9' } });
  // @ts-expect-error a policy needs both limit and windowMs
  expectTypeOf(createRateLimiter).toBeCallableWith({ ip: { limit: 100 } });
  // @ts-expect-error under exactOptionalPropertyTypes, an absent option is omitted, not undefined
  expectTypeOf(createRateLimiter).toBeCallableWith({ anonymousTier: undefined });
});

test('route options: policy name, cost as a number or a function of the framework request, skip', () => {
  interface FrameworkRequest {
    readonly body: unknown;
  }
  expectTypeOf<RouteOptions<FrameworkRequest>>().toEqualTypeOf<{
    readonly policy?: string | false;
    readonly cost?: number | ((request: FrameworkRequest) => number | Promise<number>);
    readonly skip?: (request: FrameworkRequest) => boolean;
  }>();
  expectTypeOf<{ cost: (request: FrameworkRequest) => Promise<number> }>().toExtend<RouteOptions<FrameworkRequest>>();
  expectTypeOf<{ cost: '10' }>().not.toExtend<RouteOptions<FrameworkRequest>>();
  expectTypeOf<{ skip: (request: FrameworkRequest) => 'yes' }>().not.toExtend<RouteOptions<FrameworkRequest>>();
});

test('check() and handler() answer with a Decision, synchronously when nothing needs to wait', () => {
  expectTypeOf<RateLimiter['check']>().parameter(0).toEqualTypeOf<RequestFacts>();
  expectTypeOf<RateLimiter['check']>().returns.toEqualTypeOf<Decision | Promise<Decision>>();
  expectTypeOf<RequestFacts>().toEqualTypeOf<{
    readonly ip: string | undefined;
    readonly peer?: string | undefined;
    readonly headers: RequestFacts['headers'];
    readonly trustProxy?: 'none' | 'some' | 'hops' | 'all' | undefined;
    readonly prior?: Decision | undefined;
  }>();
  expectTypeOf<RateLimiter['close']>().returns.toEqualTypeOf<Promise<void>>();
});

test('Decision: what to put on the wire, never thrown', () => {
  expectTypeOf<Decision['allowed']>().toEqualTypeOf<boolean>();
  expectTypeOf<Decision['status']>().toEqualTypeOf<number>();
  expectTypeOf<Decision['code']>().toEqualTypeOf<string | undefined>();
  expectTypeOf<Decision['tier']>().toEqualTypeOf<string | undefined>();
  expectTypeOf<Decision['identity']>().toEqualTypeOf<string | undefined>();
  expectTypeOf<Decision['limit']>().toEqualTypeOf<number>();
  expectTypeOf<Decision['remaining']>().toEqualTypeOf<number>();
  expectTypeOf<Decision['resetAt']>().toEqualTypeOf<number>();
  expectTypeOf<Decision['retryAfterMs']>().toEqualTypeOf<number>();
  expectTypeOf<Decision['headers']>().toEqualTypeOf<Readonly<Record<string, string>>>();
  expectTypeOf<Decision['body']>().toEqualTypeOf<ErrorBody | ProblemBody | undefined>();
  expectTypeOf<Decision['policy']>().toEqualTypeOf<PolicyOutcome | undefined>();
  expectTypeOf<Decision['policies']>().toEqualTypeOf<readonly PolicyOutcome[]>();
  expectTypeOf<Decision['skipped']>().toEqualTypeOf<boolean>();
  expectTypeOf<Decision['degraded']>().toEqualTypeOf<'local' | 'open' | undefined>();
  expectTypeOf<ErrorBody['error']>().toMatchObjectType<{
    readonly code: string;
    readonly message: string;
    readonly requestId: string;
    readonly timestamp: string;
  }>();
  expectTypeOf<PolicyOutcome['algorithm']>().toEqualTypeOf<
    'fixed-window' | 'sliding-window' | 'token-bucket' | 'calendar' | 'concurrency'
  >();
  expectTypeOf<Decision['inFlight']>().toEqualTypeOf<boolean>();
  expectTypeOf<Decision['release']>().toEqualTypeOf<() => void>();
  expectTypeOf<PolicyOutcome['name']>().toEqualTypeOf<string>();
  expectTypeOf<PolicyOutcome['per']>().toEqualTypeOf<'hour' | 'day' | 'month' | undefined>();
  // A Decision is read, not written.
  expectTypeOf<{ allowed: boolean }>().not.toEqualTypeOf<Pick<Decision, 'allowed'>>();
});

test('a policy is one limit or an array: windows, calendar quotas, concurrency (issue 14)', () => {
  expectTypeOf<Policy>().toEqualTypeOf<Limit | readonly Limit[]>();
  expectTypeOf(createRateLimiter).toBeCallableWith({
    resolveTier: () => 'free',
    tiers: {
      free: {
        api: [
          { limit: 10, windowMs: 1_000 },
          { limit: 100, windowMs: 60_000, algorithm: 'sliding-window' },
          { limit: 10_000, per: 'month' },
          { limit: 500, per: 'day', timeZone: 'America/New_York' },
          { concurrency: 5 },
        ],
        events: { limit: 500, windowMs: 60_000, burst: 50 },
      },
    },
  });
  // @ts-expect-error calendar periods are hour, day or month
  expectTypeOf(createRateLimiter).toBeCallableWith({ tiers: { free: { api: { limit: 1, per: 'week' } } } });
  // @ts-expect-error not an algorithm
  expectTypeOf(createRateLimiter).toBeCallableWith({ ip: { limit: 1, windowMs: 1_000, algorithm: 'leaky' } });
  // @ts-expect-error the per-IP limit is one window limit, not a calendar quota
  expectTypeOf(createRateLimiter).toBeCallableWith({ ip: { limit: 1, per: 'day' } });
  expectTypeOf<RateLimiter['usage']>().returns.toEqualTypeOf<Promise<Usage | null>>();
  expectTypeOf<Usage['policies']>().toEqualTypeOf<Readonly<Record<string, readonly LimitUsage[]>>>();
  expectTypeOf<LimitUsage['resetAt']>().toEqualTypeOf<number>();
});

test('memoryStore options and result', () => {
  expectTypeOf<MemoryStoreOptions>().toEqualTypeOf<{
    readonly maxKeys?: number;
    readonly now?: () => number;
    readonly sweepIntervalMs?: number;
    readonly whenFull?: 'evict' | 'refuse';
    readonly onFull?: (message: string) => void;
  }>();
  expectTypeOf(memoryStore).returns.toEqualTypeOf<MemoryStore>();
  expectTypeOf<MemoryStore>().toExtend<Store>();
  // @ts-expect-error maxKeys is a count
  expectTypeOf(memoryStore).toBeCallableWith({ maxKeys: '1e6' });
});
