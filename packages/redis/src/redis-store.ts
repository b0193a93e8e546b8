import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
// Not the global: a test that fakes timers must not hold Redis decisions back.
import { setImmediate } from 'node:timers';
import {
  type AdminStore,
  algorithmOf,
  type CheckState,
  ConfigurationError,
  type ConsumeOptions,
  type ConsumeResult,
  concurrency,
  createWarner,
  type LeaseStore,
  type Store,
  type StoreCheck,
  type StoredOverride,
  StoreError,
  type Suspension,
  type Warner,
} from '@tierlimit/core';
import { Cluster, type Redis } from 'ioredis';
import { createRedisClient } from './client-options.js';
import { ClockOffsets } from './clock-offset.js';
import { evictionRisk } from './eviction.js';
import { slotOfTag } from './key-slot.js';
import { redisKey } from './keys.js';
import { ReadyQueue } from './ready-queue.js';
import { CONSUME, LEASE_ACQUIRE, LEASE_COUNT, LEASE_RELEASE, LEASE_RENEW, REFUND } from './scripts.js';
import { WARNING } from './warnings.js';

/** An ioredis client for one Redis, or for a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/** Options of {@link redisStore}. Give `client` or `url`, not both. */
export interface RedisStoreOptions {
  /**
   * Your ioredis client or cluster. Create it with `recommendedRedisOptions()` (or use
   * `url`): with ioredis's defaults a request can hang while Redis is down and be counted
   * twice after a reconnect. Not closed by `close()`.
   */
  readonly client?: RedisClient;
  /** Redis URL (`redis://127.0.0.1:6379`); the store creates, and closes, a client with the recommended options. */
  readonly url?: string;
  /** Key prefix, ending with the key-format version. Default `'tl:1:'`. */
  readonly prefix?: string;
  /** For tests only: a clock in ms to use instead of Redis `TIME`. Default: Redis's own clock. */
  readonly now?: () => number;
  /**
   * Receives warnings (an unsafe client, connection errors, a Redis that may evict keys,
   * a failed refund), once per episode: a code is reported again only after its condition
   * was seen to end (a connection error, after the client was ready again). Default
   * `console.warn`.
   */
  readonly onWarning?: (warning: { readonly code: string; readonly message: string }) => void;
}

interface ScriptCommands {
  tierlimitConsume(keyCount: number, ...keysAndArgs: Array<string | number>): Promise<unknown>;
  tierlimitRefund(keyCount: number, ...keysAndArgs: Array<string | number>): Promise<unknown>;
  tierlimitLeaseAcquire(key: string, now: string, max: number, ttlMs: number, id: string): Promise<number>;
  tierlimitLeaseRenew(key: string, now: string, ttlMs: number, id: string): Promise<number>;
  tierlimitLeaseCount(key: string, now: string): Promise<number>;
  tierlimitLeaseRelease(key: string, id: string): Promise<number>;
}

/** One script call's worth of checks (all in one Cluster slot): their indexes in the request. */
interface Group {
  readonly indexes: number[];
}

/** A check as the script takes it, built once per check object (the limiter reuses them). */
interface Encoded {
  /** Its policy key, then its penalty keys (denial count, suspension marker) if it has a penalty. */
  readonly keys: readonly string[];
  /** The identity, the keys' hash tag. */
  readonly identity: string;
  /** Its nine numbers for the script (see CONSUME). */
  readonly spec: string;
}

/** One `consume` call, shared by the script calls it takes (one per slot across a cluster's slots). */
interface Call {
  readonly options: ConsumeOptions | undefined;
  readonly timeoutMs: number | undefined;
  /** performance.now() when its first script call was written; -1 until then. */
  sentAt: number;
}

/** One script call's decision waiting to be sent and answered. */
interface Pending {
  readonly call: Call;
  readonly checks: readonly Encoded[];
  /** Its checks' specs, joined with ','. */
  readonly spec: string;
  /** Decide without charging (a peek, or the rest of a cross-slot request already denied). */
  readonly peek: boolean;
  /** The hash tag of its keys: on a cluster, its slot and so the node that runs it. */
  readonly identity: string;
  /** performance.now() when it was asked for: a wait for the connection counts from here. */
  readonly queuedAt: number;
  readonly resolve: (result: ScriptResult) => void;
  readonly reject: (error: unknown) => void;
}

/** A decision as the script answered it, with the time (ms) the script used. */
type ScriptResult = ConsumeResult & { readonly now: number };

