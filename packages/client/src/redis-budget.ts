/**
 * `redisBudget` (entry `@tierlimit/client/redis`, Node only): a budget kept in Redis that
 * every process with the same `key` shares (issue 16). Each take, peek or pause is one
 * script call (redis-budget-script.ts), decided atomically on Redis's clock.
 *
 * When Redis does not answer within `timeoutMs` (down, paused, unreachable), the process
 * falls back at once to a local budget holding its share of the rate and burst, warns,
 * and asks Redis again in the background every `retryMs` (with jitter, so a fleet does not
 * come back in one instant); the first answer ends the fallback. No call waits on Redis
 * longer than `timeoutMs`, and no promise is left to reject unhandled.
 */
import { clearTimeout, setImmediate, setTimeout } from 'node:timers';
import type { Cluster, Redis } from 'ioredis';
import { type Budget, checkUnits } from './budget.js';
import { TierlimitClientError } from './errors.js';
import { randomId } from './event-id.js';
import { type LocalBudget, localBudget } from './local-budget.js';
import { BUDGET_SCRIPT } from './redis-budget-script.js';
import { abortable, sleep as defaultSleep, type Sleep } from './sleep.js';
import {
  invalid,
  optionalFunction,
  plainOptions,
  positiveInteger,
  positiveNumber,
  rejectUnknownKeys,
} from './validate.js';

/** Options of {@link redisBudget}. */
export interface RedisBudgetOptions {
  /**
   * Your ioredis client (or Cluster). Not closed by the budget. Create it with
   * `enableOfflineQueue: false` and `maxRetriesPerRequest: 1` so a call fails at once while
   * Redis is down instead of queueing; every call is bounded by `timeoutMs` either way.
   */
  readonly client: Redis | Cluster;
  /**
   * Names the budget: every process with the same key shares it. Name what the API limits
   * (`customerio:track:<workspace id>`), never a secret: Redis keys show in `MONITOR`,
   * `SCAN` and logs, so an API key must not be part of one. No `{` or `}`. Required.
   */
  readonly key: string;
  /** Units added per `perMs` at full pace, for all processes together. Required. */
  readonly rate: number;
  /** The period `rate` is counted over, in ms. Default `1_000`. */
  readonly perMs?: number;
  /** Most units held at once, for all processes together. Default: `rate`. */
  readonly burst?: number;
  /** Prefix of the Redis keys. Default `'tl:budget:'`. */
  readonly prefix?: string;
  /** Longest wait for one Redis call before this process falls back to its local share, in ms. Default `250`. */
  readonly timeoutMs?: number;
  /**
   * Fraction of `rate` and `burst` this process uses while Redis is unreachable, from 0
   * (exclusive) to 1. Set it to 1 ÷ the number of processes sharing the key. Default: 1 ÷
   * the number of processes that used the budget in the last minute, as Redis last
   * reported it (1 if Redis has not answered yet).
   */
  readonly localShare?: number;
  /** While falling back, how often to ask Redis again, in ms (±50% jitter). Default `1_000`. */
  readonly retryMs?: number;
  /**
   * Told when the process falls back (`TL_BUDGET_FALLBACK`) and when it is back on Redis
   * (`TL_BUDGET_RECOVERED`). Default: `console.warn`.
   */
  readonly onWarning?: (warning: { readonly code: string; readonly message: string }) => void;
  /** How to wait; inject for tests. Default: an abortable `setTimeout`. */
  readonly sleep?: Sleep;
}

/** A budget in Redis; see {@link redisBudget}. */
export interface RedisBudget extends Budget {
  /** The Redis key of the bucket (the processes using it are listed in `<key>:processes`). */
  readonly redisKey: string;
  /** True while Redis is unreachable and this process takes from its local share. */
  readonly degraded: boolean;
  /** The fraction of the budget this process uses while degraded (see `localShare`). */
  readonly localShare: number;
}

