/**
 * Turns public options into the resolved form the engine runs on, once, at construction.
 * Every mistake throws a ConfigurationError naming the option path, the value and what
 * was expected; nothing is silently replaced.
 */
import { ConfigurationError } from './errors.js';
import { memoryStore } from './memory-store.js';
import type { RateLimiterOptions, TierResolver, Warning } from './options.js';
import type { Algorithm, Store } from './store.js';
import type { ResolvedFaultOptions } from './store-guard.js';
import { defaultIpLimit, defaultTiers, type PolicyLimits, type TierMap, type WebSocketTierLimits } from './tiers.js';
import {
  integerInRange,
  invalid,
  nonNegativeInteger,
  optionalFunction,
  plainObject,
  positiveInteger,
  rejectUnknownKeys,
} from './validate.js';

/** A policy ready to evaluate. */
export interface ResolvedPolicy {
  readonly name: string;
  readonly algorithm: Algorithm;
  /** Units per window (fixed window) or refilled per window (token bucket). */
  readonly limit: number;
  readonly windowMs: number;
  /** Most units held at once: `limit` for a fixed window, `burst` for a bucket. */
  readonly capacity: number;
}

/** A tier ready to evaluate. `false` marks a policy with no limit on this tier. */
export interface ResolvedTier {
  readonly name: string;
  readonly policies: ReadonlyMap<string, ResolvedPolicy | false>;
  readonly websocket: WebSocketTierLimits | undefined;
}

export interface ResolvedOptions {
  readonly tiers: ReadonlyMap<string, ResolvedTier>;
  readonly resolveTier: TierResolver | undefined;
  readonly resolverCacheMs: number;
  readonly resolverNegativeCacheMs: number;
  readonly resolverCacheSize: number;
  readonly anonymousTier: ResolvedTier | undefined;
  readonly ip: ResolvedPolicy | false;
  readonly ipv6Subnet: number;
  readonly apiKeyHeader: string;
  readonly maxApiKeyLength: number;
  readonly requestIdHeader: string;
  readonly store: Store;
  readonly faults: ResolvedFaultOptions;
  readonly now: () => number;
  readonly warn: (warning: Warning) => void;
}

const OPTION_NAMES = [
  'tiers',
  'resolveTier',
  'resolverCacheMs',
  'resolverNegativeCacheMs',
  'resolverCacheSize',
  'anonymousTier',
  'ip',
  'ipv6Subnet',
  'apiKeyHeader',
  'maxApiKeyLength',
  'requestIdHeader',
  'store',
  'storeFaults',
  'now',
  'onWarning',
] as const;

/**
 * Names a tier may not use for a policy: `ip` is the cross-tier IP policy, `websocket`
 * holds socket limits, `connections` keys the connection leases.
 */
const RESERVED_POLICY_NAMES = new Set(['ip', 'websocket', 'connections']);
const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const HEADER_NAME = /^[A-Za-z0-9-]{1,64}$/;
/** Longest window accepted: a year. Longer windows are almost certainly a unit mistake (seconds for ms). */
const MAX_WINDOW_MS = 366 * 86_400_000;

export function resolveOptions(options: RateLimiterOptions = {}): ResolvedOptions {
  plainObject(options, 'options');
  rejectUnknownKeys(options, OPTION_NAMES, 'rate limiter options');

  const tierSource: TierMap = options.tiers ?? defaultTiers;
  const tiersObject = plainObject(tierSource, 'tiers');
  const tiers = new Map<string, ResolvedTier>();
  for (const [name, config] of Object.entries(tiersObject)) {
    if (!NAME.test(name)) invalid(`tiers.${name}`, 'named with a letter followed by letters, digits, _ or -', name);
    tiers.set(name, resolveTier(name, config, `tiers.${name}`));
  }
  if (tiers.size === 0)
    throw new ConfigurationError('Expected `tiers` to define at least one tier, got an empty object.');

  const resolveTierFn = optionalFunction<TierResolver>(options.resolveTier, 'resolveTier');
  let anonymousTier: ResolvedTier | undefined;
  if (options.anonymousTier !== undefined) {
    anonymousTier = tiers.get(options.anonymousTier);
    if (anonymousTier === undefined) {
      invalid('anonymousTier', `one of the configured tiers (${[...tiers.keys()].join(', ')})`, options.anonymousTier);
    }
  }
  if (resolveTierFn === undefined && anonymousTier === undefined) {
    invalid('resolveTier', 'a function mapping an API key to a tier name (or set `anonymousTier`)', undefined);
  }

  const now = optionalFunction<() => number>(options.now, 'now') ?? Date.now;
  const onWarning =
    optionalFunction<(warning: Warning) => void>(options.onWarning, 'onWarning') ??
    ((warning: Warning) => console.warn(`[tierlimit] ${warning.code}: ${warning.message}`));
  const warned = new Set<string>();
  const warn = (warning: Warning) => {
    if (warned.has(warning.code)) return;
    warned.add(warning.code);
    onWarning(warning);
  };

  const store =
    options.store ?? memoryStore({ now, onFull: (message) => warn({ code: 'TL_MEMORY_STORE_FULL', message }) });
  if (typeof (store as Partial<Store>)?.consume !== 'function') {
    invalid('store', 'a store (an object with a `consume` method, such as `memoryStore()`)', store);
  }

  const ip = options.ip === false ? false : resolvePolicy('ip', options.ip ?? defaultIpLimit, 'ip');
  if (ip !== false) assertStorable(store, ip, 'ip');
  for (const tier of tiers.values()) assertTierStorable(store, tier, `tiers.${tier.name}`);

  return {
    tiers,
    resolveTier: resolveTierFn,
    resolverCacheMs: nonNegativeInteger(options.resolverCacheMs ?? 30_000, 'resolverCacheMs'),
    resolverNegativeCacheMs: nonNegativeInteger(options.resolverNegativeCacheMs ?? 5_000, 'resolverNegativeCacheMs'),
    resolverCacheSize: positiveInteger(options.resolverCacheSize ?? 10_000, 'resolverCacheSize'),
    anonymousTier,
    ip,
    ipv6Subnet: integerInRange(options.ipv6Subnet ?? 56, 'ipv6Subnet', 1, 128),
    apiKeyHeader: headerName(options.apiKeyHeader ?? 'x-api-key', 'apiKeyHeader'),
    maxApiKeyLength: integerInRange(options.maxApiKeyLength ?? 256, 'maxApiKeyLength', 1, 8_192),
    requestIdHeader: headerName(options.requestIdHeader ?? 'x-request-id', 'requestIdHeader'),
    store,
    faults: resolveFaults(options.storeFaults),
    now,
    warn,
  };
}

