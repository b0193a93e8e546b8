export { concurrency } from './algorithms/concurrency.js';
export {
  type AlgorithmSpec,
  algorithmOf,
  COUNTING,
  EPSILON,
  newWork,
  type Report,
  type StoredField,
  type Work,
} from './algorithms/index.js';
export { batchSize } from './batch.js';
export { type CalendarUnit, type Period, periodAt } from './calendar-periods.js';
export { ipIdentity } from './client-ip.js';
export { type Decision, type ErrorBody, PASSED, type PolicyOutcome, type ProblemBody, SKIPPED } from './decision.js';
export { describeDuration } from './duration.js';
export { ConfigurationError, isRequestError, RequestError, StoreError, TierlimitError } from './errors.js';
export {
  type FlexibleLimiter,
  type FlexibleResult,
  FlexibleStore,
  type FlexibleStoreOptions,
  flexibleStore,
} from './flexible-store.js';
export { type ErrorResponse, errorResponse } from './http-errors.js';
export type { RequestHeaders } from './identity.js';
export {
  createRateLimiter,
  isRateLimiter,
  type LimitUsage,
  type OverrideTarget,
  RateLimiter,
  type RateLimiterEvents,
  type RequestFacts,
  type RouteHandler,
  type RouteLabel,
  type RouteOptions,
  type Usage,
} from './limiter.js';
export type { ResolvedLimit } from './limits.js';
export { MemoryStore, type MemoryStoreOptions, memoryStore } from './memory-store.js';
export { Namespaces, RESERVED_NAMESPACES, storageKey } from './namespaces.js';
export type { RateLimiterOptions, TierResolution, TierResolver } from './options.js';
export { type ClosableResponse, releaseOnClose } from './release.js';
export { requestIdFrom } from './request-id.js';
export { errorBody, retryAfterSeconds } from './response.js';
export { type RuntimeValidations, type TrustProxyKind, trustProxyKind } from './runtime-checks.js';
export { settle } from './settle.js';
export { type StandardHeaders, sfString, standardHeaders } from './standard-headers.js';
export {
  type AdminStore,
  type Algorithm,
  type CheckState,
  type ConsumeOptions,
  type ConsumeResult,
  isAdminStore,
  isLeaseStore,
  type LeaseStore,
  type Penalty,
  type PolicySpec,
  type Store,
  type StoreCheck,
  type StoredOverride,
  type Suspension,
} from './store.js';
export type { FaultMode, StoreFaultOptions } from './store-guard.js';
export {
  type CalendarQuota,
  type ConcurrencyLimit,
  defaultIpLimit,
  defaultTiers,
  type Limit,
  type Policy,
  type PolicyLimits,
  type TierConfig,
  type TierMap,
  type TierOverrides,
  type WebSocketTierLimits,
} from './tiers.js';
export { loadTiers, type WatchTiersOptions, watchTiers } from './tiers-file.js';
export {
  describeValue,
  nonNegativeInteger,
  optionalFunction,
  plainObject,
  positiveInteger,
  rejectUnknownKeys,
} from './validate.js';
export type { ResolvedPolicy, ResolvedTier } from './validate-options.js';
export { consoleWarning, createWarner, type Warner, type Warning, type WarningSink } from './warnings.js';
