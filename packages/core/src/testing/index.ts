/**
 * `@tierlimit/core/testing`: the store suite that the memory store and the Redis store
 * pass (one server and a Redis Cluster), for a store of your own (issue 14). It imports
 * no test runner: `storeSuite(target)` returns the cases to run any way you like, and
 * `registerStoreSuite({ describe, it }, target)` registers them with yours.
 */
export { StoreSuiteAssertionError } from './assert.js';
export { ManualClock } from './manual-clock.js';
export { type RegisterTest, registerStoreSuite, type TestBody, type TestRunner } from './register.js';
export { storeSuite } from './suite.js';
export type {
  StoreCapabilities,
  StoreCapability,
  StoreSuiteCase,
  StoreSuiteResult,
  StoreSuiteTarget,
} from './types.js';