/** Reply fields per check: flags (1 fits, 2 suspended, 4 suspended now), remaining, resetMs, retryMs. */
const FIELDS_PER_STATE = 5;
/** The `allowed` field of a decision the script refused to run: it was past its deadline. */
const LATE = 2;
/** A decision's deadline in Redis stays this far inside ioredis's commandTimeout (see #send), ms. */
const REPLY_MARGIN_MS = 50;
/**
 * Most decisions in one script call. A batch holds the decisions of one turn of the event
 * loop; the cap bounds how long one script keeps Redis busy (about 2 us per decision).
 */
const MAX_BATCH = 128;
/**
 * Most decisions waiting for the connection. A process that starts under load may see
 * thousands of requests before it connects; more than this are failed at once (the
 * limiter then answers them per its fault mode) instead of growing memory without bound.
 */
const MAX_WAITING = 10_000;
/** Longest wait for QUIT's reply in `close()`, ms: a healthy Redis answers in well under one. */
const QUIT_WAIT_MS = 500;
/** ioredis's default `connectTimeout`, ms: the longest a decision waits for the connection without a limiter timeout. */
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/**
 * Client statuses in which a connection is on its way (ioredis 5 and 6, `Redis` and
 * `Cluster`): a decision waits for `ready` instead of failing at once. `close` is the
 * moment between a lost connection and `reconnecting` (or `end`). Not waited for: `end`
 * and `disconnecting` (closed on purpose), in which ioredis fails each command itself.
 */
const CONNECTING = new Set(['wait', 'connecting', 'connect', 'reconnecting', 'close']);
const SCRIPTS = [CONSUME, REFUND, LEASE_ACQUIRE, LEASE_RENEW, LEASE_COUNT, LEASE_RELEASE];

/**
 * Store on Redis (or Redis Cluster) through ioredis: each decision is one atomic Lua call
 * on the server, so any number of app instances sharing one Redis admit exactly the
 * configured number of requests in total.
 */
export class RedisStore implements Store, LeaseStore, AdminStore {
  readonly #client: RedisClient & ScriptCommands;
  /** A Redis Cluster: checks are grouped by hash slot and each decision is sent alone. */
  readonly #cluster: boolean;
  readonly #owned: boolean;
  readonly #prefix: string;
  readonly #now: (() => number) | undefined;
  readonly #warnings: Warner;
  /** The client queues commands itself while disconnected (not recommended): then the store does not. */
  readonly #offlineQueue: boolean;
  readonly #connectTimeoutMs: number;
  /** How long ioredis waits for a reply (its commandTimeout; unbounded without one), ms. */
  readonly #replyWaitMs: number;
  #batch: Pending[] = [];
  #flushScheduled = false;
  #closed = false;
  readonly #encoded = new WeakMap<StoreCheck, Encoded>();
  readonly #offsets = new ClockOffsets();
  readonly #waiting: ReadyQueue<Pending>;
  /** Listeners the store put on the client and its nodes, removed by `close()`. */
  readonly #listeners: Array<{ emitter: EventEmitter; event: string; listener: (...args: unknown[]) => void }> = [];
  readonly #watchedNodes = new WeakSet<Redis>();

