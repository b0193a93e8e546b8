/**
 * One connection's slot in its API key's connection cap: a lease in the lease store with
 * a TTL, renewed by the connection's heartbeat and given back exactly once.
 *
 * Why leases and not a counter: a counter incremented on connect and decremented on close
 * leaks a slot for every connection of an instance that crashes (no close ever runs), and
 * goes negative when a close is counted twice. A lease lapses on its own when its holder
 * stops renewing it, and releasing a lease twice is harmless (core's LeaseStore).
 *
 * When the store fails, `onStoreFailure` decides (see LeaseFaultMode): hold the lease in
 * an in-process store (`local`), hold none (`open`), or refuse (`closed`). A connection
 * that is not holding a lease in the shared store tries to get one at every heartbeat.
 */
import type { LeaseStore, Warning } from '@tierlimit/core';
import { bounded } from './with-timeout.js';

/**
 * What the guard does when the lease store fails or times out while an upgrade takes its
 * connection lease. Never a 429: a store failure is not the client's fault.
 *
 * - `local` (default): take the lease in an in-process store instead, so the tier's cap
 *   still holds per instance. The connection moves to the shared store at a later
 *   heartbeat once it answers again (and is closed with 1013 if the cap is full there).
 * - `open`: admit the connection without a lease; it takes one at a later heartbeat once
 *   the store answers (closed with 1013 if the cap is full by then).
 * - `closed`: refuse the upgrade with 503 `SERVICE_UNAVAILABLE` and `Retry-After`.
 */
export type LeaseFaultMode = 'local' | 'open' | 'closed';

/** What a lease needs from its guard. */
export interface LeaseContext {
  /** The shared lease store (Redis, or the limiter's memory store). */
  readonly store: LeaseStore;
  /** The in-process store used while `store` fails (`local` mode); created on first use. */
  readonly local: () => LeaseStore;
  readonly ttlMs: number;
  readonly timeoutMs: number;
  readonly onStoreFailure: LeaseFaultMode;
  readonly warn: (warning: Warning) => void;
}

/** Where a lease is held: the shared store, the in-process fallback, or nowhere (`open` mode). */
export type LeaseHolding = 'shared' | 'local' | 'none';

type TakeResult = 'held' | 'full' | 'unavailable';

export class ConnectionLease {
  /** The lease set's storage key: `connections:<identity>`. */
  readonly key: string;
  /** The cap: most live leases on `key`. */
  readonly max: number;
  readonly #context: LeaseContext;
  #holding: LeaseHolding = 'none';
  #id: string | undefined;
  #released = false;
  #renewing = false;

  private constructor(context: LeaseContext, key: string, max: number) {
    this.#context = context;
    this.key = key;
    this.max = max;
  }

  /**
   * Takes a lease on `key` if fewer than `max` are live: the lease, `'full'` when the cap
   * is reached, or `'unavailable'` when the store failed and the mode is `closed`. Never
   * rejects.
   */
  static async acquire(
    context: LeaseContext,
    key: string,
    max: number,
  ): Promise<ConnectionLease | 'full' | 'unavailable'> {
    const lease = new ConnectionLease(context, key, max);
    const result = await lease.#take();
    return result === 'held' ? lease : result;
  }

  /** Where the lease is held now. */
  get holding(): LeaseHolding {
    return this.#holding;
  }

  /** True once released. */
  get released(): boolean {
    return this.#released;
  }

