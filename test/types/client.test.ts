/**
 * Type tests for @tierlimit/client's main functions: createClient and its methods,
 * withRetry's inference, parseRateLimit, the queue, pacer and token bucket. Checked by the
 * typecheck step (tsc); each `@ts-expect-error` must stay an error.
 */
import {
  type AttemptContext,
  type Budget,
  type BulkImportReport,
  type ClientOptions,
  createClient,
  createPacer,
  createQueue,
  createRateLimitedFetch,
  createTokenBucket,
  localBudget,
  type Pacer,
  parseRateLimit,
  type Queue,
  type RateLimitedFetch,
  type RateLimitInfo,
  type RetryOptions,
  type TierlimitClient,
  type TokenBucket,
  type TrackBatchResult,
  type TrackEvent,
  type TrackResult,
  withRetry,
} from '@tierlimit/client';
import { type RedisBudget, redisBudget } from '@tierlimit/client/redis';
import { expectTypeOf } from 'expect-type';
import type { Redis } from 'ioredis';

test('createClient: baseUrl and apiKey are required, the rest optional with numeric units', () => {
  expectTypeOf(createClient<TrackEvent>).parameters.toEqualTypeOf<[options: ClientOptions]>();
  expectTypeOf(createClient<TrackEvent>).returns.toEqualTypeOf<TierlimitClient>();
  expectTypeOf<ClientOptions['baseUrl']>().toEqualTypeOf<string>();
  expectTypeOf<ClientOptions['apiKey']>().toEqualTypeOf<string>();
  expectTypeOf<ClientOptions['retries']>().toEqualTypeOf<number | undefined>();
  expectTypeOf<ClientOptions['attemptTimeoutMs']>().toEqualTypeOf<number | undefined>();
  expectTypeOf(createClient).toBeCallableWith({
    baseUrl: 'http://127.0.0.1:3000',
    apiKey: 'demo-free',
    rateLimit: { rate: 500, perMs: 60_000, burst: 50 },
    retries: 3,
  });
  // @ts-expect-error the API key is required
  expectTypeOf(createClient).toBeCallableWith({ baseUrl: 'http://127.0.0.1:3000' });
  // @ts-expect-error retries is a number of attempts
  expectTypeOf(createClient).toBeCallableWith({ baseUrl: 'http://x', apiKey: 'k', retries: 'many' });
  // @ts-expect-error a client-side rate needs its `rate`
  expectTypeOf(createClient).toBeCallableWith({ baseUrl: 'http://x', apiKey: 'k', rateLimit: { burst: 50 } });
});

test('createClient takes events of another shape, with their endpoints and batch body', () => {
  interface Signal {
    readonly type: string;
    readonly at: number;
  }
  const client = createClient<Signal>({
    baseUrl: 'http://127.0.0.1:3000',
    apiKey: 'k',
    endpoints: { track: '/v2/signals', batch: '/v2/signals/bulk' },
    batchBody: (signals) => ({ signals, count: signals.length }),
    validateEvent: (event) => (typeof event.type === 'string' ? undefined : 'a signal needs a type'),
  });
  expectTypeOf(client.track).parameter(0).toEqualTypeOf<Signal>();
  // @ts-expect-error a Signal has no name, and a name is no Signal
  expectTypeOf(client.track).toBeCallableWith({ name: 'signup' });
  // @ts-expect-error an endpoint is a path
  expectTypeOf(createClient).toBeCallableWith({ baseUrl: 'http://x', apiKey: 'k', endpoints: { track: 1 } });
});

test('the client methods resolve with their reports', () => {
  expectTypeOf<TierlimitClient['track']>().parameter(0).toEqualTypeOf<TrackEvent>();
  expectTypeOf<TierlimitClient['track']>().returns.toEqualTypeOf<Promise<TrackResult>>();
  expectTypeOf<TrackResult>().toEqualTypeOf<{ readonly id: string; readonly duplicate: boolean }>();
  expectTypeOf<TierlimitClient['trackBatch']>().returns.toEqualTypeOf<Promise<TrackBatchResult>>();
  expectTypeOf<TierlimitClient['bulkImport']>().returns.toEqualTypeOf<Promise<BulkImportReport>>();
  expectTypeOf<TierlimitClient['rateLimit']>().toEqualTypeOf<RateLimitInfo | undefined>();
  expectTypeOf<{ name: 'signup'; plan: 'pro' }>().toExtend<TrackEvent>();
  // An event needs a name.
  expectTypeOf<{ plan: 'pro' }>().not.toExtend<TrackEvent>();
});