  constructor(options: RedisStoreOptions) {
    if ((options.client === undefined) === (options.url === undefined)) {
      throw new ConfigurationError(
        'Expected exactly one of `client` (an ioredis client) or `url` (a Redis URL) in redisStore options.',
      );
    }
    const prefix = options.prefix ?? 'tl:1:';
    if (typeof prefix !== 'string' || /[{}\s]/.test(prefix)) {
      throw new ConfigurationError(
        `Expected \`prefix\` to be a string without braces or spaces, got ${JSON.stringify(prefix)}.`,
      );
    }
    this.#prefix = prefix;
    this.#now = options.now;
    this.#warnings = createWarner(options.onWarning);
    const client =
      options.client ??
      createRedisClient(options.url as string, {
        onError: (error) =>
          this.#warnings.episode({
            code: WARNING.connection,
            message: `Redis connection error: ${error.message} (ioredis reconnects on its own).`,
          }),
      });
    this.#owned = options.client === undefined;
    if (!this.#owned) this.#checkClient(client);
    client.defineCommand('tierlimitConsume', { lua: CONSUME });
    client.defineCommand('tierlimitRefund', { lua: REFUND });
    client.defineCommand('tierlimitLeaseAcquire', { lua: LEASE_ACQUIRE, numberOfKeys: 1 });
    client.defineCommand('tierlimitLeaseRenew', { lua: LEASE_RENEW, numberOfKeys: 1 });
    client.defineCommand('tierlimitLeaseCount', { lua: LEASE_COUNT, numberOfKeys: 1 });
    client.defineCommand('tierlimitLeaseRelease', { lua: LEASE_RELEASE, numberOfKeys: 1 });
    this.#client = client as RedisClient & ScriptCommands;
    this.#cluster = client instanceof Cluster;
    const clientOptions = client instanceof Cluster ? client.options.redisOptions : client.options;
    this.#offlineQueue = client.options.enableOfflineQueue !== false;
    this.#connectTimeoutMs = clientOptions?.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#replyWaitMs = clientOptions?.commandTimeout ?? Number.POSITIVE_INFINITY;
    this.#waiting = new ReadyQueue(MAX_WAITING, (pending) =>
      pending.reject(
        new StoreError(
          `waited ${Math.round(performance.now() - pending.queuedAt)} ms for the Redis connection to become ready; not sent`,
        ),
      ),
    );
    this.#listen(client, 'ready', this.#onReady);
    // A connection attempt that failed (each one ends with `close`), or the client closed
    // for good: what waits for the connection fails now rather than at its expiry.
    this.#listen(client, 'close', this.#onClose);
    this.#listen(client, 'end', this.#onClose);
    if (client instanceof Cluster) {
      this.#listen(client, '+node', (node) => this.#watchNode(node as Redis));
      for (const node of client.nodes('all')) this.#watchNode(node);
    }
    if (client.status === 'ready') this.#onReady();
  }

  /** The ioredis client in use. */
  get client(): RedisClient {
    return this.#client;
  }

  /** The Redis key that holds `storageKey` (see the key format in keys.ts and the README). */
  keyFor(storageKey: string): string {
    return redisKey(this.#prefix, storageKey).key;
  }

  /** Resolves true once connected, false if `timeoutMs` passes first; never rejects (the app may start without Redis). */
  ready(timeoutMs = 2_000): Promise<boolean> {
    if (this.#client.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (value: boolean) => {
        clearTimeout(timer);
        this.#client.off('ready', onReady);
        resolve(value);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#client.on('ready', onReady);
    });
  }

  consume(checks: readonly StoreCheck[], options?: ConsumeOptions): Promise<ConsumeResult> {
    const call: Call = { options, timeoutMs: options?.timeoutMs, sentAt: -1 };
    const peek = options?.peek === true;
    // One Redis: one script call for all keys. A cluster: keys of one identity share a slot;
    // several identities need one call each, refunded if a later one is denied.
    if (!this.#cluster) return this.#run(checks, call, peek);
    const groups = new Map<string, Group>();
    for (let i = 0; i < checks.length; i++) {
      const { identity } = this.#encode(checks[i] as StoreCheck);
      let group = groups.get(identity);
      if (group === undefined) {
        group = { indexes: [] };
        groups.set(identity, group);
      }
      group.indexes.push(i);
    }
    if (groups.size <= 1) return this.#run(checks, call, peek);
    return this.#acrossSlots([...groups.values()], checks, call, peek);
  }

  /**
   * Gives back what `consume(checks)` charged when it answered `result` (see `Store.refund`):
   * each check that fitted, at its cost; a fixed window only while it is still the window
   * of the charge (`result.now + resetMs`), a bucket capped at its capacity. On a cluster,
   * one script call per slot. Never rejects: a refund that fails leaves the charge in
   * place, which errs on the strict side, and is reported as `TL_REDIS_REFUND_FAILED`.
   */
  async refund(checks: readonly StoreCheck[], result: ConsumeResult): Promise<void> {
    if (!result.allowed) return;
    await this.#giveBack(checks, result.states, result.now);
  }

  /** The check's keys and spec, built on its first request and kept while the limiter keeps the check. */
  #encode(check: StoreCheck): Encoded {
    let encoded = this.#encoded.get(check);
    if (encoded === undefined) {
      const { key, identity } = redisKey(this.#prefix, check.key);
      const { penalty } = check;
      // A concurrency limit: its lease set, then the sequence of its lease ids.
      const keys = check.algorithm === 'concurrency' ? [key, `${key}:seq`] : [key];
      if (penalty !== undefined) {
        keys.push(redisKey(this.#prefix, penalty.violationKey).key, redisKey(this.#prefix, penalty.blockKey).key);
      }
      encoded = { keys, identity, spec: specOf(check) };
      this.#encoded.set(check, encoded);
    }
    return encoded;
  }

  async acquireLease(key: string, max: number, ttlMs: number): Promise<string | undefined> {
    const id = randomUUID();
    const taken = await this.#client.tierlimitLeaseAcquire(this.keyFor(key), this.#nowArg(), max, ttlMs, id);
    return Number(taken) === 1 ? id : undefined;
  }

  async renewLease(key: string, lease: string, ttlMs: number): Promise<boolean> {
    return Number(await this.#client.tierlimitLeaseRenew(this.keyFor(key), this.#nowArg(), ttlMs, lease)) === 1;
  }

  async releaseLease(key: string, lease: string): Promise<boolean> {
    return Number(await this.#client.tierlimitLeaseRelease(this.keyFor(key), lease)) === 1;
  }

  async countLeases(key: string): Promise<number> {
    return Number(await this.#client.tierlimitLeaseCount(this.keyFor(key), this.#nowArg()));
  }

  async listSuspensions(): Promise<Suspension[]> {
    const found: Suspension[] = [];
    for (const { identity, key } of await this.#scan('suspended')) {
      let value: string | null;
      try {
        value = await this.#client.get(key);
      } catch {
        // Not a string (overwritten by something else): no suspension; the next decision deletes it.
        continue;
      }
      const until = Number(value);
      if (value !== null && Number.isFinite(until) && until > 0) found.push({ identity, until });
    }
    return found;
  }

  async liftSuspension(identity: string): Promise<boolean> {
    const [suspended, violations] = [
      this.#identityKey(identity, 'suspended'),
      this.#identityKey(identity, 'violations'),
    ];
    const removed = await this.#client.del(suspended);
    await this.#client.del(violations);
    return removed === 1;
  }

  async getOverride(identity: string): Promise<StoredOverride | undefined> {
    const value = await this.#client.get(this.#identityKey(identity, 'override'));
    return value === null ? undefined : (JSON.parse(value) as StoredOverride);
  }

  async setOverride(identity: string, override: StoredOverride): Promise<void> {
    const key = this.#identityKey(identity, 'override');
    const value = JSON.stringify(override);
    if (override.expiresAt === undefined) await this.#client.set(key, value);
    else await this.#client.set(key, value, 'PXAT', Math.floor(override.expiresAt));
  }

  async deleteOverride(identity: string): Promise<boolean> {
    return (await this.#client.del(this.#identityKey(identity, 'override'))) === 1;
  }

  async listOverrides(): Promise<Array<{ identity: string; override: StoredOverride }>> {
    const found: Array<{ identity: string; override: StoredOverride }> = [];
    for (const { identity, key } of await this.#scan('override')) {
      const value = await this.#client.get(key);
      if (value !== null) found.push({ identity, override: JSON.parse(value) as StoredOverride });
    }
    return found;
  }

  /**
   * Sends the decisions already asked for, fails those still waiting for the connection,
   * and closes the client if the store made it (`url`), so the process can exit: `QUIT`
   * when connected (the replies in flight still arrive), else at once.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    const error = new StoreError('the Redis store was closed before its connection was ready; not sent');
    for (const pending of this.#waiting.take()) pending.reject(error);
    for (const { emitter, event, listener } of this.#listeners) emitter.off(event, listener);
    this.#listeners.length = 0;
    if (!this.#owned) return;
    if (this.#client.status === 'ready') {
      // A paused Redis never answers QUIT: wait a little, not the whole commandTimeout,
      // then drop the socket (a shutting-down process should not linger for Redis).
      let timer: ReturnType<typeof setTimeout> | undefined;
      const quit = this.#client.quit().then(
        () => true,
        () => false,
      );
      const wait = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), QUIT_WAIT_MS);
      });
      const quitted = await Promise.race([quit, wait]);
      clearTimeout(timer);
      if (quitted) return;
    }
    this.#client.disconnect();
  }

  /**
   * Decides one request's checks (one slot's, on a cluster). On one Redis the decision joins
   * the batch of this turn of the event loop; on a cluster (whose batches could span slots)
   * it is sent alone.
   */
  #run(checks: readonly StoreCheck[], call: Call, peek: boolean): Promise<ScriptResult> {
    const encoded: Encoded[] = new Array(checks.length);
    let spec = '';
    for (let i = 0; i < checks.length; i++) {
      const one = this.#encode(checks[i] as StoreCheck);
      encoded[i] = one;
      spec = i === 0 ? one.spec : `${spec},${one.spec}`;
    }
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        call,
        checks: encoded,
        spec,
        peek,
        identity: encoded[0]?.identity ?? '',
        queuedAt: performance.now(),
        resolve,
        reject,
      };
      if (this.#cluster) {
        this.#dispatch([pending]);
        return;
      }
      this.#batch.push(pending);
      if (this.#batch.length >= MAX_BATCH) this.#flush();
      else if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(this.#flushLater);
      }
    });
  }

  readonly #flushLater = (): void => {
    this.#flushScheduled = false;
    this.#flush();
  };

  #flush(): void {
    if (this.#batch.length === 0) return;
    const batch = this.#batch;
    this.#batch = [];
    this.#dispatch(batch);
  }

  /**
   * Sends `batch` now, or, while the client is connecting and its offline queue is off,
   * holds it until the connection is ready (see ready-queue.ts). With the offline queue on,
   * ioredis queues by itself; once closed on purpose, ioredis fails each command itself.
   */
  #dispatch(batch: Pending[]): void {
    const client = this.#client;
    if (client.status === 'ready' || this.#offlineQueue || this.#closed || !CONNECTING.has(client.status)) {
      this.#send(batch);
      return;
    }
    // A lazyConnect client connects on its first command: with the command held here, ask.
    if (client.status === 'wait') client.connect().catch(() => undefined);
    for (const pending of batch) {
      const { timeoutMs } = pending.call;
      // The limiter times a decision from the call until it is sent: past its timeout it has
      // answered without Redis, and sending it then could only count it twice.
      const waitMs = timeoutMs === undefined ? this.#connectTimeoutMs : Math.min(timeoutMs, this.#connectTimeoutMs);
      if (!this.#waiting.push(pending, pending.queuedAt + waitMs)) {
        pending.reject(
          new StoreError(`${MAX_WAITING} decisions are already waiting for the Redis connection; not sent`),
        );
      }
    }
  }

  /** The connection is ready (again): load the scripts, learn the clock, check eviction, send what waited. */
  readonly #onReady = (): void => {
    this.#warnings.endEpisode(WARNING.connection);
    void this.#preload();
    this.#sampleClocks();
    void this.#checkEviction();
    const waiting = this.#waiting.take();
    if (this.#cluster) {
      for (const pending of waiting) this.#send([pending]);
    } else {
      for (let i = 0; i < waiting.length; i += MAX_BATCH) this.#send(waiting.slice(i, i + MAX_BATCH));
    }
  };

  readonly #onClose = (): void => {
    // The next connection may reach another server, with another clock.
    if (!this.#cluster) this.#offsets.reset('');
    if (this.#waiting.size === 0) return;
    const error = new StoreError('the Redis connection attempt failed; not sent');
    for (const pending of this.#waiting.take()) pending.reject(error);
  };

  /** One script call for the decisions in `batch`, each answered (or failed) on its own. */
  #send(batch: readonly Pending[]): void {
    const node = this.#cluster ? this.#nodeOf((batch[0] as Pending).identity) : '';
    const args: string[] = [];
    for (const pending of batch) for (const check of pending.checks) for (const key of check.keys) args.push(key);
    const keyCount = args.length;
    args.push(this.#nowArg(), '0');
    for (const pending of batch) args.push(pending.peek ? `1;${pending.spec}` : `0;${pending.spec}`);
    // The moment of writing, taken as late as possible: a pause of this process before it
    // (a garbage collection, the scheduler) is this process's own delay, and must not be
    // counted as Redis's (measured: 147 ms between building a batch and writing it, on a
    // busy 2-core machine, which made Redis refuse the batch as late).
    const local = performance.now();
    const offset = this.#now === undefined && node !== undefined ? this.#offsets.get(node, local) : undefined;
    if (offset !== undefined) {
      // In Redis time, seen through an offset that is never below the true one (see
      // clock-offset.ts): the earliest moment, of the batch's decisions, after which the
      // limiter has surely stopped waiting and its late reply might be lost. That is one more
      // timeout after the limiter's own deadline, within ioredis's commandTimeout: a
      // decision Redis charges between the two comes back and is reconciled by the limiter
      // (refunded if it refused the request without Redis), so the deadline need not be
      // tight; and this process itself can stall for over 100 ms while it writes a batch (a
      // garbage collection, the scheduler: measured on a busy 2-core machine), which a tight
      // deadline would blame on Redis. No timeout, or no offset known yet: no deadline. With
      // a test clock the script's time is fixed when the call is written, so it cannot be late.
      let deadline = Number.POSITIVE_INFINITY;
      for (const { call } of batch) {
        if (call.timeoutMs === undefined) continue;
        const wait = Math.max(call.timeoutMs, Math.min(2 * call.timeoutMs, this.#replyWaitMs - REPLY_MARGIN_MS));
        deadline = Math.min(deadline, (call.sentAt < 0 ? local : call.sentAt) + wait);
      }
      if (deadline !== Number.POSITIVE_INFINITY) args[keyCount + 1] = String(Math.floor(deadline + offset));
    }
    let sent: Promise<unknown>;
    try {
      sent = this.#client.tierlimitConsume(keyCount, ...args);
    } catch (error) {
      sent = Promise.reject(error);
    }
    // The limiter's timeout counts from here, once the batch is written: a stall of this
    // process during the write is not the store's.
    for (const { call } of batch) {
      if (call.sentAt >= 0) continue;
      call.sentAt = local;
      try {
        call.options?.sent?.();
      } catch {
        // The limiter's hook: a failure there must not keep the batch's other decisions unsent.
      }
    }
    sent.then(
      (reply) => {
        let expected = 1;
        for (const pending of batch) expected += 1 + pending.checks.length * FIELDS_PER_STATE;
        if (!Array.isArray(reply) || reply.length !== expected) {
          const error = new StoreError(
            `unexpected reply from the tierlimit script: ${JSON.stringify(reply)?.slice(0, 100)}`,
          );
          for (const pending of batch) pending.reject(error);
          return;
        }
        const now = Number(reply[0]);
        if (this.#now === undefined && node !== undefined) this.#offsets.sample(node, now, local);
        let at = 1;
        // One error for the batch: its decisions failed together, as one failure.
        let late: StoreError | undefined;
        for (const pending of batch) {
          if (Number(reply[at]) === LATE) {
            late ??= new StoreError(
              "the decision reached Redis after the limiter's deadline; nothing was charged (the limiter answered without Redis)",
            );
            pending.reject(late);
          } else {
            pending.resolve(readDecision(reply, at, pending.checks.length, now));
          }
          at += 1 + pending.checks.length * FIELDS_PER_STATE;
        }
      },
      (error: unknown) => {
        for (const pending of batch) pending.reject(error);
      },
    );
  }

  /**
   * A cluster request whose checks span slots: one script call per slot, in order. After a
   * slot denies, the rest are only read (peeked) for their states and the slots already
   * charged are refunded; if a call fails, so are they, before the failure is reported.
   */
  async #acrossSlots(
    groups: readonly Group[],
    checks: readonly StoreCheck[],
    call: Call,
    peek: boolean,
  ): Promise<ConsumeResult> {
    const states: CheckState[] = new Array(checks.length);
    const charged: number[] = [];
    let allowed = true;
    let now: number | undefined;
    try {
      for (const group of groups) {
        const subset = group.indexes.map((i) => checks[i] as StoreCheck);
        const result = await this.#run(subset, call, peek || !allowed);
        // One clock for the answer: the first slot's. A later slot's durations are shifted
        // so that `now + resetMs` is still that slot's own window end (what refund() matches).
        now ??= result.now;
        const shift = result.now - now;
        group.indexes.forEach((index, j) => {
          states[index] = shifted(result.states[j] as CheckState, shift);
        });
        if (!allowed) continue;
        if (!result.allowed) {
          allowed = false;
          if (charged.length > 0) {
            await this.#giveBack(checks, states, now, charged);
            for (const index of charged) {
              const check = checks[index] as StoreCheck;
              const state = states[index] as CheckState;
              if (state.allowed)
                states[index] = { ...state, remaining: Math.min(check.capacity, state.remaining + check.cost) };
            }
          }
        } else if (!peek) {
          charged.push(...group.indexes);
        }
      }
    } catch (error) {
      if (charged.length > 0) await this.#giveBack(checks, states, now, charged);
      throw error;
    }
    return now === undefined ? { allowed, states } : { allowed, states, now };
  }

  /**
   * The one refund path (`refund()` and cross-slot denials): REFUND for the checks at
   * `indexes` (default all) whose state fitted, one script call per slot on a cluster (a
   * single call on one Redis). A fixed window needs `now` to tell its window; without it
   * only buckets are refunded. Failures are reported, never thrown.
   */
  async #giveBack(
    checks: readonly StoreCheck[],
    states: readonly CheckState[],
    now: number | undefined,
    indexes?: readonly number[],
  ): Promise<void> {
    const calls = new Map<string, { keys: string[]; args: string[] }>();
    const count = indexes?.length ?? checks.length;
    for (let n = 0; n < count; n++) {
      const index = indexes === undefined ? n : (indexes[n] as number);
      const check = checks[index] as StoreCheck;
      const state = states[index];
      // Only what was charged: a check that did not fit (a shadow) or cost nothing was not.
      if (state === undefined || !state.allowed || check.cost === 0) continue;
      // A window needs the time of the charge to tell its window; without it, only buckets and leases.
      if (now === undefined && check.algorithm !== 'token-bucket' && check.algorithm !== 'concurrency') continue;
      const encoded = this.#encode(check);
      const slot = this.#cluster ? encoded.identity : '';
      let call = calls.get(slot);
      if (call === undefined) {
        call = { keys: [], args: [this.#nowArg()] };
        calls.set(slot, call);
      }
      call.keys.push(encoded.keys[0] as string);
      call.args.push(`${encoded.spec} ${now ?? 0} ${state.resetMs} ${state.lease ?? 0}`);
    }
    await Promise.all(
      [...calls.values()].map(async ({ keys, args }) => {
        try {
          await this.#client.tierlimitRefund(keys.length, ...keys, ...args);
          this.#warnings.endEpisode(WARNING.refundFailed);
        } catch (error) {
          // The charge stays: that errs on the strict side, never the lenient one.
          this.#warnings.episode({
            code: WARNING.refundFailed,
            message: `could not refund a charge: ${(error as Error).message}`,
          });
        }
      }),
    );
  }

  #identityKey(identity: string, kind: string): string {
    return `${this.#prefix}{${identity}}:${kind}`;
  }

  /** Every `<prefix>{<identity>}:<kind>` key, on every master of a cluster. An operator's tool: it walks the keyspace. */
  async #scan(kind: string): Promise<Array<{ identity: string; key: string }>> {
    const pattern = `${this.#prefix.replace(/[*?[\]\\]/g, '\\$&')}{*}:${kind}`;
    const found: Array<{ identity: string; key: string }> = [];
    for (const node of this.#masters()) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
        cursor = next;
        for (const key of keys) {
          const open = key.indexOf('{', this.#prefix.length - 1);
          const close = key.lastIndexOf('}');
          if (open >= 0 && close > open) found.push({ identity: key.slice(open + 1, close), key });
        }
      } while (cursor !== '0');
    }
    return found;
  }

  /** The one Redis, or a cluster's masters. */
  #masters(): Redis[] {
    return this.#client instanceof Cluster ? this.#client.nodes('master') : [this.#client];
  }

  async #preload(): Promise<void> {
    // Load the scripts as soon as each connection is ready (and again after every
    // reconnect, since a restarted Redis has forgotten them): otherwise the first burst
    // of requests would each pay a NOSCRIPT round trip before ioredis falls back to EVAL.
    try {
      await Promise.all(this.#masters().flatMap((node) => SCRIPTS.map((lua) => node.script('LOAD', lua))));
    } catch {
      // Not fatal: ioredis still falls back to EVAL on NOSCRIPT.
    }
  }

  /** One `TIME` per master when a connection becomes ready, so deadlines work from the first request. */
  #sampleClocks(): void {
    if (this.#now !== undefined) return;
    for (const node of this.#masters()) {
      const key = this.#cluster ? nodeKey(node) : '';
      const sent = performance.now();
      node.time().then(
        ([seconds, micros]) =>
          this.#offsets.sample(key, Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000), sent),
        () => undefined,
      );
    }
  }

  /** Warns (`TL_REDIS_EVICTION`) when a master may evict keys under memory pressure; see eviction.ts. */
  async #checkEviction(): Promise<void> {
    const risky: string[] = [];
    for (const node of this.#masters()) {
      let info: string;
      try {
        info = await node.info('memory');
      } catch {
        return; // Unknown: neither a warning nor an all-clear.
      }
      const risk = evictionRisk(info);
      if (risk !== undefined)
        risky.push(`${nodeKey(node)} has maxmemory ${risk.maxmemory} bytes and maxmemory-policy ${risk.policy}`);
    }
    if (risky.length === 0) {
      this.#warnings.endEpisode(WARNING.eviction);
      return;
    }
    this.#warnings.episode({
      code: WARNING.eviction,
      message: `Redis may evict rate-limit counters under memory pressure (${risky.join('; ')}): a client whose counter is evicted gets its full limit again. Set maxmemory-policy to noeviction (every tierlimit key has a TTL, so volatile-* policies evict them too).`,
    });
  }

  /** A cluster node's connection closed: forget its clock offset (the next connection may reach another server). */
  #watchNode(node: Redis): void {
    if (this.#watchedNodes.has(node)) return;
    this.#watchedNodes.add(node);
    const key = nodeKey(node);
    this.#listen(node, 'close', () => this.#offsets.reset(key));
  }

  /** The node that serves `identity`'s slot (`host:port`), or `undefined` while the slots are unknown. */
  #nodeOf(identity: string): string | undefined {
    return (this.#client as Cluster).slots[slotOfTag(identity)]?.[0];
  }

  #listen(emitter: EventEmitter, event: string, listener: (...args: unknown[]) => void): void {
    emitter.on(event, listener);
    this.#listeners.push({ emitter, event, listener });
  }

  /** The script's time argument: '' for Redis TIME, or the injected test clock. */
  #nowArg(): string {
    return this.#now === undefined ? '' : String(Math.floor(this.#now()));
  }

  #checkClient(client: RedisClient): void {
    const options =
      client instanceof Cluster
        ? { enableOfflineQueue: client.options.enableOfflineQueue, ...client.options.redisOptions }
        : client.options;
    const unsafe: string[] = [];
    if (options.enableOfflineQueue !== false) unsafe.push('enableOfflineQueue is not false');
    if (options.autoResendUnfulfilledCommands !== false) unsafe.push('autoResendUnfulfilledCommands is not false');
    if (unsafe.length > 0) {
      this.#warnings.episode({
        code: WARNING.unsafeClient,
        message: `the ioredis client may count a request twice or hang while Redis is down (${unsafe.join(', ')}); create it with recommendedRedisOptions().`,
      });
    }
  }
}

