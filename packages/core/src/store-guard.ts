/**
 * What happens when the store fails (SPEC section 4): a bounded wait, a circuit breaker so
 * a dead store costs nothing per request, and one of three documented answers:
 *
 * - `local` (default): decide with an in-process memory store, each request charged
 *   `instances` times so N instances together admit about the configured total;
 * - `open`: serve every request, with headers from that same local estimate;
 * - `closed`: refuse with 503 and Retry-After (never 429: a store failure is not the
 *   client's fault).
 *
 * Only asynchronous stores are guarded by the timeout: the memory store answers in the
 * same tick and cannot hang.
 */
import { StoreError } from './errors.js';
import { MemoryStore } from './memory-store.js';
import type { ConsumeResult, Store, StoreCheck } from './store.js';

/** How the limiter answers while the store is failing. */
export type FaultMode = 'local' | 'open' | 'closed';

export interface StoreFaultOptions {
  /** See {@link FaultMode}. Default `'local'`. */
  readonly mode?: FaultMode;
  /** Longest wait for the store, in milliseconds, before the request is answered per `mode`. Default `50`. */
  readonly timeoutMs?: number;
  /**
   * App instances sharing the store. In `local` and `open` modes each request is charged
   * this many times against the in-process limits, so the instances together admit about
   * the configured total. Default `1`.
   */
  readonly instances?: number;
  /** Consecutive failures that open the circuit (no store calls until it half-opens). Default `3`. */
  readonly failureThreshold?: number;
  /** How long the circuit stays open before one probe request tries the store again, in milliseconds. Default `1_000`. */
  readonly cooldownMs?: number;
}

export interface ResolvedFaultOptions {
  readonly mode: FaultMode;
  readonly timeoutMs: number;
  readonly instances: number;
  readonly failureThreshold: number;
  readonly cooldownMs: number;
}

/** Listeners the guard reports transitions to. */
export interface GuardEvents {
  /** Whether anyone wants `latency` (timing costs two clock reads per call). */
  timing(): boolean;
  /** How long a store call took, ms, success or failure. */
  latency(ms: number): void;
  storeError(error: unknown): void;
  degraded(mode: FaultMode, error: unknown): void;
  recovered(downtimeMs: number): void;
}

/** Why the store was not used, for the fallback. */
export const CIRCUIT_OPEN = new StoreError('the circuit is open after repeated store failures; not calling the store');

/** A store call in flight, waiting for its answer or its deadline. */
interface Waiting {
  /** `performance.now()` after which the call fails, ms. */
  readonly deadline: number;
  settled: boolean;
  readonly reject: (error: unknown) => void;
}

