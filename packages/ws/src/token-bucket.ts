/**
 * The message rate of one connection: a token bucket kept in the connection itself. It
 * never touches a store: a connection lives on one instance, and a store round trip per
 * message would cost more than the message.
 */

/** A token bucket's shape: `limit` units refilled per `windowMs`, holding at most `capacity`. */
export interface ResolvedBucket {
  readonly limit: number;
  readonly windowMs: number;
  readonly capacity: number;
}

/** Floating-point slack: tokens are fractional while refilling. */
const EPSILON = 1e-9;

export class TokenBucket {
  readonly #shape: ResolvedBucket;
  readonly #now: () => number;
  #tokens: number;
  #updatedAt: number;

  constructor(shape: ResolvedBucket, now: () => number) {
    this.#shape = shape;
    this.#now = now;
    this.#tokens = shape.capacity;
    this.#updatedAt = now();
  }

  /** Takes one token. Returns 0 when taken, else the milliseconds until one will be there. */
  take(): number {
    const { limit, windowMs, capacity } = this.#shape;
    const now = this.#now();
    // A clock that goes backwards refills nothing rather than draining the bucket.
    const elapsed = Math.max(0, now - this.#updatedAt);
    this.#tokens = Math.min(capacity, this.#tokens + (elapsed * limit) / windowMs);
    this.#updatedAt = Math.max(now, this.#updatedAt);
    if (this.#tokens + EPSILON >= 1) {
      this.#tokens = Math.max(0, this.#tokens - 1);
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - this.#tokens) * windowMs) / limit - EPSILON));
  }
}
