/**
 * Waiting, and giving up on waiting. Every wait in the client goes through an injectable
 * `Sleep`, so tests move a fake clock instead of sleeping, and through `abortable`, so an
 * AbortSignal rejects promptly (with the signal's reason) even when an injected sleep
 * ignores the signal.
 */

/**
 * Resolves after `ms` milliseconds; should reject with `signal.reason` when the signal
 * aborts. Inject one in tests to control time.
 */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** `setTimeout` fires at once for delays above 2^31-1 ms (about 24.8 days), so long waits are chained. */
const MAX_TIMER_MS = 2_147_483_647;

/** The default sleep: `setTimeout`, abortable, chained for very long waits. */
export const sleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    let left = Math.max(0, ms);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => {
      if (timer !== undefined) clearTimeout(timer);
      reject(signal?.reason);
    };
    const arm = () => {
      const step = Math.min(left, MAX_TIMER_MS);
      left -= step;
      timer = setTimeout(() => {
        if (left > 0) {
          arm();
          return;
        }
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, step);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    arm();
  });

/**
 * `promise`, or a rejection with `signal.reason` as soon as the signal aborts, whichever
 * comes first. The listener is removed when the promise settles, so long-lived signals
 * do not collect listeners.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    // The losing promise may still reject later; keep that from surfacing as unhandled.
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      promise.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * A controller whose signal aborts when `parent` aborts (with the parent's reason) or
 * when `abort()` is called. `AbortSignal.any` would do this but arrived in Node 20.3;
 * `engines` allows 20.0. Call `dispose()` when done so `parent` drops the listener.
 */
export function childController(parent: AbortSignal | undefined): { controller: AbortController; dispose(): void } {
  const controller = new AbortController();
  if (parent === undefined) return { controller, dispose: () => {} };
  if (parent.aborted) {
    controller.abort(parent.reason);
    return { controller, dispose: () => {} };
  }
  const onAbort = () => controller.abort(parent.reason);
  parent.addEventListener('abort', onAbort, { once: true });
  return { controller, dispose: () => parent.removeEventListener('abort', onAbort) };
}

/** The error `AbortSignal.timeout()` aborts with, made by hand so any timer can produce it. */
export function timeoutError(ms: number): Error {
  return new DOMException(`The attempt timed out after ${ms} ms.`, 'TimeoutError');
}
