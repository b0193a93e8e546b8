import { randomUUID } from 'node:crypto';
// Not the global: a test that fakes timers must not hold Redis decisions back.
import { setImmediate } from 'node:timers';
import {
  type AdminStore,
  type CheckState,
  ConfigurationError,
  type ConsumeResult,
  type LeaseStore,
  type Store,
  type StoreCheck,
  type StoredOverride,
  StoreError,
  type Suspension,
} from '@tierlimit/core';
import { Cluster, type Redis } from 'ioredis';
import { createRedisClient } from './client-options.js';
import { redisKey } from './keys.js';
import { CONSUME, LEASE_ACQUIRE, LEASE_COUNT, LEASE_RENEW, REFUND } from './scripts.js';

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
  /** Receives warnings (an unsafe client, connection errors), once per code. Default `console.warn`. */
  readonly onWarning?: (warning: { readonly code: string; readonly message: string }) => void;
}

interface ScriptCommands {
  tierlimitConsume(keyCount: number, ...keysAndArgs: Array<string | number>): Promise<unknown>;
  tierlimitRefund(keyCount: number, ...keysAndArgs: Array<string | number>): Promise<unknown>;
  tierlimitLeaseAcquire(key: string, now: string, max: number, ttlMs: number, id: string): Promise<number>;
  tierlimitLeaseRenew(key: string, now: string, ttlMs: number, id: string): Promise<number>;
  tierlimitLeaseCount(key: string, now: string): Promise<number>;
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

/** One request's decision waiting for the batch it was put in. */
interface Pending {
  readonly checks: readonly Encoded[];
  /** Its checks' specs, joined with ','. */
  readonly spec: string;
  readonly resolve: (result: ScriptResult) => void;
  readonly reject: (error: unknown) => void;
}

/** A decision as the script answered it, with the time (ms) the script used. */
type ScriptResult = ConsumeResult & { readonly now: number };

/** Reply fields per check: flags (1 fits, 2 suspended, 4 suspended now), remaining, resetMs, retryMs. */
const FIELDS_PER_STATE = 4;
/**
 * Most decisions in one script call. A batch holds the decisions of one turn of the event
 * loop; the cap bounds how long one script keeps Redis busy (about 2 us per decision).
 */
const MAX_BATCH = 128;
const SCRIPTS = [CONSUME, REFUND, LEASE_ACQUIRE, LEASE_RENEW, LEASE_COUNT];

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
  readonly #warn: (warning: { readonly code: string; readonly message: string }) => void;
  #batch: Pending[] = [];
  #flushScheduled = false;
  readonly #encoded = new WeakMap<StoreCheck, Encoded>();

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
    const warned = new Set<string>();
    const onWarning = options.onWarning ?? ((w) => console.warn(`[tierlimit] ${w.code}: ${w.message}`));
    this.#warn = (warning) => {
      if (warned.has(warning.code)) return;
      warned.add(warning.code);
      onWarning(warning);
    };
    const client =
      options.client ??
      createRedisClient(options.url as string, {
        onError: (error) =>
          this.#warn({
            code: 'TL_REDIS_ERROR',
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
    // Load the scripts as soon as each connection is ready (and again after every
    // reconnect, since a restarted Redis has forgotten them): otherwise the first burst
    // of requests would each pay a NOSCRIPT round trip before ioredis falls back to EVAL.
    const preload = () => void this.#preload();
    client.on('ready', preload);
    if (client.status === 'ready') preload();
    this.#client = client as RedisClient & ScriptCommands;
    this.#cluster = client instanceof Cluster;
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

  consume(checks: readonly StoreCheck[]): Promise<ConsumeResult> {
    // One Redis: one script call for all keys. A cluster: keys of one identity share a slot;
    // several identities need one call each, refunded if a later one is denied.
    if (!this.#cluster) return this.#run(checks, false);
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
    if (groups.size === 1) return this.#run(checks, false);
    return this.#acrossSlots([...groups.values()], checks);
  }

  /** The check's keys and spec, built on its first request and kept while the limiter keeps the check. */
  #encode(check: StoreCheck): Encoded {
    let encoded = this.#encoded.get(check);
    if (encoded === undefined) {
      const { key, identity } = redisKey(this.#prefix, check.key);
      const { penalty } = check;
      encoded = {
        keys:
          penalty === undefined
            ? [key]
            : [key, redisKey(this.#prefix, penalty.violationKey).key, redisKey(this.#prefix, penalty.blockKey).key],
        identity,
        spec: specOf(check, check.cost),
      };
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
    return Number(await this.#client.zrem(this.keyFor(key), lease)) === 1;
  }

  async countLeases(key: string): Promise<number> {
    return Number(await this.#client.tierlimitLeaseCount(this.keyFor(key), this.#nowArg()));
  }

  async listSuspensions(): Promise<Suspension[]> {
    const found: Suspension[] = [];
    for (const { identity, key } of await this.#scan('suspended')) {
      const until = Number(await this.#client.get(key));
      if (Number.isFinite(until) && until > 0) found.push({ identity, until });
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

  async close(): Promise<void> {
    // Decisions already asked for are sent before the connection goes.
    this.#flush();
    if (!this.#owned) return;
    try {
      await this.#client.quit();
    } catch {
      this.#client.disconnect();
    }
  }

  /**
   * Decides one request's checks. On one Redis the decision joins the batch of this turn
   * of the event loop; on a cluster (whose batches could span slots) it is sent alone.
   */
  #run(checks: readonly StoreCheck[], peek: boolean): Promise<ScriptResult> {
    const encoded: Encoded[] = new Array(checks.length);
    let spec = '';
    for (let i = 0; i < checks.length; i++) {
      const check = checks[i] as StoreCheck;
      const one = this.#encode(check);
      encoded[i] = one;
      const part = peek ? specOf(check, 0) : one.spec;
      spec = i === 0 ? part : `${spec},${part}`;
    }
    return new Promise((resolve, reject) => {
      const pending: Pending = { checks: encoded, spec, resolve, reject };
      if (this.#cluster) {
        this.#send([pending]);
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
    this.#send(batch);
  }

  /** One script call for the decisions in `batch`, each answered (or failed) on its own. */
  #send(batch: readonly Pending[]): void {
    const args: string[] = [];
    for (const pending of batch) for (const check of pending.checks) for (const key of check.keys) args.push(key);
    const keyCount = args.length;
    args.push(this.#nowArg());
    for (const pending of batch) args.push(pending.spec);
    let sent: Promise<unknown>;
    try {
      sent = this.#client.tierlimitConsume(keyCount, ...args);
    } catch (error) {
      sent = Promise.reject(error);
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
        let at = 1;
        for (const pending of batch) {
          pending.resolve(readDecision(reply, at, pending.checks.length, now));
          at += 1 + pending.checks.length * FIELDS_PER_STATE;
        }
      },
      (error: unknown) => {
        for (const pending of batch) pending.reject(error);
      },
    );
  }

  async #acrossSlots(groups: readonly Group[], checks: readonly StoreCheck[]): Promise<ConsumeResult> {
    const states: CheckState[] = new Array(checks.length);
    const charged: Array<{ group: Group; now: number }> = [];
    let allowed = true;
    for (const group of groups) {
      const subset = group.indexes.map((i) => checks[i] as StoreCheck);
      const result = await this.#run(subset, !allowed);
      group.indexes.forEach((index, j) => {
        states[index] = result.states[j] as CheckState;
      });
      if (!allowed) continue;
      if (result.allowed) {
        charged.push({ group, now: result.now });
      } else {
        allowed = false;
        await this.#refund(charged, checks, states);
        for (const { group: refunded } of charged) {
          for (const index of refunded.indexes) {
            const check = checks[index] as StoreCheck;
            const state = states[index] as CheckState;
            if (state.allowed)
              states[index] = { ...state, remaining: Math.min(check.capacity, state.remaining + check.cost) };
          }
        }
      }
    }
    return { allowed, states };
  }

  async #refund(
    charged: ReadonlyArray<{ group: Group; now: number }>,
    checks: readonly StoreCheck[],
    states: readonly CheckState[],
  ): Promise<void> {
    for (const { group, now } of charged) {
      const keys: string[] = [];
      const args: Array<string | number> = [];
      for (const index of group.indexes) {
        const state = states[index] as CheckState;
        // Only what was charged: a shadow check that did not fit was not.
        if (!state.allowed) continue;
        const check = checks[index] as StoreCheck;
        keys.push(this.#encode(check).keys[0] as string);
        // What finds the charge: the window's end (the script's time plus resetMs), or the
        // bucket's refill time (the script's time).
        const windowEnd = check.algorithm === 'fixed-window' ? now + state.resetMs : now;
        args.push(`${check.algorithm === 'fixed-window' ? 0 : 1} ${check.capacity} ${check.cost} ${windowEnd}`);
      }
      if (keys.length === 0) continue;
      try {
        await this.#client.tierlimitRefund(keys.length, ...keys, ...args);
      } catch (error) {
        // The denial stands either way; an unrefunded charge only errs on the strict side.
        this.#warn({
          code: 'TL_REDIS_REFUND_FAILED',
          message: `could not refund a cross-slot charge: ${(error as Error).message}`,
        });
      }
    }
  }

  #identityKey(identity: string, kind: string): string {
    return `${this.#prefix}{${identity}}:${kind}`;
  }

  /** Every `<prefix>{<identity>}:<kind>` key, on every master of a cluster. An operator's tool: it walks the keyspace. */
  async #scan(kind: string): Promise<Array<{ identity: string; key: string }>> {
    const nodes = this.#client instanceof Cluster ? this.#client.nodes('master') : [this.#client];
    const pattern = `${this.#prefix.replace(/[*?[\]\\]/g, '\\$&')}{*}:${kind}`;
    const found: Array<{ identity: string; key: string }> = [];
    for (const node of nodes) {
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

  async #preload(): Promise<void> {
    const nodes = this.#client instanceof Cluster ? this.#client.nodes('master') : [this.#client];
    try {
      await Promise.all(nodes.flatMap((node) => SCRIPTS.map((lua) => node.script('LOAD', lua))));
    } catch {
      // Not fatal: ioredis still falls back to EVAL on NOSCRIPT.
    }
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
      this.#warn({
        code: 'TL_REDIS_UNSAFE_CLIENT',
        message: `the ioredis client may count a request twice or hang while Redis is down (${unsafe.join(', ')}); create it with recommendedRedisOptions().`,
      });
    }
  }
}

/** One decision's part of the script's reply, which starts at `at`: allowed, then four fields per check. */
function readDecision(reply: readonly unknown[], at: number, count: number, now: number): ScriptResult {
  const states: CheckState[] = new Array(count);
  for (let i = 0, field = at + 1; i < count; i++, field += FIELDS_PER_STATE) {
    // Number(): a client created with ioredis's `stringNumbers` gets integer replies as strings.
    const flags = Number(reply[field]);
    const allowed = (flags & 1) === 1;
    const remaining = Number(reply[field + 1]);
    const resetMs = Number(reply[field + 2]);
    const retryMs = Number(reply[field + 3]);
    states[i] =
      flags & 2
        ? flags & 4
          ? { allowed, remaining, resetMs, retryMs, suspended: true, suspendedNow: true }
          : { allowed, remaining, resetMs, retryMs, suspended: true }
        : { allowed, remaining, resetMs, retryMs };
  }
  return { allowed: Number(reply[at]) === 1, states, now };
}

/** A check's nine numbers for the script (see CONSUME), at `cost`. */
function specOf(check: StoreCheck, cost: number): string {
  const { penalty } = check;
  return `${check.algorithm === 'fixed-window' ? 0 : 1} ${check.limit} ${check.windowMs} ${check.capacity} ${cost} ${check.shadow ? 1 : 0} ${penalty === undefined ? '0 0 0' : `${penalty.threshold} ${penalty.windowMs} ${penalty.blockMs}`}`;
}

/** Creates a Redis store. See {@link RedisStoreOptions}. */
export function redisStore(options: RedisStoreOptions): RedisStore {
  return new RedisStore(options);
}
