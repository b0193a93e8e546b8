/**
 * Public options of `createClient`, and the resolved form produced once, at
 * construction, by `resolveClientOptions`. A bad value throws a ClientConfigError there,
 * never later in the middle of an import.
 */
import { ClientConfigError } from './errors.js';
import { defaultEventValidator, type EventValidator } from './event.js';
import { randomId } from './event-id.js';
import type { Sleep } from './sleep.js';
import type { TokenBucketOptions } from './token-bucket.js';
import {
  fractionBelowOne,
  invalid,
  optionalFunction,
  plainOptions,
  positiveInteger,
  rejectUnknownKeys,
} from './validate.js';
import { type ResolvedRetryOptions, type RetryInfo, resolveRetryOptions } from './with-retry.js';

/** Options of {@link createClient}. Only `baseUrl` and `apiKey` are required. */
export interface ClientOptions {
  /** The API's origin and optional path prefix, for example `https://api.example.com`. Required. */
  readonly baseUrl: string;
  /**
   * The API key, sent as `X-API-Key`. Required. It is never logged nor put in an error
   * message by the client.
   */
  readonly apiKey: string;
  /** The fetch implementation. Default: `globalThis.fetch` (Node 20+, browsers). */
  readonly fetch?: typeof fetch;
  /** Extra request headers sent with every request (a `User-Agent`, tracing headers). Default: none. */
  readonly headers?: Readonly<Record<string, string>>;

  /** Retries after the first attempt of each request. Default `5`. */
  readonly retries?: number;
  /** Backoff base, in ms: the first retry waits up to this long, each later one up to twice as long. Default `1_000`. */
  readonly baseDelayMs?: number;
  /** Backoff cap, in ms. Default `60_000`. */
  readonly maxDelayMs?: number;
  /** Longest `Retry-After` honoured, in ms; a longer one fails the request with `RETRY_AFTER_TOO_LONG`. Default `120_000`. */
  readonly maxRetryAfterMs?: number;
  /** Random extra wait on top of a `Retry-After`, up to this many ms. Default `500`. */
  readonly retryAfterJitterMs?: number;
  /**
   * Time limit for one HTTP attempt (time spent waiting for a pacing permit is not
   * counted), in ms; a timed-out attempt is retried with the same event ids. `0` means no
   * limit. Default `30_000`.
   */
  readonly attemptTimeoutMs?: number;
  /** Called before each retry wait (see `RetryInfo`), for logs and metrics. Default: none. */
  readonly onRetry?: (info: RetryInfo) => void;

  /**
   * Client-side token bucket for the events endpoints, in events: set it to your plan
   * (`{ rate: 10_000, perMs: 60_000, burst: 1_000 }` for pro) and the client never sends
   * faster than the server refills. Default: none (pacing from the server's headers only).
   */
  readonly rateLimit?: Pick<TokenBucketOptions, 'rate' | 'perMs' | 'burst'>;
  /** Pace by the server's reported remaining quota and reset time. Default `true`. */
  readonly adaptivePacing?: boolean;
  /** Fraction of the limit below which the remaining quota is spread over the time to reset. Default `0.1`. */
  readonly lowWatermark?: number;

  /**
   * Most events per batch request. The client also learns the server's burst capacity
   * (from `X-RateLimit-Limit` on the events endpoints, and from a 413's
   * `details.limit`) and never sends more than that. Default `1_000`.
   */
  readonly maxBatchSize?: number;
  /** Batch requests in flight at once in `trackBatch` and `bulkImport`. Default `4`. */
  readonly concurrency?: number;
  /**
   * Checks each event before it is sent; return a message to reject it without a request
   * (it then fails with code `INVALID_EVENT`). Default: the events API's rule, a `name`
   * of 1 to 200 characters.
   */
  readonly validateEvent?: EventValidator;
  /** Makes ids for events that have none. Default: `crypto.randomUUID()` (random hex where unavailable). */
  readonly generateId?: () => string;

  /** Clock in ms since the epoch; inject for tests. Default `Date.now`. */
  readonly now?: () => number;
  /** Random source in [0, 1) for jitter; inject for tests. Default `Math.random`. */
  readonly random?: () => number;
  /** How to wait; inject for tests. Default: an abortable `setTimeout`. */
  readonly sleep?: Sleep;
}

export interface ResolvedClientOptions {
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly fetch: typeof fetch;
  readonly headers: Readonly<Record<string, string>>;
  /** Retry options without a signal; each call adds its own. `attemptTimeoutMs` is applied by the client. */
  readonly retry: ResolvedRetryOptions;
  readonly rateLimit: Pick<TokenBucketOptions, 'rate' | 'perMs' | 'burst'> | undefined;
  readonly adaptivePacing: boolean;
  readonly lowWatermark: number;
  readonly maxBatchSize: number;
  readonly concurrency: number;
  readonly validateEvent: EventValidator;
  readonly generateId: () => string;
}

