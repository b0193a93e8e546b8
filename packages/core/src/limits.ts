/**
 * Policies and their limits as configured (`{ limit, windowMs }`, `{ limit, per }`,
 * `{ concurrency }`, or an array of them) turned into the resolved form the engine runs
 * on, validated once with every mistake named by its path.
 */
import { type CalendarUnit, isTimeZone, PeriodClock, type Periods } from './calendar-periods.js';
import { ConfigurationError } from './errors.js';
import { RESERVED_NAMESPACES, spanName } from './namespaces.js';
import type { Algorithm } from './store.js';
import type { CalendarQuota, ConcurrencyLimit, Limit, PolicyLimits, WebSocketTierLimits } from './tiers.js';
import { integerInRange, invalid, plainObject, positiveInteger, rejectUnknownKeys } from './validate.js';

/** Longest window accepted: a year. Longer windows are almost certainly a unit mistake (seconds for ms). */
export const MAX_WINDOW_MS = 366 * 86_400_000;
/** How long a concurrency slot is held when its request is never released, by default: two minutes. */
export const DEFAULT_LEASE_MS = 120_000;
/** The longest period of each calendar unit, in ms (what a store is told when asked whether it can keep one). */
const LONGEST_PERIOD: Readonly<Record<CalendarUnit, number>> = {
  hour: 3_600_000,
  day: 25 * 3_600_000,
  month: 31 * 86_400_000,
};
const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/** One limit ready to evaluate. */
export interface ResolvedLimit {
  /** The policy's name (`api`). */
  readonly name: string;
  /**
   * This limit's own name, which is also its storage namespace: the policy's name for a
   * policy of one limit, else the policy's name and what the limit counts (`api.1s`,
   * `api.sliding-1m`, `api.bucket-1m`, `api.month`, `api.day-Europe/Berlin`,
   * `api.concurrency`).
   */
  readonly key: string;
  readonly algorithm: Algorithm;
  /** Units per window or period, refilled per window (token bucket), or requests in flight (concurrency). */
  readonly limit: number;
  /** The window; for a calendar quota its longest period; 0 for concurrency. */
  readonly windowMs: number;
  /** Most units held at once: `burst` for a bucket, else `limit`. */
  readonly capacity: number;
  /** Evaluated and reported, never refusing. */
  readonly shadow: boolean;
  /** Calendar quota: its period. */
  readonly per: CalendarUnit | undefined;
  /** Calendar quota: the time zone of its calendar. */
  readonly timeZone: string | undefined;
  /** Calendar quota: the current period, shared by every identity. */
  readonly clock: Periods | undefined;
  /** Concurrency: how long an unreleased slot is held, ms; 0 for the others. */
  readonly leaseMs: number;
  /** The limit as configured (validated), for merging a customer's overrides over it. */
  readonly source: Limit;
}

/** A policy ready to evaluate: its limits, all of which must have room. */
export interface ResolvedPolicy {
  readonly name: string;
  readonly limits: readonly ResolvedLimit[];
  /** The policy as configured: one limit, or an array of them. */
  readonly source: Limit | readonly Limit[];
}

/** A tier ready to evaluate. `false` marks a policy with no limit on this tier. */
export interface ResolvedTier {
  readonly name: string;
  readonly policies: ReadonlyMap<string, ResolvedPolicy | false>;
  readonly websocket: WebSocketTierLimits | undefined;
}

/** Which kinds of limit a place in the options accepts. */
export type LimitKinds = 'any' | 'window';

/** Periods of one unit and zone, shared by every limit that counts them. */
const clocks = new Map<string, PeriodClock>();

function clockOf(unit: CalendarUnit, timeZone: string): PeriodClock {
  const id = `${unit} ${timeZone}`;
  let clock = clocks.get(id);
  if (clock === undefined) {
    clock = new PeriodClock(unit, timeZone);
    clocks.set(id, clock);
  }
  return clock;
}

/** True when `name` may name a policy (a letter, then letters, digits, `_` or `-`; not a reserved namespace). */
export function assertPolicyName(name: string, path: string): void {
  if (RESERVED_NAMESPACES.has(name)) {
    throw new ConfigurationError(
      `\`${path}\` uses a reserved name (${[...RESERVED_NAMESPACES].join(', ')} are taken; the \`ip\` policy is set with the top-level \`ip\` option).`,
    );
  }
  if (!NAME.test(name)) invalid(path, 'named with a letter followed by letters, digits, _ or -', name);
}

/**
 * Validates a policy: one limit or a non-empty array of limits. A policy of one limit
 * (or an array of one) keeps its state under the policy's own name, as before arrays
 * existed; each limit of a longer array under a name of its own (see {@link ResolvedLimit.key}).
 */
export function resolvePolicy(name: string, value: unknown, path: string, shadowAll = false): ResolvedPolicy {
  if (!Array.isArray(value)) {
    const limit = resolveLimit(name, name, value, path, 'any', shadowAll);
    return Object.freeze({ name, limits: Object.freeze([limit]), source: limit.source });
  }
  if (value.length === 0) invalid(path, 'a limit or a non-empty array of limits', value);
  if (value.length === 1) {
    const limit = resolveLimit(name, name, value[0], `${path}[0]`, 'any', shadowAll);
    return Object.freeze({ name, limits: Object.freeze([limit]), source: Object.freeze([limit.source]) });
  }
  const limits: ResolvedLimit[] = [];
  const seen = new Map<string, number>();
  value.forEach((entry: unknown, i) => {
    const limit = resolveLimit(name, undefined, entry, `${path}[${i}]`, 'any', shadowAll);
    const before = seen.get(limit.key);
    if (before !== undefined) {
      throw new ConfigurationError(
        `\`${path}[${i}]\` counts the same thing as \`${path}[${before}]\` (both are \`${limit.key}\`); keep one of them.`,
      );
    }
    seen.set(limit.key, i);
    limits.push(limit);
  });
  return Object.freeze({ name, limits: Object.freeze(limits), source: Object.freeze(limits.map((l) => l.source)) });
}

