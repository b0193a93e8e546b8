/**
 * Bulk import: pulls events lazily from an array, iterable or async iterable (a file of
 * millions of lines), groups them into batches, sends a bounded number at once, and
 * accounts for every item: each one pulled from the source ends up counted as sent or
 * listed in `failed` with its error. Memory stays bounded by `concurrency + 2` batches
 * however long the source is.
 */

import { TierlimitClientError } from './errors.js';
import type { IdentifiedEvent } from './event.js';
import { createQueue } from './queue.js';
import { childController } from './sleep.js';
import { optionalFunction, optionalSignal, plainOptions, positiveInteger, rejectUnknownKeys } from './validate.js';
import type { RetryInfo } from './with-retry.js';

/** Where `bulkImport` reads events from. Pulled one at a time, only as fast as they are sent. */
export type BulkImportSource = Iterable<unknown> | AsyncIterable<unknown>;

/** Options of `client.bulkImport`. */
export interface BulkImportOptions {
  /**
   * Events per batch request. Default: the server's burst capacity as learned by the
   * client (never above the client's `maxBatchSize`); a larger value is cut down to it.
   */
  readonly batchSize?: number;
  /** Batch requests in flight at once. Default: the client's `concurrency` (4). */
  readonly concurrency?: number;
  /**
   * Stops the import: nothing more is pulled, requests in flight are aborted, and the
   * report lists every pulled but unconfirmed item in `failed` with `signal.reason`.
   * `bulkImport` still resolves with its report.
   */
  readonly signal?: AbortSignal;
  /** Called after each batch settles. If it throws, the import stops with that error as `stopReason`. */
  readonly onProgress?: (progress: BulkImportProgress) => void;
}

/** Running totals, passed to `onProgress`. */
export interface BulkImportProgress {
  /** Items read from the source so far. */
  readonly pulled: number;
  /** Items the server acknowledged (stored, or recognised as duplicates). */
  readonly sent: number;
  /** Of `sent`, items the server already had (same id). */
  readonly duplicates: number;
  /** Items failed so far. */
  readonly failed: number;
  /** Requests sent again after a retryable failure. */
  readonly retried: number;
  /** 429 responses received. */
  readonly rateLimited: number;
  /** Time since the import started, in ms. */
  readonly elapsedMs: number;
}

/** An item that could not be delivered, and why. */
export interface FailedItem {
  /**
   * The event as it was sent, with the id the client gave it (so feeding it back in is
   * deduplicated by the server), or the source value itself when it was never valid.
   */
  readonly item: unknown;
  /** Why: an ApiError (with the server's `code`), an EventValidationError, a network error, or the abort reason. */
  readonly error: unknown;
}

/** The outcome of `bulkImport`. `sent + failed.length === pulled`, always. */
export interface BulkImportReport {
  /** Items the server acknowledged (including `duplicates`). */
  readonly sent: number;
  /** Of `sent`, items the server already had (same id), so stored once. */
  readonly duplicates: number;
  /** Requests sent again after a retryable failure (429, 5xx, network error, timeout). */
  readonly retried: number;
  /** 429 responses received, whether or not a retry then succeeded. */
  readonly rateLimited: number;
  /** Every item not acknowledged, with its error. */
  readonly failed: FailedItem[];
  /** Items read from the source. When the import stopped early, the rest of the source was never read. */
  readonly pulled: number;
  /** Wall time of the import, in ms. */
  readonly durationMs: number;
  /**
   * Set when the import stopped before the source was exhausted: the signal's reason, or
   * a fatal error (401, 403, 404, a `Retry-After` beyond `maxRetryAfterMs`) after which
   * every further request would fail the same way.
   */
  readonly stopReason?: unknown;
}

/**
 * The source itself failed (an unreadable file, a throwing generator). Every item pulled
 * before that is accounted for in `report`.
 */
export class BulkImportError extends TierlimitClientError {
  readonly report: BulkImportReport;

  constructor(report: BulkImportReport, cause: unknown) {
    super('BULK_IMPORT_SOURCE_FAILED', `Reading the import source failed after ${report.pulled} items.`, { cause });
    this.report = report;
  }
}

/** Where a batch's outcome goes. Delivery never throws: every outcome arrives here. */
export interface DeliverySink {
  sent(events: readonly IdentifiedEvent[], duplicates: number): void;
  failed(events: readonly IdentifiedEvent[], error: unknown): void;
  retried(info: RetryInfo): void;
  rateLimited(): void;
  /** An error after which every further request would fail the same way. */
  fatal(error: unknown): void;
}

