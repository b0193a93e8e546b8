/**
 * `createClient`: a client for a tierlimit-style events API (by default `POST
 * /api/v1/events`, `POST /api/v1/events/batch`, `GET /api/v1/events/stats`; see
 * `endpoints` and the README's "What createClient expects of the server") that paces
 * itself, retries what can be retried with the same event ids, splits batches to the
 * server's burst capacity, and never loses an event without saying so. For any other
 * HTTP API, `createRateLimitedFetch`.
 */
import { apiErrorFrom, countField, readJson } from './api-response.js';
import {
  type BulkImportOptions,
  type BulkImportReport,
  type BulkImportSource,
  type DeliverySink,
  type FailedItem,
  runBulkImport,
} from './bulk-import.js';
import { type ClientOptions, resolveClientOptions } from './client-options.js';
import { ApiError, EventValidationError, RetryAfterTooLongError, TierlimitClientError } from './errors.js';
import { type IdentifiedEvent, prepareEvent, type TrackEvent } from './event.js';
import { createPacer } from './pacer.js';
import { parseRateLimit, type RateLimitInfo } from './rate-limit-headers.js';
import { withTimeout } from './timeout.js';
import { type RetryInfo, retryLoop } from './with-retry.js';

/** Per-call options. */
export interface CallOptions {
  /** Cancels the call: a wait or request in progress rejects with `signal.reason`. */
  readonly signal?: AbortSignal;
}

/** What `track` resolves with. */
export interface TrackResult {
  /** The event's id (yours, or the one the client assigned). */
  readonly id: string;
  /** True when the server already had an event with this id and stored nothing new. */
  readonly duplicate: boolean;
}

/** What `trackBatch` resolves with when every event was acknowledged. */
export interface TrackBatchResult {
  /** Events the server acknowledged (all of them). */
  readonly sent: number;
  /** Of those, events the server already had (same id). */
  readonly duplicates: number;
  /** Every event's id, in input order. */
  readonly ids: string[];
}

/** What `GET /api/v1/events/stats` reports for the client's API key. */
export interface EventStats {
  /** Distinct events stored. */
  readonly received: number;
  /** Events dropped because their id was already stored. */
  readonly duplicates: number;
}

/** `trackBatch` could not deliver every event. The acknowledged ones are stored; `failed` lists the rest. */
export class TrackBatchError extends TierlimitClientError {
  /** Events acknowledged by the server. */
  readonly sent: number;
  /** Of `sent`, events the server already had. */
  readonly duplicates: number;
  /** Every event not acknowledged, with its error. */
  readonly failed: FailedItem[];

  constructor(report: BulkImportReport) {
    const first = report.failed[0]?.error;
    const why = first instanceof Error ? ` First error: ${first.message}` : '';
    super('TRACK_BATCH_FAILED', `${report.failed.length} of ${report.pulled} events were not delivered.${why}`, {
      cause: first,
    });
    this.sent = report.sent;
    this.duplicates = report.duplicates;
    this.failed = report.failed;
  }
}

/** A client for an events API; see {@link createClient}. `E` is the shape of the events. */
export interface TierlimitClient<E extends object = TrackEvent> {
  /**
   * Sends one event. Resolves once the server acknowledged it; rejects with an ApiError
   * (`INVALID_EVENT`, or the last status when retries ran out), an EventValidationError,
   * a RetryAfterTooLongError, a network error, or `signal.reason`.
   */
  track(event: E, options?: CallOptions): Promise<TrackResult>;
  /**
   * Sends many events in as few requests as the server's burst capacity allows. Resolves
   * when all were acknowledged; otherwise rejects with a TrackBatchError listing the
   * events that were not (the others are stored).
   */
  trackBatch(events: readonly E[], options?: CallOptions): Promise<TrackBatchResult>;
  /**
   * Imports a large or endless source of events, with bounded memory, and resolves with a
   * report in which every pulled item is either counted as sent or listed in `failed`.
   * Rejects only for a bad option or when the source itself throws (`BulkImportError`,
   * which still carries the report).
   */
  bulkImport(source: BulkImportSource, options?: BulkImportOptions): Promise<BulkImportReport>;
  /** Reads the server's event counters for this API key. */
  stats(options?: CallOptions): Promise<EventStats>;
  /** The most events one batch request may carry now: `maxBatchSize`, lowered to what the server accepts once learned. */
  readonly batchCapacity: number;
  /** The events endpoints' rate-limit state as last reported, or `undefined`. */
  readonly rateLimit: RateLimitInfo | undefined;
}

