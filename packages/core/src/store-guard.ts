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
 *
 * A timeout is the store's fault only (issue 13): it counts from the moment the store says
 * the decision left this process (`sent()`), not from the call, so time a decision spends
 * queued behind this process's own work (a batching store flushes once per event-loop
 * turn) is not blamed on the store; and it is judged only after the event loop has had a
 * turn to read the store's socket, since Node runs expired timers before it polls for I/O
 * (SPEC section 6) and a reply that already arrived must not count as lost. When the store
 * does answer after the limiter gave up and answered without it, a charge the store made
 * for a request the fallback refused is refunded.
 */
import { setImmediate } from 'node:timers';
import { StoreError } from './errors.js';
import { MemoryStore } from './memory-store.js';
import type { ConsumeOptions, ConsumeResult, Store, StoreCheck } from './store.js';

/** How the limiter answers while the store is failing. */
export type FaultMode = 'local' | 'open' | 'closed';

export interface StoreFaultOptions {
  /** See {@link FaultMode}. Default `'local'`. */
  readonly mode?: FaultMode;
  /**
   * Longest wait for the store's answer, in milliseconds, counted from when the decision
   * is sent to the store (a store that queues decisions, like the Redis store, says when);
   * the request is then answered per `mode`. Default `50`.
   */
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

/**
 * Calls that time out together (a batch the store did not answer) are one failure for the
 * circuit breaker, not one each, as are calls a store fails with one error: a single slow
 * batch of 200 decisions must not open the circuit and send every request of the next
 * second to the local fallback.
 */
const COUNTED = Symbol('counted');

/** The options passed to a synchronous store (the same objects every call: nothing to time). */
const CHARGE: ConsumeOptions = Object.freeze({});
const PEEK: ConsumeOptions = Object.freeze({ peek: true });

/** A store call in flight, waiting for its answer or its deadline; the store's `ConsumeOptions` for that call. */
class Waiting implements ConsumeOptions {
  readonly peek: boolean;
  readonly timeoutMs: number;
  /** `performance.now()` after which the call fails, ms: from the call until `sent()`, then from `sent()`. */
  deadline: number;
  settled = false;
  /** Whether the request was admitted without the store, once the guard gave up on it. */
  admitted: boolean | undefined;
  /** The store's answer, when it came after the guard gave up but before the fallback decided. */
  late: ConsumeResult | undefined;
  /** {@link COUNTED} when another call that expired at the same moment already counted as the failure. */
  failure: typeof COUNTED | undefined = undefined;
  readonly checks: readonly StoreCheck[];
  reject: (error: unknown) => void = () => undefined;

  constructor(checks: readonly StoreCheck[], peek: boolean, timeoutMs: number) {
    this.checks = checks;
    this.peek = peek;
    this.timeoutMs = timeoutMs;
    this.deadline = performance.now() + timeoutMs;
  }

  sent(): void {
    if (!this.settled) this.deadline = performance.now() + this.timeoutMs;
  }
}

/** The store did not answer in time; carries the call so a late answer can be reconciled. */
class DeadlineExceeded extends StoreError {
  readonly waiting: Waiting;

