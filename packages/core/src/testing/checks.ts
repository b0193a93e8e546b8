/** The checks the store suite sends, one builder per algorithm, as the limiter would build them. */
import type { Penalty, StoreCheck } from '../store.js';

export const window = (key: string, limit: number, cost = 1, windowMs = 60_000): StoreCheck => ({
  key,
  algorithm: 'fixed-window',
  limit,
  windowMs,
  capacity: limit,
  cost,
});

export const sliding = (key: string, limit: number, cost = 1, windowMs = 60_000): StoreCheck => ({
  key,
  algorithm: 'sliding-window',
  limit,
  windowMs,
  capacity: limit,
  cost,
});

/** A calendar quota whose current period ends at `periodEnd` and lasts `windowMs`. */
export const quota = (key: string, limit: number, periodEnd: number, windowMs: number, cost = 1): StoreCheck => ({
  key,
  algorithm: 'calendar',
  limit,
  windowMs,
  capacity: limit,
  cost,
  periodEnd,
});

/** At most `limit` requests in flight; a slot not released lapses after `leaseMs`. */
export const slots = (key: string, limit: number, leaseMs = 30_000, cost = 1): StoreCheck => ({
  key,
  algorithm: 'concurrency',
  limit,
  windowMs: 0,
  capacity: limit,
  cost,
  leaseMs,
});

export const bucket = (key: string, burst: number, perMinute: number, cost = 1): StoreCheck => ({
  key,
  algorithm: 'token-bucket',
  limit: perMinute,
  windowMs: 60_000,
  capacity: burst,
  cost,
});

export const penaltyOf = (identity: string): Penalty => ({
  violationKey: `violations:${identity}`,
  blockKey: `suspended:${identity}`,
  threshold: 3,
  windowMs: 60_000,
  blockMs: 300_000,
});
