import { randomUUID } from 'node:crypto';
import { concurrency } from './algorithms/concurrency.js';
import {
  algorithmOf,
  newWork,
  type Report,
  type StoredField,
  slidingWindow,
  tokenBucket,
  type Work,
} from './algorithms/index.js';
import { ConfigurationError } from './errors.js';
import type {
  AdminStore,
  CheckState,
  ConsumeOptions,
  ConsumeResult,
  LeaseStore,
  Penalty,
  Store,
  StoreCheck,
  StoredOverride,
  Suspension,
} from './store.js';
import { nonNegativeInteger, optionalFunction, positiveInteger, rejectUnknownKeys } from './validate.js';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most identities (storage keys) tracked at once. When full, a new key takes the slot of
   * an expired or unexhausted key; a key that is currently limited is never evicted, so
   * overflow cannot reset it. Default `1_000_000` (about 110 MB at the worst).
   */
  readonly maxKeys?: number;
  /** Clock in milliseconds since the epoch. Default `Date.now`. */
  readonly now?: () => number;
  /**
   * Period of the background sweep that reclaims expired state while the store is idle,
   * in milliseconds; `0` turns it off (requests still reclaim state as they go). The
   * timer is `unref`ed and there is one per store, never one per key. Default `1_000`.
   */
  readonly sweepIntervalMs?: number;
  /**
   * What happens when all `maxKeys` slots hold live state and a request needs a slot for a
   * new key (issue 13):
   * - `'evict'`: of 32 slots sampled, the key that has used the smallest share of its limit
   *   gives up its slot (a key out of room right now never does). Its used units are
   *   forgotten, so that client can get at most that many extra in its current window;
   *   {@link MemoryStore.evictedUnits} counts them (the Prometheus entry exports it).
   * - `'refuse'`: live state is never forgotten: the request is refused, charged nothing,
   *   and the limiter answers 503 with a `Retry-After` until a slot frees up;
   *   {@link MemoryStore.refusedForSpace} counts them.
   * In both modes, a request is refused this way when every sampled key is out of room.
   * Default `'evict'`.
   */
  readonly whenFull?: 'evict' | 'refuse';
  /** Called once, the first time the store is full. Default `console.warn`. */
  readonly onFull?: (message: string) => void;
}

/** Slots examined per request by the incremental sweep: enough to outpace one new key per request. */
const SWEEP_PER_CALL = 2;
/** Slots examined per background tick: a few milliseconds of work at most. */
const SWEEP_PER_TICK = 20_000;
/** Slots examined to find an eviction victim when the store is full. */
const EVICTION_SCAN = 32;
const INITIAL_SLOTS = 1_024;

/**
 * In-memory store, bounded and timer-free per key.
 *
 * State lives in typed arrays indexed by slot (`Map<key, slot>` finds the slot), so a
 * tracked key costs a map entry, its key string and about 40 bytes, and the hot path
 * allocates nothing but the answer. Each algorithm (algorithms/) names its stored fields;
 * they are kept in a slot's three numbers, in the algorithm's order. Expired state is
 * reclaimed by a clock hand that advances a couple of slots on every call (constant work
 * per request) and by one `unref`ed timer while idle. rate-limiter-flexible's memory limiter
 * keeps a timer per key instead (about 405 bytes each and a 100 ms stall when a million
 * expire together): SPEC 6. Concurrency limits keep their leases in a map per key.
 */