  constructor(waiting: Waiting) {
    super(`the store did not answer within ${waiting.timeoutMs} ms`);
    this.waiting = waiting;
  }
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
  /** Calls in flight (see {@link StoreGuard.#expire}). */
  #waiting: Waiting[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** `true` once the store answered synchronously: it then gets the shared options objects. */
  #sync = false;
  /** The error of the last failure counted. */
  #lastError: unknown;

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
   * the caller to hand to {@link StoreGuard.fallback}. `peek`: see `ConsumeOptions.peek`.
   */
  consume(checks: readonly StoreCheck[], peek = false): ConsumeResult | Promise<ConsumeResult> {
    if (this.#openedAt >= 0) {
      if (this.#probing || this.#now() - this.#openedAt < this.#options.cooldownMs) throw CIRCUIT_OPEN;
      this.#probing = true;
    }
    const started = this.#events.timing() ? performance.now() : -1;
    let waiting: Waiting | undefined;
    let options: ConsumeOptions;
    if (this.#sync) {
      options = peek ? PEEK : CHARGE;
    } else {
      waiting = new Waiting(checks, peek, this.#options.timeoutMs);
      options = waiting;
    }
    const result = this.#store.consume(checks, options);
    if (!(result instanceof Promise)) {
      this.#sync = true;
      if (started >= 0) this.#events.latency(performance.now() - started);
      if (this.#failures > 0 || this.#degradedSince >= 0) this.#succeeded();
      return result;
    }
    // A store that answered synchronously before and now does not: time it from the call.
    const call = waiting ?? new Waiting(checks, peek, this.#options.timeoutMs);
    if (started >= 0) {
      const report = () => this.#events.latency(performance.now() - started);
      result.then(report, report);
    }
    return new Promise<ConsumeResult>((resolve, reject) => {
      call.reject = reject;
      this.#wait(call);
      result.then(
        (answer) => {
          if (this.#failures > 0 || this.#degradedSince >= 0) this.#succeeded();
          if (call.settled) {
            this.#lateAnswer(call, answer);
            return;
          }
          call.settled = true;
          resolve(answer);
        },
        (error: unknown) => {
          if (call.settled) return;
          call.settled = true;
          reject(error);
        },
      );
    });
  }

  /**
   * Reads `checks` (each at cost 0: nothing charged, nothing created) for a customer's usage
   * or an operator: the store's answer within the store timeout, else a StoreError. No
   * fallback and no circuit: a usage figure is never guessed.
   */
  async read(checks: readonly StoreCheck[]): Promise<ConsumeResult> {
    const timedOut = Symbol('timed out');
    const answer = await this.bounded(
      Promise.resolve().then(() => this.#store.consume(checks)),
      timedOut,
    );
    if (answer === timedOut) {
      throw new StoreError(`The store did not answer within ${this.#options.timeoutMs} ms (storeFaults.timeoutMs).`);
    }
    return answer;
  }

  /**
   * Bounds a lookup that is not a decision (an identity's override): `fallback` if `promise`
   * has not settled within the store timeout, judged after the event loop has polled once.
   */
  bounded<T, F>(promise: Promise<T>, fallback: F): Promise<T | F> {
    return new Promise<T | F>((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => {
        setImmediate(() => {
          if (done) return;
          done = true;
          resolve(fallback);
        });
      }, this.#options.timeoutMs);
      timer.unref?.();
      promise.then(
        (value) => {
          clearTimeout(timer);
          if (done) return;
          done = true;
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          if (done) return;
          done = true;
          reject(error);
        },
      );
    });
  }

  /**
   * Puts a call on the deadline list. One timer serves every call in flight, armed for the
   * earliest deadline: a timer per request would cost more than the rest of the guard.
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
    const due: Waiting[] = [];
    const kept: Waiting[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const waiting of this.#waiting) {
      if (waiting.settled) continue;
      if (waiting.deadline <= now) {
        due.push(waiting);
      } else {
        kept.push(waiting);
        if (waiting.deadline < next) next = waiting.deadline;
      }
    }
    this.#waiting = kept;
    if (kept.length > 0) this.#arm(next - now);
    if (due.length === 0) return;
    // Timers run before the event loop polls for I/O. After a busy stretch the deadline can
    // pass while the reply already sits unread in the socket: give the poll phase one turn
    // (setImmediate runs after it) and fail only the calls whose reply still has not come
    // and whose deadline a late `sent()` did not move.
    setImmediate(() => {
      const at = performance.now();
      let expired = false;
      for (const waiting of due) {
        if (waiting.settled) continue;
        if (waiting.deadline > at) {
          this.#wait(waiting);
          continue;
        }
        waiting.settled = true;
        waiting.failure = expired ? COUNTED : undefined;
        expired = true;
        waiting.reject(new DeadlineExceeded(waiting));
      }
    });
  };

  /**
   * Records a failure (unless it was the open circuit itself) and answers from the local
   * store; `undefined` in `closed` mode.
   */
  fallback(checks: readonly StoreCheck[], error: unknown, peek = false): ConsumeResult | undefined {
    if (error instanceof DeadlineExceeded && error.waiting.failure === COUNTED) this.#events.storeError(error);
    else if (error !== CIRCUIT_OPEN) this.#failed(error);
    if (this.#degradedSince < 0) {
      this.#degradedSince = this.#now();
      this.#events.degraded(this.#options.mode, error);
    }
    let answer: ConsumeResult | undefined;
    if (this.#options.mode !== 'closed') {
      this.#local ??= new MemoryStore({ now: this.#now, sweepIntervalMs: 10_000, onFull: () => undefined });
      answer = this.#local.consume(this.#localShare(checks), peek ? PEEK : CHARGE);
    }
    if (error instanceof DeadlineExceeded) {
      const waiting = error.waiting;
      waiting.admitted = this.#options.mode === 'open' || answer?.allowed === true;
      if (waiting.late !== undefined) this.#lateAnswer(waiting, waiting.late);
    }
    return answer;
  }

  /**
   * The store answered a call the guard had given up on. If it charged a request that was
   * refused without it (by the local fallback, or with a 503), give the charge back: the
   * client must not pay for a request it never got.
   */
  #lateAnswer(waiting: Waiting, answer: ConsumeResult): void {
    if (waiting.admitted === undefined) {
      waiting.late = answer;
      return;
    }
    waiting.late = undefined;
    if (waiting.peek || waiting.admitted || !answer.allowed) return;
    this.refund(waiting.checks, answer);
  }

  /** Gives back a charge the store made (see `Store.refund`); failures are reported, never thrown. */
  refund(checks: readonly StoreCheck[], answer: ConsumeResult): void {
    const refund = this.#store.refund;
    if (refund === undefined) return;
    try {
      const done = refund.call(this.#store, checks, answer);
      if (done instanceof Promise) done.then(undefined, (error: unknown) => this.#events.storeError(error));
    } catch (error) {
      this.#events.storeError(error);
    }
  }

  /** Gives back what the local fallback charged (a request it admitted was refused after all). */
  refundLocal(checks: readonly StoreCheck[], answer: ConsumeResult): void {
    this.#local?.refund(this.#localShare(checks), answer);
  }

  /** The checks as the local fallback charges them: each cost times `instances`, at most the capacity. */
  #localShare(checks: readonly StoreCheck[]): readonly StoreCheck[] {
    const instances = this.#options.instances;
    if (instances === 1) return checks;
    return checks.map((check) => ({ ...check, cost: Math.min(check.capacity, check.cost * instances) }));
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
    // A store that fails several calls with one error (a batch it sent together) failed once.
    if (error !== this.#lastError) this.#failures++;
    this.#lastError = error;
    this.#events.storeError(error);
    if (this.#openedAt >= 0 || this.#failures >= this.#options.failureThreshold) this.#openedAt = this.#now();
  }

  #succeeded(): void {
    this.#failures = 0;
    this.#lastError = undefined;
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
