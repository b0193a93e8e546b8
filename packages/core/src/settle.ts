/**
 * Delivers a value that may or may not be a promise without paying for one when it is
 * not: the core answers synchronously whenever it can, and adapters keep that speed.
 */
export function settle<T>(value: T | Promise<T>, onValue: (value: T) => void, onError: (error: unknown) => void): void {
  if (value instanceof Promise) {
    value.then(onValue).then(undefined, onError);
  } else {
    onValue(value);
  }
}