/** A node's `host:port`, as ioredis names cluster nodes in its slot table. */
function nodeKey(node: Redis): string {
  return `${node.options.host}:${node.options.port}`;
}

/** `state` with its durations counted from `shift` ms earlier (a later slot of a cross-slot request). */
function shifted(state: CheckState, shift: number): CheckState {
  if (shift === 0) return state;
  return {
    ...state,
    resetMs: Math.max(0, state.resetMs + shift),
    retryMs: state.retryMs === 0 ? 0 : Math.max(0, state.retryMs + shift),
  };
}

/** One decision's part of the script's reply, which starts at `at`: allowed, then five fields per check. */
function readDecision(reply: readonly unknown[], at: number, count: number, now: number): ScriptResult {
  const states: CheckState[] = new Array(count);
  for (let i = 0, field = at + 1; i < count; i++, field += FIELDS_PER_STATE) {
    // Number(): a client created with ioredis's `stringNumbers` gets integer replies as strings.
    const flags = Number(reply[field]);
    const allowed = (flags & 1) === 1;
    const remaining = Number(reply[field + 1]);
    const resetMs = Number(reply[field + 2]);
    const retryMs = Number(reply[field + 3]);
    const lease = Number(reply[field + 4]);
    states[i] =
      flags & 2
        ? flags & 4
          ? { allowed, remaining, resetMs, retryMs, suspended: true, suspendedNow: true }
          : { allowed, remaining, resetMs, retryMs, suspended: true }
        : lease > 0
          ? { allowed, remaining, resetMs, retryMs, lease: String(lease) }
          : { allowed, remaining, resetMs, retryMs };
  }
  return { allowed: Number(reply[at]) === 1, states, now };
}

/** The script's number of an algorithm (see algorithms/ in core). */
function codeOf(check: StoreCheck): number {
  if (check.algorithm === 'concurrency') return concurrency.code;
  const spec = algorithmOf(check.algorithm);
  if (spec === undefined) throw new ConfigurationError(`The Redis store has no algorithm \`${check.algorithm}\`.`);
  return spec.code;
}

/** A check's eleven numbers for the script (see CONSUME), in the order `parse` names them. */
function specOf(check: StoreCheck): string {
  const { penalty } = check;
  return `${codeOf(check)} ${check.limit} ${check.windowMs} ${check.capacity} ${check.cost} ${check.shadow ? 1 : 0} ${penalty === undefined ? '0 0 0' : `${penalty.threshold} ${penalty.windowMs} ${penalty.blockMs}`} ${check.periodEnd ?? 0} ${check.leaseMs ?? 0}`;
}

/** Creates a Redis store. See {@link RedisStoreOptions}. */
export function redisStore(options: RedisStoreOptions): RedisStore {
  return new RedisStore(options);
}
