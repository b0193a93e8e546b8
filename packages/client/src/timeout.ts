import { abortable, childController, type Sleep, timeoutError } from './sleep.js';

/**
 * Runs `run` with a signal that aborts when `parent` aborts or after `ms` (with a
 * `TimeoutError`, which the retry logic treats as retryable). Rejects promptly on either,
 * even if `run` ignores its signal. `ms` of 0 means no time limit. The timer goes through
 * the injected `sleep`, so tests control it like every other wait.
 */
export async function withTimeout<T>(
  run: (signal: AbortSignal) => T | Promise<T>,
  ms: number,
  parent: AbortSignal | undefined,
  sleep: Sleep,
): Promise<T> {
  const { controller, dispose } = childController(parent);
  // Promise.resolve().then turns a synchronous throw from `run` into a rejection like any other.
  const work = Promise.resolve().then(() => run(controller.signal));
  if (ms === 0) {
    try {
      return await abortable(work, parent);
    } finally {
      dispose();
    }
  }
  const timer = new AbortController();
  const timeout = sleep(ms, timer.signal).then(
    () => {
      const error = timeoutError(ms);
      controller.abort(error);
      throw error;
    },
    // The timer was cancelled because the work finished first: this branch must never settle the race.
    () => new Promise<never>(() => {}),
  );
  try {
    return await abortable(Promise.race([work, timeout]), parent);
  } finally {
    timer.abort();
    dispose();
  }
}
