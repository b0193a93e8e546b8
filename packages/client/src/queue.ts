/**
 * A promise queue with a concurrency limit, a per-interval start cap, priorities and a
 * per-task AbortSignal.
 *
 * Written here rather than taken from p-queue: p-queue is ESM-only since v7, so the CJS
 * build of this package could not `require()` it, and it pulls in two dependencies
 * (eventemitter3, p-timeout); the client has none. This queue also counts the interval
 * cap over a sliding window (p-queue uses fixed windows, which admit up to twice the cap
 * around a window boundary, exactly the burst a rate limit exists to stop).
 */
import { sleep as defaultSleep, type Sleep } from './sleep.js';
import { invalid, optionalFunction, plainOptions, positiveNumber, rejectUnknownKeys } from './validate.js';

/** Options of {@link createQueue}. */
export interface QueueOptions {
  /** Most tasks running at once. Default `Infinity`. */
  readonly concurrency?: number;
  /**
   * Most tasks started within any `intervalMs` (a sliding window). Default `Infinity`
   * (no cap). Requires `intervalMs`.
   */
  readonly intervalCap?: number;
  /** The window `intervalCap` counts over, in ms. Default: none; required with `intervalCap`. */
  readonly intervalMs?: number;
  /** Clock in ms; inject for tests. Default `Date.now`. */
  readonly now?: () => number;
  /** How to wait for the interval window; inject for tests. Default: an abortable `setTimeout`. */
  readonly sleep?: Sleep;
}

/** Options of one task. */
export interface QueueTaskOptions {
  /** Higher runs first; equal priorities run in the order added. Default `0`. */
  readonly priority?: number;
  /**
   * Cancels the task. While it waits, it is removed from the queue and its promise
   * rejects with `signal.reason`; once running, the task receives the signal and decides.
   */
  readonly signal?: AbortSignal;
}

/** What a running task receives. */
export interface QueueTaskContext {
  /** The task's signal, if it was given one. */
  readonly signal: AbortSignal | undefined;
}

/** A queue; see {@link createQueue}. */
export interface Queue {
  /** Adds a task; the promise settles with the task's result once it has run. */
  add<T>(task: (context: QueueTaskContext) => T | Promise<T>, options?: QueueTaskOptions): Promise<T>;
  /** Resolves when nothing is waiting and nothing is running. */
  onIdle(): Promise<void>;
  /** Resolves when fewer than `limit` tasks are waiting (running ones not counted): backpressure for producers. */
  onSizeLessThan(limit: number): Promise<void>;
  /** Stops starting tasks (running ones continue). */
  pause(): void;
  /** Starts tasks again after `pause()`. */
  start(): void;
  /** Removes every waiting task, rejecting each with `reason` (default: an AbortError). */
  clear(reason?: unknown): void;
  /** Tasks waiting to start. */
  readonly size: number;
  /** Tasks running. */
  readonly pending: number;
  readonly isPaused: boolean;
}

interface Entry {
  readonly priority: number;
  readonly run: () => void;
  readonly reject: (error: unknown) => void;
  dispose(): void;
}

const OPTIONS = ['concurrency', 'intervalCap', 'intervalMs', 'now', 'sleep'];

/**
 * Creates a queue.
 *
 * @example
 * // At most 4 requests in flight and 100 started per second, whatever the callers do.
 * const queue = createQueue({ concurrency: 4, intervalCap: 100, intervalMs: 1_000 });
 * const response = await queue.add(({ signal }) => fetch(url, { signal }), { priority: 1 });
 */
