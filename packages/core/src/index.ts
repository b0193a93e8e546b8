export { batchSize } from './batch.js';
export { ipIdentity } from './client-ip.js';
export type { Decision, ErrorBody, PolicyOutcome } from './decision.js';
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
export { storageKey } from './identity.js';
export {
  createRateLimiter,
  isRateLimiter,
  RateLimiter,
  type RateLimiterEvents,
  type RequestFacts,
  type RouteHandler,
  type RouteOptions,
} from './limiter.js';
export { MemoryStore, type MemoryStoreOptions, memoryStore } from './memory-store.js';
export type { RateLimiterOptions, TierResolution, TierResolver, Warning } from './options.js';
export { retryAfterSeconds } from './response.js';
export { settle } from './settle.js';
export {
  type Algorithm,
  type CheckState,
  type ConsumeResult,
  isLeaseStore,
  type LeaseStore,
  type PolicySpec,
  type Store,
  type StoreCheck,
} from './store.js';
export type { FaultMode, StoreFaultOptions } from './store-guard.js';
export {
  defaultIpLimit,
  defaultTiers,
  type PolicyLimits,
  type TierConfig,
  type TierMap,
  type TierOverrides,
  type WebSocketTierLimits,
} from './tiers.js';
export type { ResolvedPolicy, ResolvedTier } from './validate-options.js';
