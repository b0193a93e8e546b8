export type { Budget } from './budget.js';
export {
  BulkImportError,
  type BulkImportOptions,
  type BulkImportProgress,
  type BulkImportReport,
  type BulkImportSource,
  type FailedItem,
} from './bulk-import.js';
export { isNetworkError, isRetryableStatus } from './classify.js';
export {
  type CallOptions,
  createClient,
  type EventStats,
  type TierlimitClient,
  TrackBatchError,
  type TrackBatchResult,
  type TrackResult,
} from './client.js';
export type { ClientEndpoints, ClientOptions } from './client-options.js';
export {
  ApiError,
  ClientConfigError,
  CostExceedsBurstError,
  EventValidationError,
  RetryAfterTooLongError,
  TierlimitClientError,
} from './errors.js';
export { defaultEventValidator, type EventValidator, type IdentifiedEvent, type TrackEvent } from './event.js';
export { randomId } from './event-id.js';
export type { HeadersLike } from './headers.js';
export { parseHttpDate } from './http-date.js';
export { type LocalBudget, type LocalBudgetOptions, localBudget } from './local-budget.js';
export { createPacer, type Pacer, type PacerOptions, type Permit } from './pacer.js';
export { createQueue, type Queue, type QueueOptions, type QueueTaskContext, type QueueTaskOptions } from './queue.js';
export {
  type ParseRateLimitOptions,
  parseRateLimit,
  type RateLimitInfo,
  type RateLimitSource,
  type RateLimitState,
} from './rate-limit-headers.js';
export { createRateLimitedFetch } from './rate-limited-fetch.js';
export type {
  RateLimitedFetch,
  RateLimitedFetchOptions,
  RateLimitedFetchRetryOptions,
  RateLimitedRequestInit,
} from './rate-limited-fetch-options.js';
export { parseRetryAfter } from './retry-after.js';
export { type Sleep, sleep } from './sleep.js';
export { createTokenBucket, type TokenBucket, type TokenBucketOptions } from './token-bucket.js';
export {
  type AttemptContext,
  type AttemptOutcome,
  type RetryInfo,
  type RetryOptions,
  withRetry,
} from './with-retry.js';
