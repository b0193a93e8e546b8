/**
 * Decisions that wait for the Redis connection to become ready (issue 13: a process that
 * started serving before its connection was ready failed those requests at once, with the
 * offline queue off, and answered them from the limiter's local fallback: a fresh instance
 * with a limit of 3 admitted 4). The store holds them here and sends them on `ready`.
 *
 * Nothing waits without bound: each item has its own expiry (the limiter's timeout, which
 * it counts from the call until the decision is sent, or the client's connect timeout),
 * the queue holds at most `capacity` items, and the store empties it whenever a connection
 * attempt fails. One `unref`ed timer serves the whole queue, armed for the earliest
 * expiry: it must not keep an idle process alive.
 */

interface Waiting<T> {
  readonly item: T;
  /** performance.now() from which the item is failed. */
  readonly expiresAt: number;
}

export class ReadyQueue<T> {
  readonly #capacity: number;
  readonly #expire: (item: T) => void;
  #items: Array<Waiting<T>> = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  /** `expire` is called for each item whose time ran out (it is no longer queued). */
  constructor(capacity: number, expire: (item: T) => void) {
    this.#capacity = capacity;
    this.#expire = expire;
  }

  get size(): number {
    return this.#items.length;
  }

  /** Queues `item` until {@link take} or `expiresAt` (performance.now()); `false` when the queue is full. */
  push(item: T, expiresAt: number): boolean {
    if (this.#items.length >= this.#capacity) return false;
    this.#items.push({ item, expiresAt });
    if (expiresAt < this.#timerAt) this.#arm(expiresAt);
    return true;
  }

  /** Every queued item, oldest first; the queue is empty after. */
  take(): T[] {
    const items = this.#items.map((waiting) => waiting.item);
    this.#items = [];
    this.#disarm();
    return items;
  }

  #arm(at: number): void {
    this.#disarm();
    this.#timerAt = at;
    this.#timer = setTimeout(this.#sweep, Math.max(1, Math.ceil(at - performance.now())));
    this.#timer.unref?.();
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  readonly #sweep = (): void => {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = performance.now();
    const expired: T[] = [];
    const kept: Array<Waiting<T>> = [];
    let next = Number.POSITIVE_INFINITY;
    for (const waiting of this.#items) {
      if (waiting.expiresAt <= now) expired.push(waiting.item);
      else {
        kept.push(waiting);
        if (waiting.expiresAt < next) next = waiting.expiresAt;
      }
    }
    this.#items = kept;
    if (next !== Number.POSITIVE_INFINITY) this.#arm(next);
    for (const item of expired) this.#expire(item);
  };
}
