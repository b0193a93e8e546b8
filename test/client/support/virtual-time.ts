/**
 * Virtual time for the client's unit tests: a clock and a `sleep` that never waits for
 * real. `run(promise)` lets every pending promise chain settle, then jumps the clock to
 * the earliest sleeper and wakes it, until the promise settles. Concurrent sleepers are
 * ordered by wake-up time exactly as real timers would be, so a whole rate-limited import
 * plays out deterministically in milliseconds.
 */
import type { Sleep } from '@tierlimit/client';

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly resolve: () => void;
}

/** 2025-01-21T10:00:00Z, on a whole second like the server's Reset headers. */
export const START = Date.UTC(2025, 0, 21, 10, 0, 0);

/** Lets queued microtasks and one round of macrotasks run (Response bodies settle through both). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export class VirtualTime {
  time = START;
  /** Every sleep requested, in ms, in order. */
  readonly sleeps: number[] = [];
  #timers: Timer[] = [];
  #seq = 0;

  readonly now = (): number => this.time;

  readonly sleep: Sleep = (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      this.sleeps.push(ms);
      const timer: Timer = {
        at: this.time + Math.max(0, ms),
        seq: this.#seq++,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.#timers = this.#timers.filter((t) => t !== timer);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#timers.push(timer);
    });

  /** Lets pending promise chains run without moving the clock or waking anyone. */
  settle(): Promise<void> {
    return settle();
  }

  /** Number of sleepers not yet woken. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  advance(ms: number): void {
    this.time += ms;
  }

  /** Wakes the earliest sleeper (moving the clock to its time); false when none is waiting. */
  async tick(): Promise<boolean> {
    await settle();
    this.#timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const next = this.#timers.shift();
    if (next === undefined) return false;
    this.time = Math.max(this.time, next.at);
    next.resolve();
    await settle();
    return true;
  }

  /** Drives virtual time until `promise` settles; fails loudly on a deadlock or a runaway loop. */
  async run<T>(promise: Promise<T>, maxSteps = 100_000): Promise<T> {
    let settled = false;
    promise.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    for (let step = 0; step < maxSteps; step++) {
      await settle();
      if (settled) return promise;
      if (!(await this.tick())) {
        await settle();
        if (settled) return promise;
        throw new Error('Deadlock: the promise is pending and nothing is sleeping.');
      }
    }
    throw new Error(`Still pending after ${maxSteps} timer steps.`);
  }
}

export { seededRandom } from '../../support/random';
