/**
 * Bounds one store call. A lease store on a paused Redis can hang (SPEC section 6), and an
 * upgrade must be answered, not left waiting, so every lease call is raced against a timer.
 */
import { StoreError } from '@tierlimit/core';

/**
 * Resolves with `value`, or rejects with a StoreError after `ms`. A call that times out
 * may still succeed later: `onLate` receives that late value (to give back a lease taken
 * after the caller gave up). A late rejection is swallowed: the caller already failed.
 */
export function withTimeout<T>(value: T | Promise<T>, ms: number, onLate?: (value: T) => void): Promise<T> {
  if (!(value instanceof Promise)) return Promise.resolve(value);
  return new Promise<T>((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(new StoreError(`the lease store did not answer within ${ms} ms`));
    }, ms);
    value.then(
      (result) => {
        clearTimeout(timer);
        if (!timedOut) resolve(result);
        else if (onLate !== undefined) {
          try {
            onLate(result);
          } catch {
            // Best effort: the caller has already moved on, and must never see a rejection from here.
          }
        }
      },
      (error: unknown) => {
        clearTimeout(timer);
        if (!timedOut) reject(error);
      },
    );
  });
}

/** Calls `call` and bounds its answer; a synchronous throw becomes a rejection. */
export function bounded<T>(call: () => T | Promise<T>, ms: number, onLate?: (value: T) => void): Promise<T> {
  try {
    return withTimeout(call(), ms, onLate);
  } catch (error) {
    return Promise.reject(error);
  }
}