/**
 * Validates one limit of policy `name`. `key` is its storage namespace, or `undefined` to
 * name it after what it counts (a limit in an array). `kinds: 'window'` accepts only
 * `{ limit, windowMs, algorithm?, burst? }` (the per-IP and unknown-key limits).
 */
export function resolveLimit(
  name: string,
  key: string | undefined,
  value: unknown,
  path: string,
  kinds: LimitKinds,
  shadowAll = false,
): ResolvedLimit {
  const source = plainObject(value, path);
  const shadow = source.shadow ?? false;
  if (typeof shadow !== 'boolean') invalid(`${path}.shadow`, 'a boolean', shadow);
  const shadowed = shadow || shadowAll;
  const shadowSource = shadowed ? { shadow: true } : {};
  if (kinds === 'any' && 'concurrency' in source) {
    rejectUnknownKeys(source, ['concurrency', 'leaseMs', 'shadow'], path, `${path}.`);
    const slots = positiveInteger(source.concurrency, `${path}.concurrency`);
    const leaseMs = integerInRange(source.leaseMs ?? DEFAULT_LEASE_MS, `${path}.leaseMs`, 1_000, 86_400_000);
    const configured: ConcurrencyLimit = { concurrency: slots, ...(source.leaseMs === undefined ? {} : { leaseMs }) };
    return freeze(name, key ?? `${name}.concurrency`, 'concurrency', slots, 0, slots, shadowed, {
      leaseMs,
      source: { ...configured, ...shadowSource },
    });
  }
  if (kinds === 'any' && 'per' in source) {
    rejectUnknownKeys(source, ['limit', 'per', 'timeZone', 'shadow'], path, `${path}.`);
    const limit = positiveInteger(source.limit, `${path}.limit`);
    const per = source.per;
    if (per !== 'hour' && per !== 'day' && per !== 'month') invalid(`${path}.per`, "'hour', 'day' or 'month'", per);
    const timeZone = source.timeZone ?? 'UTC';
    if (typeof timeZone !== 'string' || timeZone.includes(':') || !isTimeZone(timeZone)) {
      invalid(`${path}.timeZone`, "an IANA time zone name such as 'UTC' or 'Europe/Berlin'", timeZone);
    }
    const configured: CalendarQuota = {
      limit,
      per,
      ...(source.timeZone === undefined ? {} : { timeZone }),
    };
    return freeze(
      name,
      key ?? (timeZone === 'UTC' ? `${name}.${per}` : `${name}.${per}-${timeZone}`),
      'calendar',
      limit,
      LONGEST_PERIOD[per],
      limit,
      shadowed,
      { per, timeZone, clock: clockOf(per, timeZone), source: { ...configured, ...shadowSource } },
    );
  }
  rejectUnknownKeys(source, ['limit', 'windowMs', 'algorithm', 'burst', 'shadow'], path, `${path}.`);
  const limits = source as Partial<PolicyLimits>;
  const limit = positiveInteger(limits.limit, `${path}.limit`);
  const windowMs = positiveInteger(limits.windowMs, `${path}.windowMs`);
  if (windowMs > MAX_WINDOW_MS)
    invalid(`${path}.windowMs`, `at most ${MAX_WINDOW_MS} (a year, in milliseconds)`, windowMs);
  const algorithm = limits.algorithm ?? (limits.burst === undefined ? 'fixed-window' : 'token-bucket');
  if (algorithm !== 'fixed-window' && algorithm !== 'sliding-window' && algorithm !== 'token-bucket') {
    invalid(`${path}.algorithm`, "'fixed-window', 'sliding-window' or 'token-bucket'", algorithm);
  }
  if (algorithm !== 'token-bucket' && limits.burst !== undefined) {
    invalid(`${path}.burst`, `no burst: a ${algorithm} has none (burst is a token bucket's capacity)`, limits.burst);
  }
  const capacity = algorithm === 'token-bucket' ? positiveInteger(limits.burst ?? limit, `${path}.burst`) : limit;
  const configured: PolicyLimits = {
    limit,
    windowMs,
    ...(limits.algorithm === undefined ? {} : { algorithm }),
    ...(limits.burst === undefined ? {} : { burst: capacity }),
  };
  const kind = algorithm === 'fixed-window' ? '' : algorithm === 'sliding-window' ? 'sliding-' : 'bucket-';
  return freeze(name, key ?? `${name}.${kind}${spanName(windowMs)}`, algorithm, limit, windowMs, capacity, shadowed, {
    source: { ...configured, ...shadowSource },
  });
}

function freeze(
  name: string,
  key: string,
  algorithm: Algorithm,
  limit: number,
  windowMs: number,
  capacity: number,
  shadow: boolean,
  extra: {
    readonly per?: CalendarUnit;
    readonly timeZone?: string;
    readonly clock?: Periods;
    readonly leaseMs?: number;
    readonly source: Limit;
  },
): ResolvedLimit {
  return Object.freeze({
    name,
    key,
    algorithm,
    limit,
    windowMs,
    capacity,
    shadow,
    per: extra.per,
    timeZone: extra.timeZone,
    clock: extra.clock,
    leaseMs: extra.leaseMs ?? 0,
    source: Object.freeze(extra.source),
  });
}