/** Redis did not answer a budget call within `timeoutMs` (`TL_BUDGET_TIMEOUT`); the process falls back. */
export class BudgetTimeoutError extends TierlimitClientError {
  constructor(timeoutMs: number) {
    super('TL_BUDGET_TIMEOUT', `Redis did not answer the budget call within ${timeoutMs} ms.`);
  }
}

type Operation = 'take' | 'peek' | 'pause';
type ScriptClient = { tierlimitBudget(...args: Array<string | number>): Promise<[number, number]> };

const OPTIONS = [
  'client',
  'key',
  'rate',
  'perMs',
  'burst',
  'prefix',
  'timeoutMs',
  'localShare',
  'retryMs',
  'onWarning',
  'sleep',
];
/** A process counts as a user of the budget for this long after its last call, in ms. */
const MEMBER_WINDOW_MS = 60_000;

/**
 * Creates a budget shared through Redis by every process that uses the same `key`.
 *
 * @example
 * const budget = redisBudget({ client: redis, key: 'customerio:track:workspace-1', rate: 100, perMs: 1_000, burst: 100 });
 * const cioFetch = createRateLimitedFetch({ budget, concurrency: 10 });
 */
export function redisBudget(options: RedisBudgetOptions): RedisBudget {
  plainOptions(options, 'options');
  if (options === undefined) invalid('options', 'an options object with `client`, `key` and `rate`', options);
  rejectUnknownKeys(options, OPTIONS, 'redisBudget');
  const { client } = options;
  if (typeof (client as { defineCommand?: unknown } | undefined)?.defineCommand !== 'function') {
    invalid('client', 'an ioredis client or Cluster', client);
  }
  const key = nameWithoutBraces(options.key, 'key', false);
  const prefix = nameWithoutBraces(options.prefix ?? 'tl:budget:', 'prefix', true);
  const rate = positiveNumber(options.rate, 'rate');
  const perMs = positiveNumber(options.perMs ?? 1_000, 'perMs');
  const burst = positiveNumber(options.burst ?? rate, 'burst');
  const timeoutMs = positiveInteger(options.timeoutMs ?? 250, 'timeoutMs');
  const retryMs = positiveInteger(options.retryMs ?? 1_000, 'retryMs');
  const fixedShare = options.localShare === undefined ? undefined : shareOf(options.localShare);
  const sleep = optionalFunction<Sleep>(options.sleep, 'sleep') ?? defaultSleep;
  const onWarning =
    optionalFunction<NonNullable<RedisBudgetOptions['onWarning']>>(options.onWarning, 'onWarning') ??
    ((warning) => console.warn(`[tierlimit] ${warning.code}: ${warning.message}`));

  client.defineCommand('tierlimitBudget', { lua: BUDGET_SCRIPT, numberOfKeys: 2 });
  const scripts = client as unknown as ScriptClient;
  // A hash tag, so both keys live in one Redis Cluster slot and one script call reaches both.
  const bucketKey = `${prefix}{${key}}`;
  const processesKey = `${bucketKey}:processes`;
  const member = randomId();
  const ratePerMs = rate / perMs;

  let processes = 1;
  let degraded = false;
  let probing = false;
  let nextProbeAt = 0;
  let pausedUntil = 0;
  let fallback: { budget: LocalBudget; share: number } | undefined;
  const share = () => fixedShare ?? 1 / processes;

  /** One script call, bounded by timeoutMs; `undefined` when Redis failed (the process then falls back). */
  const call = async (op: Operation, amount: number): Promise<number | undefined> => {
    try {
      const reply = await bounded(
        scripts.tierlimitBudget(bucketKey, processesKey, '', op, amount, ratePerMs, burst, member, MEMBER_WINDOW_MS),
        timeoutMs,
      );
      processes = Math.max(1, Number(reply[1]) || 1);
      if (degraded) {
        degraded = false;
        onWarning({ code: 'TL_BUDGET_RECOVERED', message: `Redis answers again: budget "${key}" is shared again.` });
      }
      return Number(reply[0]);
    } catch (error) {
      fallBack(error);
      return undefined;
    }
  };

  const fallBack = (error: unknown) => {
    nextProbeAt = Date.now() + retryMs * (0.5 + Math.random());
    if (degraded) return;
    degraded = true;
    const wanted = share();
    if (fallback?.share !== wanted) {
      fallback = {
        share: wanted,
        budget: localBudget({ rate: rate * wanted, perMs, burst: burst * wanted, sleep }),
      };
      if (pausedUntil > Date.now()) void fallback.budget.pauseUntil(pausedUntil);
    }
    const why = error instanceof Error ? error.message : String(error);
    onWarning({
      code: 'TL_BUDGET_FALLBACK',
      message: `Redis is unreachable (${why}): budget "${key}" falls back to ${formatShare(wanted)} of its rate in this process until Redis answers.`,
    });
  };

  /** While degraded: ask Redis again in the background once `retryMs` has passed. */
  const probe = () => {
    if (!degraded || probing || Date.now() < nextProbeAt) return;
    probing = true;
    void call('peek', 1).finally(() => {
      probing = false;
    });
  };

  const local = (): LocalBudget => {
    probe();
    return (fallback as { budget: LocalBudget }).budget;
  };

  /** Takes `n` units from the local share, a burst's worth at a time when `n` is larger. */
  const takeLocally = async (n: number, signal: AbortSignal | undefined) => {
    const budget = local();
    for (let left = n; left > 0; left -= budget.burst) await budget.take(Math.min(left, budget.burst), signal);
  };

  return {
    burst,
    ratePerMs,
    redisKey: bucketKey,
    get degraded() {
      return degraded;
    },
    get localShare() {
      return fallback !== undefined && degraded ? fallback.share : share();
    },
    async take(n = 1, signal) {
      checkUnits(n, burst);
      for (;;) {
        signal?.throwIfAborted();
        const waitMs = degraded ? undefined : await abortable(call('take', n), signal);
        if (waitMs === undefined) return takeLocally(n, signal);
        if (waitMs <= 0) return;
        await abortable(sleep(waitMs, signal), signal);
      }
    },
    async timeUntilAvailable(n = 1) {
      checkUnits(n, burst);
      const waitMs = degraded ? undefined : await call('peek', n);
      if (waitMs !== undefined) return waitMs;
      const budget = local();
      return budget.timeUntilAvailable(Math.min(n, budget.burst));
    },
    async pauseUntil(time) {
      if (!Number.isFinite(time)) return;
      pausedUntil = Math.max(pausedUntil, time);
      const ms = Math.ceil(time - Date.now());
      if (ms <= 0) return;
      // Also locally: if Redis fails now or later, this process still holds until then.
      if (fallback !== undefined) await fallback.budget.pauseUntil(time);
      if (!degraded) await call('pause', ms);
    },
  };
}