test('withRetry infers what the attempt returns; options are numbers of ms and attempts', () => {
  // Never called: the types of the calls are what is tested.
  const fetched = () => withRetry(({ signal }) => fetch('https://api.example.com', { signal }));
  const parsed = () => withRetry(async (context: AttemptContext) => ({ attempt: context.attempt }));
  expectTypeOf(fetched).returns.toEqualTypeOf<Promise<Response>>();
  expectTypeOf(parsed).returns.toEqualTypeOf<Promise<{ attempt: number }>>();
  expectTypeOf<AttemptContext>().toEqualTypeOf<{ readonly attempt: number; readonly signal: AbortSignal }>();
  expectTypeOf<RetryOptions['maxRetryAfterMs']>().toEqualTypeOf<number | undefined>();
  // @ts-expect-error baseDelayMs is in milliseconds
  expectTypeOf(withRetry).toBeCallableWith(() => 1, { baseDelayMs: '1s' });
});

test('parseRateLimit reads any headers object and may find nothing', () => {
  expectTypeOf(parseRateLimit).returns.toEqualTypeOf<RateLimitInfo | undefined>();
  expectTypeOf(parseRateLimit).toBeCallableWith(new Headers());
  expectTypeOf(parseRateLimit).toBeCallableWith({ 'x-ratelimit-limit': '100' });
  expectTypeOf<RateLimitInfo['limit']>().toEqualTypeOf<number | undefined>();
  expectTypeOf<RateLimitInfo['remaining']>().toEqualTypeOf<number>();
  expectTypeOf<RateLimitInfo['resetAt']>().toEqualTypeOf<number>();
  expectTypeOf<RateLimitInfo['source']>().toEqualTypeOf<'x-ratelimit' | 'draft-6' | 'draft-7' | 'draft-8'>();
});

test('queue, pacer and token bucket factories', () => {
  expectTypeOf(createQueue).returns.toEqualTypeOf<Queue>();
  expectTypeOf(createPacer).returns.toEqualTypeOf<Pacer>();
  expectTypeOf(createTokenBucket).returns.toEqualTypeOf<TokenBucket>();
  expectTypeOf(createQueue).toBeCallableWith({ concurrency: 4, intervalCap: 100, intervalMs: 1_000 });
  // @ts-expect-error a token bucket needs its rate
  expectTypeOf(createTokenBucket).toBeCallableWith({ burst: 10 });
});

test('createRateLimitedFetch has the signature of fetch, plus a weight per request', () => {
  const limitedFetch = createRateLimitedFetch({ budget: { rate: 100, perMs: 1_000, burst: 100 } });
  expectTypeOf(limitedFetch).toEqualTypeOf<RateLimitedFetch>();
  expectTypeOf(limitedFetch).toExtend<typeof fetch>();
  expectTypeOf(limitedFetch).returns.toEqualTypeOf<Promise<Response>>();
  expectTypeOf(limitedFetch).toBeCallableWith('https://api.example.com', { method: 'PUT', body: '{}', weight: 5 });
  // @ts-expect-error a weight is a number of units
  expectTypeOf(limitedFetch).toBeCallableWith('https://api.example.com', { weight: 'heavy' });
  // @ts-expect-error the retry count is `maxRetries`
  expectTypeOf(createRateLimitedFetch).toBeCallableWith({ retry: { retries: 3 } });
  expectTypeOf(localBudget({ rate: 10 })).toExtend<Budget>();
});

test('redisBudget takes an ioredis client and is a Budget', () => {
  expectTypeOf(redisBudget).returns.toEqualTypeOf<RedisBudget>();
  expectTypeOf<RedisBudget>().toExtend<Budget>();
  expectTypeOf(redisBudget).toBeCallableWith({ client: {} as Redis, key: 'customerio:track:ws-1', rate: 100 });
  // @ts-expect-error the budget needs its key
  expectTypeOf(redisBudget).toBeCallableWith({ client: {} as Redis, rate: 100 });
});