/**
 * Errors after which every later request with this client would fail the same way: stop
 * an import instead of sending the rest of it to the same wall.
 */
function isFatal(error: unknown): boolean {
  if (error instanceof RetryAfterTooLongError) return true;
  return error instanceof ApiError && (error.status === 401 || error.status === 403 || error.status === 404);
}

function halves<T>(items: T[]): [T[], T[]] {
  const middle = Math.ceil(items.length / 2);
  return [items.slice(0, middle), items.slice(middle)];
}

/**
 * Creates a client for the events API.
 *
 * @example
 * const client = createClient({ baseUrl: 'https://api.example.com', apiKey: process.env.API_KEY });
 * await client.track({ name: 'signup', plan: 'pro' });
 */
export function createClient<E extends object = TrackEvent>(options: ClientOptions<E>): TierlimitClient<E> {
  const resolved = resolveClientOptions(options);
  const { retry, baseUrl, endpoints } = resolved;
  const { now, sleep } = retry;
  const pacer = createPacer({
    adaptive: resolved.adaptivePacing,
    lowWatermark: resolved.lowWatermark,
    now,
    sleep,
    ...(resolved.rateLimit === undefined ? {} : { bucket: { ...resolved.rateLimit } }),
  });
  const headers: Record<string, string> = {
    accept: 'application/json',
    ...resolved.headers,
    'x-api-key': resolved.apiKey,
  };
  /** Burst capacity from the last events response's limit, and a hard ceiling from 413 details. */
  let learnedCapacity = Number.POSITIVE_INFINITY;
  let capacityCeiling = Number.POSITIVE_INFINITY;
  const batchCapacity = () => Math.max(1, Math.min(resolved.maxBatchSize, learnedCapacity, capacityCeiling));

  /** One HTTP call with retries; the pacer is consulted before each attempt, outside its time limit. */
  const call = (
    method: 'GET' | 'POST',
    path: string,
    body: string | undefined,
    cost: number | undefined,
    signal: AbortSignal | undefined,
    sink: Pick<DeliverySink, 'retried' | 'rateLimited'> | undefined,
  ): Promise<Response> =>
    retryLoop(
      async ({ signal: attemptSignal }) => {
        const permit = cost === undefined ? undefined : await pacer.acquire(cost, attemptSignal);
        try {
          const response = await withTimeout(
            (timed) =>
              resolved.fetch(`${baseUrl}${path}`, {
                method,
                headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
                ...(body === undefined ? {} : { body }),
                signal: timed,
              }),
            retry.attemptTimeoutMs,
            attemptSignal,
            sleep,
          );
          if (response.status === 429) sink?.rateLimited();
          if (permit !== undefined) {
            const info = parseRateLimit(response.headers, { now: now() });
            permit.observe(info);
            // The events endpoints report their bucket's capacity (the burst) as the limit: a batch above it can never pass.
            if (info?.limit !== undefined && info.limit > 0 && (response.ok || response.status === 429)) {
              learnedCapacity = info.limit;
            }
          }
          return response;
        } finally {
          permit?.release();
        }
      },
      {
        ...retry,
        attemptTimeoutMs: 0, // applied above, around the fetch only, so pacing waits do not time out
        signal,
        onRetry: (info: RetryInfo) => {
          // The server said "slow down": hold every request of this client, not just this one.
          if (cost !== undefined && (info.status === 429 || info.status === 503))
            pacer.pauseUntil(now() + info.delayMs);
          sink?.retried(info);
          retry.onRetry?.(info);
        },
      },
    );

  /** Sends events in batches of at most the capacity; every event ends in `sink.sent` or `sink.failed`. */
  const deliver = async (events: IdentifiedEvent[], signal: AbortSignal, sink: DeliverySink): Promise<void> => {
    if (events.length === 0) return;
    if (signal.aborted) {
      sink.failed(events, signal.reason);
      return;
    }
    const capacity = batchCapacity();
    if (events.length > capacity) {
      for (let i = 0; i < events.length; i += capacity) await deliver(events.slice(i, i + capacity), signal, sink);
      return;
    }
    let body: string;
    try {
      body = JSON.stringify(resolved.batchBody(events));
    } catch (error) {
      // One unserialisable event (a BigInt, a cycle) must not sink its neighbours: isolate it.
      if (events.length > 1) {
        for (const half of halves(events)) await deliver(half, signal, sink);
      } else {
        sink.failed(events, new EventValidationError('The event cannot be serialised as JSON.', { cause: error }));
      }
      return;
    }

    let response: Response;
    try {
      response = await call('POST', endpoints.batch, body, events.length, signal, sink);
    } catch (error) {
      sink.failed(events, error);
      if (isFatal(error)) sink.fatal(error);
      return;
    }
    if (response.ok) {
      const result = await readJson(response);
      sink.sent(events, Math.min(events.length, countField(result, 'duplicates') ?? 0));
      return;
    }

    const error = await apiErrorFrom(response);
    if (response.status === 413 && events.length > 1) {
      // BATCH_TOO_LARGE names the real limit: remember it so later batches are cut to size before sending.
      const limit = error.details?.limit;
      if (typeof limit === 'number' && Number.isSafeInteger(limit) && limit >= 1) {
        capacityCeiling = Math.min(capacityCeiling, limit);
      }
      for (const half of halves(events)) await deliver(half, signal, sink);
      return;
    }
    if ((response.status === 400 || response.status === 422) && events.length > 1) {
      // The server rejects a whole batch for one bad event; bisect to fail only the bad ones.
      for (const half of halves(events)) await deliver(half, signal, sink);
      return;
    }
    sink.failed(events, error);
    if (isFatal(error)) sink.fatal(error);
  };

  const prepare = (item: unknown) => prepareEvent(item, resolved.validateEvent, resolved.generateId);

  const bulkImport = (source: BulkImportSource, importOptions: BulkImportOptions = {}) =>
    runBulkImport(source, importOptions, {
      deliver,
      prepare,
      batchCapacity,
      capacityKnown: () => learnedCapacity !== Number.POSITIVE_INFINITY || capacityCeiling !== Number.POSITIVE_INFINITY,
      concurrency: resolved.concurrency,
      now,
    });

  return {
    get batchCapacity() {
      return batchCapacity();
    },
    get rateLimit() {
      return pacer.state;
    },

    async track(event, callOptions = {}) {
      const prepared = prepare(event);
      let body: string;
      try {
        body = JSON.stringify(prepared);
      } catch (error) {
        throw new EventValidationError('The event cannot be serialised as JSON.', { cause: error });
      }
      const response = await call('POST', endpoints.track, body, 1, callOptions.signal, undefined);
      if (!response.ok) throw await apiErrorFrom(response);
      const result = await readJson(response);
      return { id: prepared.id, duplicate: (countField(result, 'duplicates') ?? 0) > 0 };
    },

    async trackBatch(events, callOptions = {}) {
      if (!Array.isArray(events)) throw new TypeError('Expected `events` to be an array of events.');
      // Prepared here, not in bulkImport, so the ids can be returned in input order.
      const ids: string[] = [];
      const items = events.map((event: unknown) => {
        try {
          const prepared = prepare(event);
          ids.push(prepared.id);
          return prepared;
        } catch {
          return event; // bulkImport fails it again, with the same error, in the report
        }
      });
      const report = await bulkImport(items, callOptions.signal === undefined ? {} : { signal: callOptions.signal });
      if (callOptions.signal?.aborted) throw callOptions.signal.reason;
      if (report.failed.length > 0) throw new TrackBatchError(report);
      return { sent: report.sent, duplicates: report.duplicates, ids };
    },

    bulkImport,

    async stats(callOptions = {}) {
      const response = await call('GET', endpoints.stats, undefined, undefined, callOptions.signal, undefined);
      if (!response.ok) throw await apiErrorFrom(response);
      const body = await readJson(response);
      return { received: countField(body, 'received') ?? 0, duplicates: countField(body, 'duplicates') ?? 0 };
    },
  };
}