export class MemoryStore implements Store, LeaseStore, AdminStore {
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #sweepIntervalMs: number;
  readonly #onFull: (message: string) => void;
  readonly #index = new Map<string, number>();
  #keys: Array<string | undefined> = [];
  /** A slot's stored numbers, in its algorithm's field order (a penalty key: the count or 1, then its end). */
  #f0 = new Float64Array(0);
  #f1 = new Float64Array(0);
  #f2 = new Float64Array(0);
  /** From this time on, the slot's state equals no state at all and may be reclaimed. */
  #expires = new Float64Array(0);
  /** Before this time the key is being limited and must not be evicted. */
  #guard = new Float64Array(0);
  /** The limit of the slot's check, for eviction's "share used" (0: a penalty key). */
  #capacity = new Float32Array(0);
  /** The slot's algorithm: 0 none (a penalty key), else 1 + its script number. */
  #algorithm = new Uint8Array(0);
  readonly #whenFull: 'evict' | 'refuse';
  #evictedUnits = 0;
  #refusedForSpace = 0;
  /** When the store was last found full: the soonest expiry among the slots sampled, ms. */
  #nextFree = 0;
  /** First free slot below the high-water mark, or -1; a free slot keeps the next one in `#f0`. */
  #freeHead = -1;
  #freeCount = 0;
  #highWater = 0;
  #hand = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #warnedFull = false;
  // Scratch space for one call (consume is synchronous, so one set per store is enough).
  #slots = new Int32Array(4);
  /** Per check of the current call: its working state (a concurrency check: `used` live leases, `windowEnd` the soonest expiry). */
  #work: Work[] = [newWork(), newWork(), newWork(), newWork()];
  /** Per check of the current call: 1 when it has room. */
  #fits = new Uint8Array(4);
  /** Per check of the current call: the rest of its identity's suspension in ms, or -1. */
  #blocked = new Float64Array(4);
  /** Per check of the current call: 1 when no slot could be found for its new key. */
  #noRoom = new Uint8Array(4);
  readonly #report: Report = { remaining: 0, resetMs: 0, retryMs: 0 };
  /** Leases by key: lease id -> expiry. Bounded by the live leases (connections, requests) themselves. */
  readonly #leases = new Map<string, Map<string, number>>();
  /** The last lease id handed out by a concurrency check. */
  #leaseSeq = 0;
  /** Limit overrides by identity; few, set by operators. */
  readonly #overrides = new Map<string, StoredOverride>();

  constructor(options: MemoryStoreOptions = {}) {
    rejectUnknownKeys(options, ['maxKeys', 'now', 'sweepIntervalMs', 'whenFull', 'onFull'], 'memoryStore options');
    const whenFull = options.whenFull ?? 'evict';
    if (whenFull !== 'evict' && whenFull !== 'refuse') {
      throw new ConfigurationError(`Expected \`whenFull\` to be 'evict' or 'refuse', got ${JSON.stringify(whenFull)}.`);
    }
    this.#whenFull = whenFull;
    this.#maxKeys = positiveInteger(options.maxKeys ?? 1_000_000, 'maxKeys');
    if (this.#maxKeys > 16_000_000) {
      throw new ConfigurationError(
        `Expected \`maxKeys\` to be at most 16000000 (the size limit of a JavaScript Map), got ${this.#maxKeys}.`,
      );
    }
    this.#now = optionalFunction(options.now, 'now') ?? Date.now;
    this.#sweepIntervalMs = nonNegativeInteger(options.sweepIntervalMs ?? 1_000, 'sweepIntervalMs');
    this.#onFull = optionalFunction(options.onFull, 'onFull') ?? ((message) => console.warn(message));
    this.#resize(Math.min(INITIAL_SLOTS, this.#maxKeys));
  }

  /** Number of keys currently tracked. */
  get size(): number {
    return this.#index.size;
  }

  /** Units of live state forgotten to make room for new keys (`whenFull: 'evict'`): the most a store at its cap has over-admitted. */
  get evictedUnits(): number {
    return this.#evictedUnits;
  }

  /** Requests refused because no slot could be found for their new key. */
  get refusedForSpace(): number {
    return this.#refusedForSpace;
  }

  /** The storage keys currently tracked (hashed identities, never raw API keys). */
  keys(): IterableIterator<string> {
    return this.#index.keys();
  }