export function createQueue(options: QueueOptions = {}): Queue {
  plainOptions(options, 'options');
  rejectUnknownKeys(options, OPTIONS, 'queue');
  const concurrency = countOrInfinity(options.concurrency, 'concurrency');
  const intervalCap = countOrInfinity(options.intervalCap, 'intervalCap');
  const givenIntervalMs =
    options.intervalMs === undefined ? undefined : positiveNumber(options.intervalMs, 'intervalMs');
  if (intervalCap !== Number.POSITIVE_INFINITY && givenIntervalMs === undefined) {
    invalid('intervalMs', 'a positive number of ms when `intervalCap` is set', undefined);
  }
  // Without a cap there is nothing to count.
  const intervalMs = intervalCap === Number.POSITIVE_INFINITY ? undefined : givenIntervalMs;
  const now = optionalFunction<() => number>(options.now, 'now') ?? Date.now;
  const sleep = optionalFunction<Sleep>(options.sleep, 'sleep') ?? defaultSleep;

  const waiting: Entry[] = [];
  /** Start times within the current sliding window, oldest first. */
  const starts: number[] = [];
  let pending = 0;
  let paused = false;
  let timer: AbortController | undefined;
  let watchers: Array<{ check: () => boolean; resolve: () => void }> = [];

  const notify = () => {
    if (watchers.length === 0) return;
    const still: typeof watchers = [];
    for (const watcher of watchers) {
      if (watcher.check()) watcher.resolve();
      else still.push(watcher);
    }
    watchers = still;
  };

  /** ms until another start fits the interval cap; 0 when one fits now. */
  const intervalDelay = (): number => {
    if (intervalMs === undefined) return 0;
    const time = now();
    while (starts.length > 0 && time - (starts[0] as number) >= intervalMs) starts.shift();
    return starts.length < intervalCap ? 0 : (starts[0] as number) + intervalMs - time;
  };

  const pump = () => {
    while (!paused && pending < concurrency && waiting.length > 0) {
      const delay = intervalDelay();
      if (delay > 0) {
        if (timer === undefined) {
          const controller = new AbortController();
          timer = controller;
          sleep(delay, controller.signal).then(
            () => {
              if (timer === controller) timer = undefined;
              pump();
            },
            () => {},
          );
        }
        break;
      }
      if (intervalMs !== undefined) starts.push(now());
      const entry = waiting.shift() as Entry;
      entry.dispose();
      pending++;
      entry.run();
    }
    notify();
  };

  const insert = (entry: Entry) => {
    // Binary search for the first entry with a lower priority: FIFO among equals.
    let low = 0;
    let high = waiting.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((waiting[mid] as Entry).priority >= entry.priority) low = mid + 1;
      else high = mid;
    }
    waiting.splice(low, 0, entry);
  };

  const watch = (check: () => boolean): Promise<void> => {
    if (check()) return Promise.resolve();
    return new Promise((resolve) => watchers.push({ check, resolve }));
  };

  return {
    get size() {
      return waiting.length;
    },
    get pending() {
      return pending;
    },
    get isPaused() {
      return paused;
    },
    add(task, taskOptions = {}) {
      const priority = taskOptions.priority ?? 0;
      if (typeof priority !== 'number' || Number.isNaN(priority)) {
        return Promise.reject(new TypeError(`Expected \`priority\` to be a number, got ${String(priority)}.`));
      }
      const { signal } = taskOptions;
      if (signal?.aborted) return Promise.reject(signal.reason);
      return new Promise((resolve, reject) => {
        const entry: Entry = {
          priority,
          reject,
          dispose: () => {},
          run: () => {
            Promise.resolve()
              .then(() => task({ signal }))
              .then(resolve, reject)
              .finally(() => {
                pending--;
                pump();
              });
          },
        };
        if (signal !== undefined) {
          const onAbort = () => {
            const index = waiting.indexOf(entry);
            if (index === -1) return;
            waiting.splice(index, 1);
            reject(signal.reason);
            notify();
          };
          signal.addEventListener('abort', onAbort, { once: true });
          entry.dispose = () => signal.removeEventListener('abort', onAbort);
        }
        insert(entry);
        pump();
      });
    },
    onIdle() {
      return watch(() => waiting.length === 0 && pending === 0);
    },
    onSizeLessThan(limit) {
      return watch(() => waiting.length < limit);
    },
    pause() {
      paused = true;
    },
    start() {
      if (!paused) return;
      paused = false;
      pump();
    },
    clear(reason = new DOMException('The queue was cleared.', 'AbortError')) {
      const removed = waiting.splice(0, waiting.length);
      for (const entry of removed) {
        entry.dispose();
        entry.reject(reason);
      }
      timer?.abort();
      timer = undefined;
      notify();
    },
  };
}

function countOrInfinity(value: unknown, path: string): number {
  if (value === undefined || value === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    invalid(path, 'a positive integer or Infinity', value);
  }
  return value;
}
