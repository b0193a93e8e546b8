/**
 * The few assertions the store suite needs, so that it runs under any test runner (jest,
 * vitest, node:test, mocha) without importing one. `equal` compares as jest's `toEqual`
 * does and `matches` as its `toMatchObject`, so the suite asserts what it asserted when it
 * was written for jest.
 */

const MATCH = Symbol('tierlimit.matcher');

/** Stands for any value it accepts, inside an expected value (as `expect.any(String)` does). */
export interface Matcher {
  readonly [MATCH]: (actual: unknown) => boolean;
  readonly description: string;
}

function matcher(description: string, accepts: (actual: unknown) => boolean): Matcher {
  return { [MATCH]: accepts, description };
}

export const anyString: Matcher = matcher('any string', (actual) => typeof actual === 'string');
export const anyNumber: Matcher = matcher('any number', (actual) => typeof actual === 'number');

/** An object that has at least these fields (as `expect.objectContaining`). */
export function containing(fields: Record<string, unknown>): Matcher {
  return matcher(`an object containing ${show(fields)}`, (actual) => mismatch(actual, fields, true, '') === undefined);
}

/** A failed expectation of the store suite. */
export class StoreSuiteAssertionError extends Error {
  override readonly name = 'StoreSuiteAssertionError';
}

/** Fails unless `condition` holds. */
export function ok(condition: boolean, message: string): asserts condition {
  if (!condition) throw new StoreSuiteAssertionError(message);
}

/**
 * Fails unless `actual` equals `expected`: primitives by `Object.is`, arrays item by item,
 * objects field by field, a field whose value is `undefined` counting as absent (`toEqual`).
 */
export function equal(actual: unknown, expected: unknown, what = 'the value'): void {
  const problem = mismatch(actual, expected, false, '');
  if (problem !== undefined) throw new StoreSuiteAssertionError(report(what, problem, actual, expected, 'equal'));
}

/**
 * Fails unless every field of `expected` is in `actual` and matches, recursively; `actual`
 * may have more fields. Arrays must have the same length (`toMatchObject`).
 */
export function matches(actual: unknown, expected: unknown, what = 'the value'): void {
  const problem = mismatch(actual, expected, true, '');
  if (problem !== undefined) throw new StoreSuiteAssertionError(report(what, problem, actual, expected, 'match'));
}

function report(what: string, problem: string, actual: unknown, expected: unknown, verb: string): string {
  return `Expected ${what} to ${verb} ${show(expected)}, got ${show(actual)}: ${problem}.`;
}

function isMatcher(value: unknown): value is Matcher {
  return typeof value === 'object' && value !== null && MATCH in value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Where `actual` first differs from `expected` and how, or `undefined` when it does not. */
function mismatch(actual: unknown, expected: unknown, partial: boolean, path: string): string | undefined {
  const at = path === '' ? '' : ` at ${path}`;
  if (isMatcher(expected)) {
    return expected[MATCH](actual) ? undefined : `expected ${expected.description}${at}, got ${show(actual)}`;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `expected an array${at}, got ${show(actual)}`;
    if (actual.length !== expected.length)
      return `expected ${expected.length} items${at}, got ${actual.length}: ${show(actual)}`;
    for (let i = 0; i < expected.length; i++) {
      const problem = mismatch(actual[i], expected[i], partial, `${path}[${i}]`);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  if (isRecord(expected)) {
    if (!isRecord(actual)) return `expected an object${at}, got ${show(actual)}`;
    const keys = partial
      ? Object.keys(expected)
      : [...new Set([...Object.keys(expected), ...Object.keys(actual)])].filter(
          (key) => expected[key] !== undefined || actual[key] !== undefined,
        );
    for (const key of keys) {
      if (partial && !(key in actual)) return `no field ${path}.${key}`;
      const problem = mismatch(actual[key], expected[key], partial, `${path}.${key}`);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  return Object.is(actual, expected) ? undefined : `expected ${show(expected)}${at}, got ${show(actual)}`;
}

function show(value: unknown): string {
  if (value === undefined) return 'undefined';
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (isMatcher(inner)) return `<${inner.description}>`;
    if (inner === undefined) return '<undefined>';
    if (typeof inner === 'number' && !Number.isFinite(inner)) return String(inner);
    return inner;
  });
}