/** What the client lends the importer. */
export interface BulkImportDeps {
  readonly deliver: (events: IdentifiedEvent[], signal: AbortSignal, sink: DeliverySink) => Promise<void>;
  readonly prepare: (item: unknown) => IdentifiedEvent;
  readonly batchCapacity: () => number;
  /** Whether the server's burst capacity has been learned (or ruled out) yet. */
  readonly capacityKnown: () => boolean;
  readonly concurrency: number;
  readonly now: () => number;
}

const OPTIONS = ['batchSize', 'concurrency', 'signal', 'onProgress'];

export async function runBulkImport(
  source: BulkImportSource,
  options: BulkImportOptions,
  deps: BulkImportDeps,
): Promise<BulkImportReport> {
  plainOptions(options, 'options');
  rejectUnknownKeys(options, OPTIONS, 'bulkImport');
  const isIterable =
    source !== null &&
    typeof source === 'object' &&
    (typeof (source as Iterable<unknown>)[Symbol.iterator] === 'function' ||
      typeof (source as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function');
  if (!isIterable)
    throw new TypeError('Expected the bulk import source to be an array, an iterable or an async iterable.');
  const batchSize = options.batchSize === undefined ? undefined : positiveInteger(options.batchSize, 'batchSize');
  const concurrency = positiveInteger(options.concurrency ?? deps.concurrency, 'concurrency');
  const onProgress = optionalFunction<(progress: BulkImportProgress) => void>(options.onProgress, 'onProgress');
  // Aborts on the caller's signal and on a fatal error, so in-flight requests stop either way.
  const { controller, dispose } = childController(optionalSignal(options.signal, 'signal'));
  const { signal } = controller;

  const started = deps.now();
  const failed: FailedItem[] = [];
  let pulled = 0;
  let sent = 0;
  let duplicates = 0;
  let retried = 0;
  let rateLimited = 0;

  const sink: DeliverySink = {
    sent(events, count) {
      sent += events.length;
      duplicates += count;
    },
    failed(events, error) {
      for (const item of events) failed.push({ item, error });
    },
    retried() {
      retried++;
    },
    rateLimited() {
      rateLimited++;
    },
    fatal(error) {
      if (!signal.aborted) controller.abort(error);
    },
  };

  const progress = () => {
    if (onProgress === undefined) return;
    try {
      onProgress({
        pulled,
        sent,
        duplicates,
        failed: failed.length,
        retried,
        rateLimited,
        elapsedMs: deps.now() - started,
      });
    } catch (error) {
      sink.fatal(error);
    }
  };

  const queue = createQueue({ concurrency });
  let batch: IdentifiedEvent[] = [];
  const dispatch = async () => {
    const events = batch;
    batch = [];
    // Backpressure: pull more only once every queued batch has started, so memory stays bounded.
    await queue.onSizeLessThan(1);
    void queue.add(async () => {
      try {
        await deps.deliver(events, signal, sink);
      } catch (error) {
        // deliver reports through the sink and should not throw; if it does, the items still get accounted for.
        sink.failed(events, error);
      }
      progress();
    });
  };

  // Until the server has told its burst capacity, batches would be cut to `maxBatchSize`
  // and split again on 413. So the first batch carries a single event, and nothing more
  // is pulled until it is answered: one round trip, then every batch is the right size.
  let probing = !deps.capacityKnown();
  const batchLimit = () => (probing ? 1 : Math.min(batchSize ?? Number.POSITIVE_INFINITY, deps.batchCapacity()));

  let sourceFailed = false;
  let sourceError: unknown;
  try {
    for await (const item of source) {
      pulled++;
      if (signal.aborted) {
        // Pulled but never sent: account for it, then stop reading (for-await closes the source).
        failed.push({ item, error: signal.reason });
        break;
      }
      let event: IdentifiedEvent;
      try {
        event = deps.prepare(item);
      } catch (error) {
        failed.push({ item, error });
        continue;
      }
      batch.push(event);
      if (batch.length >= batchLimit()) {
        await dispatch();
        if (probing) {
          await queue.onIdle();
          probing = false;
        }
      }
    }
  } catch (error) {
    sourceFailed = true;
    sourceError = error;
  }
  // Sent even after a stop: deliver then fails each event with the stop reason, so none goes unaccounted.
  if (batch.length > 0) await dispatch();
  await queue.onIdle();
  dispose();

  const report: BulkImportReport = {
    sent,
    duplicates,
    retried,
    rateLimited,
    failed,
    pulled,
    durationMs: deps.now() - started,
    ...(signal.aborted ? { stopReason: signal.reason } : {}),
  };
  if (sourceFailed) throw new BulkImportError(report, sourceError);
  return report;
}
