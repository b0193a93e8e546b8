/**
 * Option checks shared by every factory. Each mistake throws a ClientConfigError naming
 * the option, what was expected and what was given; nothing is silently replaced with a
 * default (a `retries: -1` that quietly became 5 would hide a bug).
 */
import { ClientConfigError } from './errors.js';

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

export function invalid(path: string, expected: string, value: unknown): never {
  throw new ClientConfigError(`Expected \`${path}\` to be ${expected}, got ${describe(value)}.`);
}

export function nonNegativeInteger(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    invalid(path, 'a non-negative integer', value);
  }
  return value;
}

export function positiveInteger(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
    invalid(path, 'a positive integer', value);
  return value;
}

/** A finite number >= 0 (durations in ms may be fractional). */
export function nonNegativeNumber(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    invalid(path, 'a finite number of at least 0', value);
  }
  return value;
}

export function positiveNumber(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    invalid(path, 'a finite positive number', value);
  return value;
}

export function fractionBelowOne(value: unknown, path: string): number {
  if (typeof value !== 'number' || !(value >= 0 && value < 1))
    invalid(path, 'a number from 0 up to (not including) 1', value);
  return value;
}

export function optionalFunction<F>(value: unknown, path: string): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') invalid(path, 'a function', value);
  return value as F;
}

export function optionalSignal(value: unknown, path: string): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || typeof (value as AbortSignal).addEventListener !== 'function') {
    invalid(path, 'an AbortSignal', value);
  }
  return value as AbortSignal;
}

/** An options object (or nothing): not an array, not a primitive. */
export function plainOptions(value: unknown, path: string): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid(path, 'an options object', value);
}

/** Catches typos (`retry` for `retries`) that would otherwise be ignored without a word. */
export function rejectUnknownKeys(value: object, known: readonly string[], what: string): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new ClientConfigError(`Unknown ${what} option \`${key}\`. Known options: ${known.join(', ')}.`);
    }
  }
}

/** The runtime's fetch, bound to globalThis; a ClientConfigError where there is none. */
export function globalFetch(): typeof fetch {
  const candidate = (globalThis as { fetch?: typeof fetch }).fetch;
  if (typeof candidate !== 'function') {
    invalid('fetch', 'a fetch function (this runtime has no global fetch)', undefined);
  }
  // Some browsers throw "Illegal invocation" when fetch is called detached from globalThis.
  return candidate.bind(globalThis);
}

/** Drops keys whose value is `undefined`, so defaults apply (exactOptionalPropertyTypes forbids passing them). */
export function withoutUndefined<T extends Record<string, unknown>>(
  record: T,
): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) if (value !== undefined) result[key] = value;
  return result as { [K in keyof T]?: Exclude<T[K], undefined> };
}