  /**
   * The heartbeat: extends the lease by the TTL; if it had lapsed (or is held outside the
   * shared store), takes a new one. Resolves `false` when the connection must close: the
   * cap is full and this connection no longer holds a slot. Never rejects.
   */
  async renew(): Promise<boolean> {
    // A slow store call still running from the last beat: skip this one rather than pile up.
    if (this.#released || this.#renewing) return true;
    this.#renewing = true;
    try {
      return await this.#renew();
    } finally {
      this.#renewing = false;
    }
  }

  /** Gives the lease back, once; later calls do nothing. Never rejects. */
  release(): Promise<void> {
    if (this.#released) return Promise.resolve();
    this.#released = true;
    const [holding, id] = [this.#holding, this.#id];
    this.#holding = 'none';
    this.#id = undefined;
    return this.#giveBack(holding, id);
  }

  async #renew(): Promise<boolean> {
    const { store, ttlMs, timeoutMs } = this.#context;
    if (this.#holding === 'shared' && this.#id !== undefined) {
      let renewed: boolean;
      try {
        renewed = await bounded(() => store.renewLease(this.key, this.#id as string, ttlMs), timeoutMs);
      } catch (error) {
        // The lease may well still be live in the store: keep the connection, try again next beat.
        this.#failed(error);
        return true;
      }
      if (renewed || this.#released) return true;
      // Lapsed (the event loop stalled past the TTL, or the store lost its data): the slot
      // may have gone to another connection, so this one needs a new lease to stay.
      this.#holding = 'none';
      this.#id = undefined;
    }
    return (await this.#take()) === 'held';
  }

  /** Takes a lease in the shared store, falling back per `onStoreFailure` when it fails. */
  async #take(): Promise<TakeResult> {
    const { store, ttlMs, timeoutMs } = this.#context;
    let id: string | undefined;
    try {
      id = await bounded(
        () => store.acquireLease(this.key, this.max, ttlMs),
        timeoutMs,
        // Taken after we gave up waiting: give it back rather than let it hold a slot for a TTL.
        (late) => {
          if (late !== undefined) void this.#giveBack('shared', late);
        },
      );
    } catch (error) {
      this.#failed(error);
      return this.#fallback();
    }
    if (id === undefined) return 'full';
    this.#hold('shared', id);
    return 'held';
  }

  /** The shared store failed: answer per `onStoreFailure`. */
  #fallback(): TakeResult {
    const { local, ttlMs, onStoreFailure } = this.#context;
    if (onStoreFailure === 'closed') return 'unavailable';
    if (onStoreFailure === 'open') {
      if (this.#holding !== 'shared') this.#hold('none', undefined);
      return 'held';
    }
    const fallback = local();
    if (this.#holding === 'local' && this.#id !== undefined) {
      // The in-process store answers synchronously (a memory store), so no timeout is needed.
      if (fallback.renewLease(this.key, this.#id, ttlMs) === true) return 'held';
    }
    const id = fallback.acquireLease(this.key, this.max, ttlMs);
    if (typeof id !== 'string') return 'full';
    this.#hold('local', id);
    return 'held';
  }

  /** Switches to a new lease, giving back the one held before (or the new one, if released meanwhile). */
  #hold(holding: LeaseHolding, id: string | undefined): void {
    if (this.#released) {
      void this.#giveBack(holding, id);
      return;
    }
    const [previous, previousId] = [this.#holding, this.#id];
    this.#holding = holding;
    this.#id = id;
    if (previousId !== undefined && previousId !== id) void this.#giveBack(previous, previousId);
  }

  async #giveBack(holding: LeaseHolding, id: string | undefined): Promise<void> {
    if (id === undefined || holding === 'none') return;
    const { store, local, timeoutMs } = this.#context;
    const from = holding === 'shared' ? store : local();
    try {
      await bounded(() => from.releaseLease(this.key, id), timeoutMs);
    } catch (error) {
      // Not given back: it lapses on its own after the TTL, which is what leases are for.
      this.#failed(error);
    }
  }

  #failed(error: unknown): void {
    this.#context.warn({
      code: 'TL_WS_LEASE_STORE_FAILED',
      message: `the connection lease store failed (${error instanceof Error ? error.message : typeof error}); new connections are answered per connections.onStoreFailure '${this.#context.onStoreFailure}', and leases not given back lapse after their TTL.`,
      error,
    });
  }
}