const OPTION_NAMES = [
  'baseUrl',
  'apiKey',
  'fetch',
  'headers',
  'retries',
  'baseDelayMs',
  'maxDelayMs',
  'maxRetryAfterMs',
  'retryAfterJitterMs',
  'attemptTimeoutMs',
  'onRetry',
  'rateLimit',
  'adaptivePacing',
  'lowWatermark',
  'maxBatchSize',
  'concurrency',
  'validateEvent',
  'generateId',
  'now',
  'random',
  'sleep',
] as const;

export function resolveClientOptions(options: ClientOptions): ResolvedClientOptions {
  plainOptions(options, 'options');
  if (options === undefined) invalid('options', 'an options object with `baseUrl` and `apiKey`', options);
  rejectUnknownKeys(options, OPTION_NAMES, 'client');

  const retry = resolveRetryOptions(
    withoutUndefined({
      retries: options.retries,
      baseDelayMs: options.baseDelayMs,
      maxDelayMs: options.maxDelayMs,
      maxRetryAfterMs: options.maxRetryAfterMs,
      retryAfterJitterMs: options.retryAfterJitterMs,
      attemptTimeoutMs: options.attemptTimeoutMs ?? 30_000,
      onRetry: options.onRetry,
      now: options.now,
      random: options.random,
      sleep: options.sleep,
    }),
  );

  const fetchImpl = optionalFunction<typeof fetch>(options.fetch, 'fetch') ?? globalFetch();
  const headers = options.headers ?? {};
  plainOptions(headers, 'headers');
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value !== 'string') invalid(`headers.${name}`, 'a string', value);
  }
  if (options.rateLimit !== undefined) {
    plainOptions(options.rateLimit, 'rateLimit');
    rejectUnknownKeys(options.rateLimit, ['rate', 'perMs', 'burst'], 'rateLimit');
  }
  if (options.adaptivePacing !== undefined && typeof options.adaptivePacing !== 'boolean') {
    invalid('adaptivePacing', 'a boolean', options.adaptivePacing);
  }

  return {
    baseUrl: baseUrlOf(options.baseUrl),
    apiKey: apiKeyOf(options.apiKey),
    fetch: fetchImpl,
    headers,
    retry,
    rateLimit: options.rateLimit,
    adaptivePacing: options.adaptivePacing ?? true,
    lowWatermark: fractionBelowOne(options.lowWatermark ?? 0.1, 'lowWatermark'),
    maxBatchSize: positiveInteger(options.maxBatchSize ?? 1_000, 'maxBatchSize'),
    concurrency: positiveInteger(options.concurrency ?? 4, 'concurrency'),
    validateEvent: optionalFunction<EventValidator>(options.validateEvent, 'validateEvent') ?? defaultEventValidator,
    generateId: optionalFunction<() => string>(options.generateId, 'generateId') ?? randomId,
  };
}

function globalFetch(): typeof fetch {
  const candidate = (globalThis as { fetch?: typeof fetch }).fetch;
  if (typeof candidate !== 'function') {
    invalid('fetch', 'a fetch function (this runtime has no global fetch)', undefined);
  }
  // Some browsers throw "Illegal invocation" when fetch is called detached from globalThis.
  return candidate.bind(globalThis);
}

/** An absolute http(s) URL without a trailing slash, so paths can be appended. */
function baseUrlOf(value: unknown): string {
  if (typeof value !== 'string') invalid('baseUrl', 'an absolute http(s) URL', value);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return invalid('baseUrl', 'an absolute http(s) URL', value);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') invalid('baseUrl', 'an absolute http(s) URL', value);
  if (url.search !== '' || url.hash !== '') invalid('baseUrl', 'a URL without a query or fragment', value);
  return url.href.replace(/\/+$/, '');
}

function apiKeyOf(value: unknown): string {
  // The value itself is never echoed: it is a secret.
  if (typeof value !== 'string' || value.length === 0) {
    throw new ClientConfigError(
      `Expected \`apiKey\` to be a non-empty string, got ${typeof value === 'string' ? 'an empty string' : typeof value}.`,
    );
  }
  if (/[\r\n\0]/.test(value)) {
    throw new ClientConfigError('Expected `apiKey` to be a single-line string; it contains a line break or NUL.');
  }
  return value;
}

/** Drops keys whose value is `undefined`, so defaults apply (exactOptionalPropertyTypes forbids passing them). */
function withoutUndefined<T extends Record<string, unknown>>(record: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) if (value !== undefined) result[key] = value;
  return result as { [K in keyof T]?: Exclude<T[K], undefined> };
}