export class StoreGuard {
  readonly #store: Store;
  readonly #options: ResolvedFaultOptions;
  readonly #now: () => number;
  readonly #events: GuardEvents;
  #local: MemoryStore | undefined;
  #failures = 0;
  #openedAt = -1;
  #probing = false;
  #degradedSince = -1;
  /** Calls in flight, oldest first (see {@link StoreGuard.#wait}). */
  #waiting: Waiting[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(store: Store, options: ResolvedFaultOptions, now: () => number, events: GuardEvents) {
    this.#store = store;
    this.#options = options;
    this.#now = now;
    this.#events = events;
  }

  get mode(): FaultMode {
    return this.#options.mode;
  }

  /** True while requests are being answered without the store. */
  get degraded(): boolean {
    return this.#degradedSince >= 0;
  }

  /**
   * The store's answer, or a rejection (a StoreError for a timeout or an open circuit) for
   * the caller to hand to {@link StoreGuard.fallback}.
   */
  consume(checks: readonly StoreCheck[]): ConsumeResult | Promise<ConsumeResult> {
    if (this.#openedAt >= 0) {
      if (this.#probing || this.#now() - this.#openedAt < this.#options.cooldownMs) throw CIRCUIT_OPEN;
      this.#probing = true;
    }
    const started = this.#events.timing() ? performance.now() : -1;
    const result = this.#store.consume(checks);
    if (!(result instanceof Promise)) {
      if (started >= 0) this.#events.latency(performance.now() - started);
      if (this.#failures > 0 || this.#degradedSince >= 0) this.#succeeded();
      return result;
    }
    if (started >= 0) {
      const report = () => this.#events.latency(performance.now() - started);
      result.then(report, report);
    }
    return new Promise<ConsumeResult>((resolve, reject) => {
      const waiting: Waiting = { deadline: performance.now() + this.#options.timeoutMs, settled: false, reject };
      this.#wait(waiting);
      result.then(
        (answer) => {
          if (this.#failures > 0 || this.#degradedSince >= 0) this.#succeeded();
          if (waiting.settled) return;
          waiting.settled = true;
          resolve(answer);
        },
        (error: unknown) => {
          if (waiting.settled) return;
          waiting.settled = true;
          reject(error);
        },
      );
    });
  }

  /**
   * Puts a call on the deadline queue. One timer serves every call in flight, armed for the
   * oldest one (all share one timeout, so the queue is in deadline order): a timer per
   * request would cost more than the rest of the guard together.
   */
  #wait(waiting: Waiting): void {
    this.#waiting.push(waiting);
    if (this.#timer === undefined) this.#arm(this.#options.timeoutMs);
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(this.#expire, Math.max(1, Math.ceil(ms)));
    // The store's own socket keeps the process alive while a call is in flight; this timer
    // alone must not hold an idle process open.
    this.#timer.unref?.();
  }

  readonly #expire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    const queue = this.#waiting;
    let head = 0;
    const expired: Waiting[] = [];
    while (head < queue.length) {
      const waiting = queue[head] as Waiting;
      if (!waiting.settled) {
        if (waiting.deadline > now) break;
        expired.push(waiting);
      }
      head++;
    }
    this.#waiting = head === queue.length ? [] : queue.slice(head);
    if (this.#waiting.length > 0) this.#arm((this.#waiting[0] as Waiting).deadline - now);
    if (expired.length === 0) return;
    // Timers run before the event loop polls for I/O. After a busy stretch (a burst of
    // requests), the deadline can pass while the reply already sits unread in the socket:
    // so the timeout gives the poll phase one turn (setImmediate runs after it) and fails
    // only the calls whose reply still has not come.
    setImmediate(() => {
      const error = new StoreError(`the store did not answer within ${this.#options.timeoutMs} ms`);
      for (const waiting of expired) {
        if (waiting.settled) continue;
        waiting.settled = true;
        waiting.reject(error);
      }
    });
  };

  /** Records a failure (unless it was the open circuit itself) and answers from the local store. */
  fallback(checks: readonly StoreCheck[], error: unknown): ConsumeResult | undefined {
    if (error !== CIRCUIT_OPEN) this.#failed(error);
    if (this.#degradedSince < 0) {
      this.#degradedSince = this.#now();
      this.#events.degraded(this.#options.mode, error);
    }
    if (this.#options.mode === 'closed') return undefined;
    this.#local ??= new MemoryStore({ now: this.#now, sweepIntervalMs: 10_000, onFull: () => undefined });
    const instances = this.#options.instances;
    const scaled =
      instances === 1
        ? checks
        : checks.map((check) => ({ ...check, cost: Math.min(check.capacity, check.cost * instances) }));
    return this.#local.consume(scaled);
  }

  /** How long a client refused under `closed` should wait: until the circuit half-opens, at least a second. */
  retryAfterMs(): number {
    if (this.#openedAt < 0) return 1_000;
    return Math.max(1_000, this.#options.cooldownMs - (this.#now() - this.#openedAt));
  }

  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#local?.close();
  }

  #failed(error: unknown): void {
    this.#probing = false;
    this.#failures++;
    this.#events.storeError(error);
    if (this.#openedAt >= 0 || this.#failures >= this.#options.failureThreshold) this.#openedAt = this.#now();
  }

  #succeeded(): void {
    this.#failures = 0;
    this.#openedAt = -1;
    this.#probing = false;
    if (this.#degradedSince >= 0) {
      const downtime = this.#now() - this.#degradedSince;
      this.#degradedSince = -1;
      // State counted locally during the outage is dropped: the shared store is the truth again.
      this.#local?.reset();
      this.#events.recovered(downtime);
    }
  }
}
