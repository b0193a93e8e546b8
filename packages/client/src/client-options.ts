/**
 * Public options of `createClient`, and the resolved form produced once, at
 * construction, by `resolveClientOptions`. A bad value throws a ClientConfigError there,
 * never later in the middle of an import.
 */
import { ClientConfigError } from './errors.js';
import { defaultEventValidator, type EventValidator, type TrackEvent } from './event.js';
import { randomId } from './event-id.js';
import type { Sleep } from './sleep.js';
import type { TokenBucketOptions } from './token-bucket.js';
import {
  fractionBelowOne,
  globalFetch,
  invalid,
  optionalFunction,
  plainOptions,
  positiveInteger,
  rejectUnknownKeys,
  withoutUndefined,
} from './validate.js';
import { type ResolvedRetryOptions, type RetryInfo, resolveRetryOptions } from './with-retry.js';

/** The paths of a tierlimit-style events API, each appended to `baseUrl`. */
export interface ClientEndpoints {
  /** Takes one event as the JSON body (`track`). Default `'/api/v1/events'`. */
  readonly track?: string;
  /** Takes many events in one JSON body (`trackBatch`, `bulkImport`; see `batchBody`). Default `'/api/v1/events/batch'`. */
  readonly batch?: string;
  /** Answers `GET` with `{ received, duplicates }` (`stats`). Default `'/api/v1/events/stats'`. */
  readonly stats?: string;
}

/**
 * Options of {@link createClient}. Only `baseUrl` and `apiKey` are required. `E` is the
 * shape of your events (default: tierlimit's, a `name` and any other properties).
 */
export interface ClientOptions<E extends object = TrackEvent> {
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
  /** Where the events API lives under `baseUrl` (see `ClientEndpoints`). Default: tierlimit's paths. */
  readonly endpoints?: ClientEndpoints;
  /**
   * The JSON body of a batch request, from its events (each with its `id`). Default:
   * `(events) => ({ events })`, what tierlimit's demo servers take.
   */
  readonly batchBody?: (events: ReadonlyArray<E & { readonly id: string }>) => unknown;

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
   * (it then fails with code `INVALID_EVENT`). Default: tierlimit's rule, a `name` of 1
   * to 200 characters; give your own when your events have another shape.
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
  readonly endpoints: Required<ClientEndpoints>;
  readonly batchBody: (events: readonly object[]) => unknown;
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
  'endpoints',
  'batchBody',
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

const DEFAULT_ENDPOINTS: Required<ClientEndpoints> = {
  track: '/api/v1/events',
  batch: '/api/v1/events/batch',
  stats: '/api/v1/events/stats',
};

export function resolveClientOptions<E extends object>(options: ClientOptions<E>): ResolvedClientOptions {
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
    endpoints: endpointsOf(options.endpoints),
    batchBody:
      optionalFunction<(events: readonly object[]) => unknown>(options.batchBody, 'batchBody') ??
      ((events) => ({ events })),
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

function endpointsOf(value: ClientEndpoints | undefined): Required<ClientEndpoints> {
  if (value === undefined) return DEFAULT_ENDPOINTS;
  plainOptions(value, 'endpoints');
  rejectUnknownKeys(value, Object.keys(DEFAULT_ENDPOINTS), 'endpoints');
  const endpoints = { ...DEFAULT_ENDPOINTS, ...withoutUndefined({ ...value }) };
  for (const [name, path] of Object.entries(endpoints)) {
    if (typeof path !== 'string' || !path.startsWith('/') || /[?#]/.test(path)) {
      invalid(`endpoints.${name}`, 'a path starting with `/`, without a query or fragment', path);
    }
  }
  return endpoints;
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
