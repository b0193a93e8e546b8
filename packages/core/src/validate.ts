/**
 * Validation helpers for options. Every failure names the option by its full path, the
 * value received and what was expected ("Expected `tiers.free.api.limit` to be a positive
 * integer, got -1."), and nothing is ever silently replaced by a default.
 */
import { ConfigurationError } from './errors.js';

/** Short, safe description of a received value for an error message. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
  return String(value);
}

export function invalid(path: string, expected: string, value: unknown): never {
  throw new ConfigurationError(`Expected \`${path}\` to be ${expected}, got ${describeValue(value)}.`);
}

export function positiveInteger(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
    invalid(path, 'a positive integer', value);
  return value;
}

export function nonNegativeInteger(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    invalid(path, 'a non-negative integer', value);
  }
  return value;
}

export function integerInRange(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    invalid(path, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

export function optionalFunction<T>(value: unknown, path: string): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') invalid(path, 'a function', value);
  return value as T;
}

export function plainObject(value: unknown, path: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) invalid(path, 'an object', value);
  return value as Record<string, unknown>;
}

/** Rejects misspelt option names instead of ignoring them (a typo would otherwise silently keep a default). */
export function rejectUnknownKeys(value: object, allowed: readonly string[], where: string, prefix = ''): void {
  for (const key of Object.keys(value)) {
    if (allowed.includes(key)) continue;
    const suggestion = closest(key, allowed);
    throw new ConfigurationError(
      `Unknown option \`${prefix}${key}\` in ${where}; expected one of ${allowed.map((a) => `\`${a}\``).join(', ')}.` +
        (suggestion ? ` Did you mean \`${prefix}${suggestion}\`?` : ''),
    );
  }
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}