/**
 * `promise`, or a BudgetTimeoutError after `ms`. When the timer fires, the decision waits
 * one turn of the event loop: Node runs expired timers before it reads sockets, so a reply
 * that already arrived would otherwise be counted as lost (SPEC section 6). The promise
 * itself keeps a handler, so its late rejection is never unhandled.
 */
function bounded<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const settle = (action: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      action();
    };
    const timer = setTimeout(() => setImmediate(() => settle(() => reject(new BudgetTimeoutError(ms)))), ms);
    promise.then(
      (value) => settle(() => resolve(value)),
      (error: unknown) => settle(() => reject(error)),
    );
  });
}

function nameWithoutBraces(value: unknown, path: string, emptyAllowed: boolean): string {
  if (typeof value !== 'string' || (!emptyAllowed && value.length === 0) || /[{}]/.test(value)) {
    invalid(path, `a ${emptyAllowed ? '' : 'non-empty '}string without \`{\` or \`}\``, value);
  }
  return value;
}

function shareOf(value: unknown): number {
  if (!(typeof value === 'number' && value > 0 && value <= 1)) {
    invalid('localShare', 'a fraction above 0 and at most 1', value);
  }
  return value;
}

function formatShare(share: number): string {
  return share === 1 ? 'all' : `${Math.round(share * 1000) / 10}%`;
}