function resolveFaults(value: unknown): ResolvedFaultOptions {
  const faults = plainObject(value ?? {}, 'storeFaults');
  rejectUnknownKeys(
    faults,
    ['mode', 'timeoutMs', 'instances', 'failureThreshold', 'cooldownMs'],
    'storeFaults',
    'storeFaults.',
  );
  const mode = faults.mode ?? 'local';
  if (mode !== 'local' && mode !== 'open' && mode !== 'closed') {
    invalid('storeFaults.mode', "one of 'local', 'open' or 'closed'", mode);
  }
  return {
    mode,
    timeoutMs: integerInRange(faults.timeoutMs ?? 50, 'storeFaults.timeoutMs', 1, 60_000),
    instances: integerInRange(faults.instances ?? 1, 'storeFaults.instances', 1, 10_000),
    failureThreshold: integerInRange(faults.failureThreshold ?? 3, 'storeFaults.failureThreshold', 1, 1_000),
    cooldownMs: integerInRange(faults.cooldownMs ?? 1_000, 'storeFaults.cooldownMs', 1, 3_600_000),
  };
}

/** Throws if `store` cannot keep `policy` (a token bucket on rate-limiter-flexible, say). */
function assertStorable(store: Store, policy: ResolvedPolicy, path: string): void {
  const reason = store.unsupported?.(policy);
  if (reason !== undefined)
    throw new ConfigurationError(`\`${path}\` cannot be kept by the configured store: ${reason}.`);
}

/** Throws if `store` cannot keep one of `tier`'s policies. */
export function assertTierStorable(store: Store, tier: ResolvedTier, path: string): void {
  for (const [name, policy] of tier.policies) if (policy !== false) assertStorable(store, policy, `${path}.${name}`);
}

function headerName(value: unknown, path: string): string {
  if (typeof value !== 'string' || !HEADER_NAME.test(value)) invalid(path, 'an HTTP header name', value);
  return value.toLowerCase();
}

/** Validates one tier. Also used for per-customer limits returned by a resolver (`path` says which). */
export function resolveTier(name: string, config: unknown, path: string): ResolvedTier {
  const tier = plainObject(config, path);
  const policies = new Map<string, ResolvedPolicy | false>();
  let websocket: WebSocketTierLimits | undefined;
  for (const [policy, value] of Object.entries(tier)) {
    if (value === undefined) continue;
    if (policy === 'websocket') {
      const ws = plainObject(value, `${path}.websocket`);
      rejectUnknownKeys(ws, ['connections'], path, `${path}.websocket.`);
      websocket = Object.freeze({ connections: positiveInteger(ws.connections, `${path}.websocket.connections`) });
      continue;
    }
    if (RESERVED_POLICY_NAMES.has(policy)) {
      throw new ConfigurationError(
        `\`${path}.${policy}\` uses a reserved name (ip, websocket and connections are taken; the \`ip\` policy is set with the top-level \`ip\` option).`,
      );
    }
    if (!NAME.test(policy))
      invalid(`${path}.${policy}`, 'named with a letter followed by letters, digits, _ or -', policy);
    policies.set(policy, value === false ? false : resolvePolicy(policy, value, `${path}.${policy}`));
  }
  return Object.freeze({ name, policies, websocket });
}

export function resolvePolicy(name: string, value: unknown, path: string): ResolvedPolicy {
  const source = plainObject(value, path);
  rejectUnknownKeys(source, ['limit', 'windowMs', 'burst'], path, `${path}.`);
  const limits = source as Partial<PolicyLimits>;
  const limit = positiveInteger(limits.limit, `${path}.limit`);
  const windowMs = positiveInteger(limits.windowMs, `${path}.windowMs`);
  if (windowMs > MAX_WINDOW_MS)
    invalid(`${path}.windowMs`, `at most ${MAX_WINDOW_MS} (a year, in milliseconds)`, windowMs);
  if (limits.burst === undefined) {
    return Object.freeze({ name, algorithm: 'fixed-window', limit, windowMs, capacity: limit });
  }
  const burst = positiveInteger(limits.burst, `${path}.burst`);
  return Object.freeze({ name, algorithm: 'token-bucket', limit, windowMs, capacity: burst });
}
