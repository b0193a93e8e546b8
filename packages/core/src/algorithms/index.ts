/**
 * Every algorithm a store runs, by name and by its number in the Redis script. Concurrency
 * limits are not here: they hold leases, not counts (see concurrency.ts).
 */
import type { Algorithm } from '../store.js';
import { calendar } from './calendar.js';
import { fixedWindow } from './fixed-window.js';
import { slidingWindow } from './sliding-window.js';
import type { AlgorithmSpec } from './spec.js';
import { tokenBucket } from './token-bucket.js';

export { type AlgorithmSpec, EPSILON, newWork, type Report, type StoredField, type Work } from './spec.js';
export { calendar, fixedWindow, slidingWindow, tokenBucket };

/** The counting algorithms, in script-number order. */
export const COUNTING: readonly AlgorithmSpec[] = [fixedWindow, tokenBucket, slidingWindow, calendar];

const BY_NAME = new Map<Algorithm, AlgorithmSpec>(COUNTING.map((spec) => [spec.name, spec]));

/** The spec of a counting algorithm; `undefined` for `concurrency`. */
export function algorithmOf(name: Algorithm): AlgorithmSpec | undefined {
  return BY_NAME.get(name);
}