  consume(checks: readonly StoreCheck[], options?: ConsumeOptions): ConsumeResult {
    const now = this.#now();
    const peek = options?.peek === true;
    const count = checks.length;
    if (count > this.#fits.length) this.#growScratch(count);
    const index = this.#index;
    const slots = this.#slots;
    const work = this.#work;
    const fits = this.#fits;
    const blocked = this.#blocked;
    let allowed = true;

    // Phase 1: read every check as of now, charge nothing.
    for (let i = 0; i < count; i++) {
      const check = checks[i] as StoreCheck;
      const w = work[i] as Work;
      let fit: boolean;
      if (check.algorithm === 'concurrency') {
        slots[i] = -1;
        const leases = this.#liveLeases(check.key, now);
        w.used = leases?.size ?? 0;
        w.windowEnd = leases === undefined ? 0 : soonest(leases);
        fit = concurrency.fits(w.used, check, check.cost);
      } else {
        const spec = algorithmOf(check.algorithm);
        if (spec === undefined)
          throw new ConfigurationError(`The memory store has no algorithm \`${check.algorithm}\`.`);
        const slot = index.get(check.key) ?? -1;
        slots[i] = slot;
        w.fresh = slot < 0 || now >= (this.#expires[slot] as number);
        w.dirty = false;
        if (!w.fresh) this.#load(spec.fields, slot, w);
        spec.current(w, check, now);
        fit = spec.fits(w, check, check.cost, now);
      }
      const penalty = check.penalty;
      const suspendedMs = penalty === undefined ? -1 : this.#suspendedFor(penalty.blockKey, now);
      blocked[i] = suspendedMs;
      if (suspendedMs > 0) fit = false;
      fits[i] = fit ? 1 : 0;
      if (!fit && !check.shadow) allowed = false;
    }

    // Phase 1b: a slot for each new key this call would charge, found with every slot of the
    // call known (so none of them is evicted). With no room, that check does not fit.
    const noRoom = this.#noRoom;
    for (let i = 0; i < count; i++) noRoom[i] = 0;
    for (let i = 0; i < count && allowed; i++) {
      const check = checks[i] as StoreCheck;
      if (check.algorithm === 'concurrency') continue;
      if ((slots[i] as number) >= 0 || check.cost === 0 || peek || fits[i] === 0) continue;
      const slot = this.#allocate(check.key, now, count);
      if (slot < 0) {
        noRoom[i] = 1;
        fits[i] = 0;
        if (!check.shadow) allowed = false;
        continue;
      }
      slots[i] = slot;
      // A fresh state, equal to no state until charged (and reclaimable until then).
      this.#expires[slot] = now;
      this.#capacity[slot] = check.capacity;
      this.#algorithm[slot] = 1 + (algorithmOf(check.algorithm)?.code ?? 0);
    }

    // Phase 2: charge all or nothing, and describe each check.
    const out = this.#report;
    const states: CheckState[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const check = checks[i] as StoreCheck;
      const w = work[i] as Work;
      const fit = fits[i] === 1;
      const charge = allowed && fit && !peek ? check.cost : 0;
      let lease: string | undefined;
      if (check.algorithm === 'concurrency') {
        let live = w.used;
        if (charge > 0) {
          lease = String(++this.#leaseSeq);
          this.#addLease(check.key, lease, now + (check.leaseMs ?? 0));
          live += charge;
          if (w.windowEnd === 0) w.windowEnd = now + (check.leaseMs ?? 0);
        }
        concurrency.report(live, w.windowEnd, check, fit, now, out);
      } else {
        const spec = algorithmOf(check.algorithm) as NonNullable<ReturnType<typeof algorithmOf>>;
        if (charge > 0) spec.charge(w, check, charge);
        spec.report(w, check, check.cost, fit, now, out);
        const slot = slots[i] as number;
        if (slot >= 0 && (charge > 0 || w.dirty)) {
          this.#save(spec.fields, slot, w);
          this.#expires[slot] = spec.expiresAt(w, check, now);
          if (out.remaining < 1) this.#guard[slot] = now + out.resetMs;
        }
        if (!fit && slot >= 0) this.#guard[slot] = now + out.resetMs;
      }
      const { remaining, resetMs, retryMs } = out;
      const suspendedMs = blocked[i] as number;
      if (noRoom[i] === 1) {
        this.#refusedForSpace++;
        states[i] = { allowed: false, remaining, resetMs, retryMs: Math.max(1, this.#nextFree - now), full: true };
      } else if (suspendedMs > 0) {
        states[i] = { allowed: false, remaining, resetMs, retryMs: suspendedMs, suspended: true };
      } else if (
        !allowed &&
        !fit &&
        !peek &&
        !check.shadow &&
        check.penalty !== undefined &&
        this.#violation(check.penalty, now, count)
      ) {
        states[i] = {
          allowed: false,
          remaining,
          resetMs,
          retryMs: check.penalty.blockMs,
          suspended: true,
          suspendedNow: true,
        };
      } else if (lease !== undefined) {
        states[i] = { allowed: fit, remaining, resetMs, retryMs, lease };
      } else {
        states[i] = { allowed: fit, remaining, resetMs, retryMs };
      }
    }

    this.#sweep(SWEEP_PER_CALL, now);
    return { allowed, states, now };
  }

  refund(checks: readonly StoreCheck[], result: ConsumeResult): void {
    if (!result.allowed) return;
    const now = this.#now();
    const at = result.now ?? now;
    const w = this.#work[0] as Work;
    for (let i = 0; i < checks.length; i++) {
      const check = checks[i] as StoreCheck;
      const state = result.states[i];
      if (state === undefined || !state.allowed || check.cost === 0) continue;
      if (check.algorithm === 'concurrency') {
        if (state.lease !== undefined) this.releaseLease(check.key, state.lease);
        continue;
      }
      const spec = algorithmOf(check.algorithm);
      const slot = this.#index.get(check.key);
      if (spec === undefined || slot === undefined || now >= (this.#expires[slot] as number)) continue;
      w.fresh = false;
      this.#load(spec.fields, slot, w);
      if (spec.refund(w, check, check.cost, at, state.resetMs)) this.#save(spec.fields, slot, w);
    }
  }

  /** Reads a slot's stored numbers into the named fields of `w`, in the algorithm's order. */
  #load(fields: readonly StoredField[], slot: number, w: Work): void {
    w[fields[0] as StoredField] = this.#f0[slot] as number;
    w[fields[1] as StoredField] = this.#f1[slot] as number;
    if (fields.length > 2) w[fields[2] as StoredField] = this.#f2[slot] as number;
  }

  /** Writes the named fields of `w` into a slot's stored numbers, in the algorithm's order. */
  #save(fields: readonly StoredField[], slot: number, w: Work): void {
    this.#f0[slot] = w[fields[0] as StoredField];
    this.#f1[slot] = w[fields[1] as StoredField];
    if (fields.length > 2) this.#f2[slot] = w[fields[2] as StoredField];
  }

  /** Makes the per-call scratch space hold `count` checks. */
  #growScratch(count: number): void {
    const size = Math.max(count, this.#fits.length * 2);
    const slots = new Int32Array(size);
    slots.set(this.#slots);
    this.#slots = slots;
    while (this.#work.length < size) this.#work.push(newWork());
    this.#fits = new Uint8Array(size);
    this.#blocked = new Float64Array(size);
    this.#noRoom = new Uint8Array(size);
  }

  listSuspensions(): Suspension[] {
    const now = this.#now();
    const found: Suspension[] = [];
    for (const [key, slot] of this.#index) {
      if (!key.startsWith('suspended:')) continue;
      const until = this.#f1[slot] as number;
      if (now < until) found.push({ identity: key.slice('suspended:'.length), until });
    }
    return found;
  }

  liftSuspension(identity: string): boolean {
    const was = this.#suspendedFor(`suspended:${identity}`, this.#now()) > 0;
    this.reset(`suspended:${identity}`);
    this.reset(`violations:${identity}`);
    return was;
  }

  getOverride(identity: string): StoredOverride | undefined {
    const override = this.#overrides.get(identity);
    if (override?.expiresAt !== undefined && this.#now() >= override.expiresAt) {
      this.#overrides.delete(identity);
      return undefined;
    }
    return override;
  }

  setOverride(identity: string, override: StoredOverride): void {
    this.#overrides.set(identity, override);
  }

  deleteOverride(identity: string): boolean {
    return this.#overrides.delete(identity);
  }

  listOverrides(): Array<{ identity: string; override: StoredOverride }> {
    const live: Array<{ identity: string; override: StoredOverride }> = [];
    for (const identity of [...this.#overrides.keys()]) {
      const override = this.getOverride(identity);
      if (override !== undefined) live.push({ identity, override });
    }
    return live;
  }

  /** Milliseconds left of the suspension kept at `blockKey`, or -1 when there is none. */
  #suspendedFor(blockKey: string, now: number): number {
    const slot = this.#index.get(blockKey);
    if (slot === undefined) return -1;
    const until = this.#f1[slot] as number;
    return now < until ? until - now : -1;
  }

  /** Counts one denial; on the threshold-th within the window, suspends the identity. Returns true if it did. */
  #violation(penalty: Penalty, now: number, busyCount: number): boolean {
    let slot = this.#index.get(penalty.violationKey) ?? -1;
    let denials = 1;
    let windowEnd = now + penalty.windowMs;
    if (slot >= 0 && now < (this.#f1[slot] as number)) {
      denials = (this.#f0[slot] as number) + 1;
      windowEnd = this.#f1[slot] as number;
    }
    if (denials >= penalty.threshold) {
      if (slot >= 0) this.#release(slot);
      const block = this.#index.get(penalty.blockKey) ?? this.#allocate(penalty.blockKey, now, busyCount);
      if (block >= 0) {
        const until = now + penalty.blockMs;
        this.#f0[block] = 1;
        this.#f1[block] = until;
        this.#expires[block] = until;
        this.#guard[block] = until;
      }
      return true;
    }
    if (slot < 0) slot = this.#allocate(penalty.violationKey, now, busyCount);
    if (slot >= 0) {
      this.#f0[slot] = denials;
      this.#f1[slot] = windowEnd;
      this.#expires[slot] = windowEnd;
      // Evidence of abuse: keep it through the window even when the store is full.
      this.#guard[slot] = windowEnd;
    }
    return false;
  }

  /**
   * Reclaims expired state now, examining at most `maxSlots` slots from where the last
   * sweep stopped. Returns the number of keys reclaimed.
   */
  sweep(maxSlots: number = this.#highWater): number {
    return this.#sweep(maxSlots, this.#now());
  }

  /** Forgets one storage key, or every key when called without one. */
  reset(key?: string): void {
    if (key === undefined) {
      this.#index.clear();
      this.#keys = [];
      this.#freeHead = -1;
      this.#freeCount = 0;
      this.#highWater = 0;
      this.#hand = 0;
      this.#resize(Math.min(INITIAL_SLOTS, this.#maxKeys));
      return;
    }
    const slot = this.#index.get(key);
    if (slot !== undefined) this.#release(slot);
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  acquireLease(key: string, max: number, ttlMs: number): string | undefined {
    const now = this.#now();
    const leases = this.#liveLeases(key, now);
    if (leases !== undefined && leases.size >= max) return undefined;
    const id = randomUUID();
    if (leases === undefined) this.#leases.set(key, new Map([[id, now + ttlMs]]));
    else leases.set(id, now + ttlMs);
    return id;
  }

  renewLease(key: string, lease: string, ttlMs: number): boolean {
    const now = this.#now();
    const leases = this.#liveLeases(key, now);
    if (leases === undefined || !leases.has(lease)) return false;
    leases.set(lease, now + ttlMs);
    return true;
  }

  releaseLease(key: string, lease: string): boolean {
    const leases = this.#leases.get(key);
    if (leases === undefined || !leases.delete(lease)) return false;
    if (leases.size === 0) this.#leases.delete(key);
    return true;
  }

  countLeases(key: string): number {
    return this.#liveLeases(key, this.#now())?.size ?? 0;
  }

  /** Adds a lease to `key`'s set (a concurrency check's slot). */
  #addLease(key: string, lease: string, expiresAt: number): void {
    const leases = this.#leases.get(key);
    if (leases === undefined) this.#leases.set(key, new Map([[lease, expiresAt]]));
    else leases.set(lease, expiresAt);
  }

  /** The unexpired leases of `key` (lapsed ones are dropped on the way). */
  #liveLeases(key: string, now: number): Map<string, number> | undefined {
    const leases = this.#leases.get(key);
    if (leases === undefined) return undefined;
    for (const [id, expiresAt] of leases) if (expiresAt <= now) leases.delete(id);
    if (leases.size > 0) return leases;
    this.#leases.delete(key);
    return undefined;
  }

  #sweep(maxSlots: number, now: number): number {
    const limit = Math.min(maxSlots, this.#highWater);
    let reclaimed = 0;
    for (let i = 0; i < limit; i++) {
      if (this.#hand >= this.#highWater) this.#hand = 0;
      const slot = this.#hand++;
      if (this.#keys[slot] !== undefined && now >= (this.#expires[slot] as number)) {
        this.#release(slot);
        reclaimed++;
      }
    }
    return reclaimed;
  }

  #release(slot: number): void {
    const key = this.#keys[slot];
    if (key === undefined) return;
    this.#index.delete(key);
    this.#keys[slot] = undefined;
    this.#guard[slot] = 0;
    this.#f0[slot] = this.#freeHead;
    this.#freeHead = slot;
    this.#freeCount++;
  }

  /** Finds a slot for a new key; -1 when the store is full of keys that must be kept. */
  #allocate(key: string, now: number, busyCount: number): number {
    let slot = -1;
    if (this.#freeCount > 0) {
      slot = this.#freeHead;
      this.#freeHead = this.#f0[slot] as number;
      this.#freeCount--;
    } else if (this.#highWater < this.#maxKeys) {
      if (this.#highWater === this.#f0.length) {
        this.#resize(Math.min(this.#maxKeys, this.#f0.length * 2));
      }
      slot = this.#highWater++;
    } else {
      if (!this.#warnedFull) {
        this.#warnedFull = true;
        this.#onFull(
          this.#whenFull === 'evict'
            ? `[tierlimit] TL_MEMORY_STORE_FULL: all ${this.#maxKeys} keys of the memory store hold live state; new keys now take the slots of the least-used ones (whenFull: 'evict'), whose used units are forgotten (counted in evictedUnits). Raise \`maxKeys\` or use a shared store.`
            : `[tierlimit] TL_MEMORY_STORE_FULL: all ${this.#maxKeys} keys of the memory store hold live state; requests for new keys are refused with 503 until some expire (whenFull: 'refuse'). Raise \`maxKeys\` or use a shared store.`,
        );
      }
      slot = this.#evict(now, busyCount);
      if (slot < 0) return -1;
    }
    this.#index.set(key, slot);
    this.#keys[slot] = key;
    this.#guard[slot] = 0;
    this.#capacity[slot] = 0;
    this.#algorithm[slot] = 0;
    if (this.#timer === undefined && this.#sweepIntervalMs > 0) {
      this.#timer = setInterval(() => this.#sweep(SWEEP_PER_TICK, this.#now()), this.#sweepIntervalMs);
      this.#timer.unref?.();
    }
    return slot;
  }

  /**
   * A slot for a new key in a full store: an expired key's, else (`whenFull: 'evict'`) the
   * one, of the slots sampled, whose key has used the smallest share of its limit and is
   * not out of room now; never one of the first `busyCount` slots of the current call.
   * -1 when there is none (then `#nextFree` is the soonest expiry seen).
   */
  #evict(now: number, busyCount: number): number {
    let best = -1;
    let bestShare = Number.POSITIVE_INFINITY;
    let nextFree = Number.POSITIVE_INFINITY;
    for (let i = 0; i < EVICTION_SCAN; i++) {
      if (this.#hand >= this.#highWater) this.#hand = 0;
      const slot = this.#hand++;
      if (this.#isBusy(slot, busyCount)) continue;
      const expires = this.#expires[slot] as number;
      if (now >= expires) {
        best = slot;
        bestShare = -1;
        break;
      }
      if (expires < nextFree) nextFree = expires;
      const capacity = this.#capacity[slot] as number;
      if (this.#whenFull === 'refuse' || capacity === 0 || now < (this.#guard[slot] as number)) continue;
      const share = this.#usedUnits(slot) / capacity;
      if (share < bestShare) {
        best = slot;
        bestShare = share;
      }
    }
    if (best < 0) {
      this.#nextFree = nextFree;
      return -1;
    }
    if (bestShare >= 0) this.#evictedUnits += this.#usedUnits(best);
    const key = this.#keys[best];
    if (key !== undefined) this.#index.delete(key);
    this.#guard[best] = 0;
    return best;
  }

  /**
   * Units a slot's key has used, as last written: a bucket's missing tokens (it refills
   * since: an upper bound), a sliding window's two counts, a window's count.
   */
  #usedUnits(slot: number): number {
    const code = (this.#algorithm[slot] as number) - 1;
    if (code === tokenBucket.code) return Math.max(0, (this.#capacity[slot] as number) - (this.#f0[slot] as number));
    if (code === slidingWindow.code) return (this.#f0[slot] as number) + (this.#f2[slot] as number);
    return this.#f0[slot] as number;
  }

  #isBusy(slot: number, busyCount: number): boolean {
    for (let i = 0; i < busyCount; i++) if (this.#slots[i] === slot) return true;
    return false;
  }

  #resize(slots: number): void {
    const grow = (old: Float64Array) => {
      const next = new Float64Array(slots);
      next.set(old.subarray(0, Math.min(old.length, slots)));
      return next;
    };
    this.#f0 = grow(this.#f0);
    this.#f1 = grow(this.#f1);
    this.#f2 = grow(this.#f2);
    this.#expires = grow(this.#expires);
    this.#guard = grow(this.#guard);
    const capacity = new Float32Array(slots);
    capacity.set(this.#capacity.subarray(0, Math.min(this.#capacity.length, slots)));
    this.#capacity = capacity;
    const algorithm = new Uint8Array(slots);
    algorithm.set(this.#algorithm.subarray(0, Math.min(this.#algorithm.length, slots)));
    this.#algorithm = algorithm;
  }
}

/** Creates the default in-memory store. See {@link MemoryStoreOptions}. */
export function memoryStore(options?: MemoryStoreOptions): MemoryStore {
  return new MemoryStore(options);
}

/** When the soonest of some leases lapses, ms since the epoch. */
function soonest(leases: ReadonlyMap<string, number>): number {
  let first = Number.POSITIVE_INFINITY;
  for (const expiresAt of leases.values()) if (expiresAt < first) first = expiresAt;
  return first;
}
