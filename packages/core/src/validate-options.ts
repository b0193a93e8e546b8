/**
 * Turns public options into the resolved form the engine runs on, once, at construction.
 * Every mistake throws a ConfigurationError naming the option path, the value and what
 * was expected; nothing is silently replaced.
 */

import { compileTrustedProxies } from './client-ip.js';
import { PinnableClock } from './clock.js';
import { ConfigurationError } from './errors.js';
import {
  assertPolicyName,
  MAX_WINDOW_MS,
  type ResolvedLimit,
  type ResolvedPolicy,
  type ResolvedTier,
  resolveLimit,
  resolvePolicy,
} from './limits.js';
import { memoryStore } from './memory-store.js';
import { Namespaces } from './namespaces.js';
import type { RateLimiterOptions, TierResolver } from './options.js';
import type { SuspensionSettings } from './pipeline/charges.js';
import type { RenderOptions } from './response.js';
import type { RuntimeValidations } from './runtime-checks.js';
import type { Store } from './store.js';
import type { ResolvedFaultOptions } from './store-guard.js';
import { defaultIpLimit, defaultTiers, type WebSocketTierLimits } from './tiers.js';
import {
  integerInRange,
  invalid,
  nonNegativeInteger,
  optionalFunction,
  plainObject,
  positiveInteger,
  rejectUnknownKeys,
} from './validate.js';
import { createWarner, type Warner, type WarningSink } from './warnings.js';

export type { ResolvedLimit, ResolvedPolicy, ResolvedTier } from './limits.js';

/** Name of the per-IP limit counting unknown and malformed API keys. */
export const UNKNOWN_KEYS = Namespaces.unknownKeys;

export interface ResolvedOptions {
  readonly tiers: ReadonlyMap<string, ResolvedTier>;
  /** Shadow mode for every policy (`shadow: true`), applied to tiers loaded later too. */
  readonly shadowAll: boolean;
  readonly resolveTier: TierResolver | undefined;
  readonly resolverCacheMs: number;
  readonly resolverNegativeCacheMs: number;
  readonly resolverCacheSize: number;
  readonly anonymousTier: ResolvedTier | undefined;
  readonly ip: ResolvedLimit | false;
  readonly ipv6Subnet: number;
  readonly apiKeyHeader: string;
  readonly maxApiKeyLength: number;
  readonly requestIdHeader: string;
  readonly store: Store;
  readonly faults: ResolvedFaultOptions;
  readonly render: RenderOptions;
  readonly validations: RuntimeValidations;
  readonly unknownKeys: ResolvedLimit | false;
  readonly suspension: SuspensionSettings | false;
  readonly now: () => number;
  /** The clock of the default memory store when the limiter made it (`store` not given), else `undefined`. */
  readonly storeClock: PinnableClock | undefined;
  /** Where the limiter's warnings go, and how often. */
  readonly warnings: Warner;
  /** `trustedProxies`, compiled; `undefined` when unset. */
  readonly trustedProxies: ((address: string) => boolean) | undefined;
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
  'trustedProxies',
  'apiKeyHeader',
  'maxApiKeyLength',
  'requestIdHeader',
  'headers',
  'errorFormat',
  'shadow',
  'suspension',
  'unknownKeys',
  'validations',
  'store',
  'storeFaults',
  'now',
  'onWarning',
] as const;

const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const HEADER_NAME = /^[A-Za-z0-9-]{1,64}$/;

export function resolveOptions(options: RateLimiterOptions = {}): ResolvedOptions {
  plainObject(options, 'options');
  rejectUnknownKeys(options, OPTION_NAMES, 'rate limiter options');

  const tiers = resolveTierMap(options.tiers ?? defaultTiers, options.shadow === true);

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
  const warnings = createWarner(optionalFunction<WarningSink>(options.onWarning, 'onWarning'));

  const storeClock = options.store === undefined ? new PinnableClock(now) : undefined;
  const store =
    options.store ??
    memoryStore({
      now: (storeClock as PinnableClock).now,
      onFull: (message) => warnings.once({ code: 'TL_MEMORY_STORE_FULL', message }),
    });
  if (typeof (store as Partial<Store>)?.consume !== 'function') {
    invalid('store', 'a store (an object with a `consume` method, such as `memoryStore()`)', store);
  }

  const shadowAll = options.shadow ?? false;
  if (typeof shadowAll !== 'boolean') invalid('shadow', 'a boolean', shadowAll);
  const ip =
    options.ip === false
      ? false
      : resolveLimit(Namespaces.ip, Namespaces.ip, options.ip ?? defaultIpLimit, 'ip', 'window', shadowAll);
  if (ip !== false) assertStorable(store, ip, 'ip');
  const unknownKeys =
    options.unknownKeys === false
      ? false
      : resolveLimit(
          UNKNOWN_KEYS,
          UNKNOWN_KEYS,
          options.unknownKeys ?? { limit: 50, windowMs: 600_000 },
          'unknownKeys',
          'window',
        );
  if (unknownKeys !== false) assertStorable(store, unknownKeys, 'unknownKeys');
  for (const tier of tiers.values()) assertTierStorable(store, tier, `tiers.${tier.name}`);

  return {
    tiers,
    shadowAll,
    resolveTier: resolveTierFn,
    resolverCacheMs: nonNegativeInteger(options.resolverCacheMs ?? 30_000, 'resolverCacheMs'),
    resolverNegativeCacheMs: nonNegativeInteger(options.resolverNegativeCacheMs ?? 0, 'resolverNegativeCacheMs'),
    resolverCacheSize: positiveInteger(options.resolverCacheSize ?? 10_000, 'resolverCacheSize'),
    anonymousTier,
    ip,
    ipv6Subnet: integerInRange(options.ipv6Subnet ?? 56, 'ipv6Subnet', 1, 128),
    trustedProxies: resolveTrustedProxies(options.trustedProxies),
    apiKeyHeader: headerName(options.apiKeyHeader ?? 'x-api-key', 'apiKeyHeader'),
    maxApiKeyLength: integerInRange(options.maxApiKeyLength ?? 256, 'maxApiKeyLength', 1, 8_192),
    requestIdHeader: headerName(options.requestIdHeader ?? 'x-request-id', 'requestIdHeader'),
    store,
    faults: resolveFaults(options.storeFaults),
    render: resolveRender(options.headers, options.errorFormat),
    validations: resolveValidations(options.validations),
    unknownKeys,
    suspension: resolveSuspension(options.suspension),
    now,
    storeClock,
    warnings,
  };
}

function resolveRender(headers: unknown, errorFormat: unknown): RenderOptions {
  const source = plainObject(headers ?? {}, 'headers');
  rejectUnknownKeys(source, ['legacy', 'standard'], 'headers', 'headers.');
  const legacy = source.legacy ?? true;
  if (typeof legacy !== 'boolean') invalid('headers.legacy', 'a boolean', legacy);
  const standard = source.standard ?? false;
  if (
    standard !== false &&
    standard !== 'draft-6' &&
    standard !== 'draft-7' &&
    standard !== 'draft-8' &&
    standard !== 'draft-10'
  ) {
    invalid('headers.standard', "false, 'draft-6', 'draft-7', 'draft-8' or 'draft-10'", standard);
  }
  const format = errorFormat ?? 'json';
  if (format !== 'json' && format !== 'problem') invalid('errorFormat', "'json' or 'problem'", format);
  return { legacyHeaders: legacy, standardHeaders: standard === false ? undefined : standard, errorFormat: format };
}

function resolveValidations(value: unknown): RuntimeValidations {
  const source = plainObject(value ?? {}, 'validations');
  const names = [
    'permissiveTrustProxy',
    'hopCountTrust',
    'untrustedForwardedFor',
    'noClientIp',
    'unparsableClientIp',
  ] as const;
  rejectUnknownKeys(source, names, 'validations', 'validations.');
  const flag = (name: (typeof names)[number]) => {
    const flagValue = source[name] ?? true;
    if (typeof flagValue !== 'boolean') invalid(`validations.${name}`, 'a boolean', flagValue);
    return flagValue;
  };
  const permissive = source.permissiveTrustProxy ?? true;
  if (typeof permissive !== 'boolean' && permissive !== 'error') {
    invalid('validations.permissiveTrustProxy', "a boolean or 'error'", permissive);
  }
  return {
    permissiveTrustProxy: permissive as boolean | 'error',
    hopCountTrust: flag('hopCountTrust'),
    untrustedForwardedFor: flag('untrustedForwardedFor'),
    noClientIp: flag('noClientIp'),
    unparsableClientIp: flag('unparsableClientIp'),
  };
}

function resolveTrustedProxies(value: unknown): ((address: string) => boolean) | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0) {
    invalid('trustedProxies', 'a non-empty array of proxy addresses, CIDR ranges or presets', value);
  }
  const compiled = compileTrustedProxies(value as string[]);
  if ('invalid' in compiled) {
    invalid(
      'trustedProxies',
      "IP addresses, CIDR ranges ('10.0.0.0/8') or 'loopback', 'linklocal', 'uniquelocal'",
      compiled.invalid,
    );
  }
  return compiled.trusted;
}

function resolveSuspension(value: unknown): ResolvedOptions['suspension'] {
  if (value === undefined || value === false) return false;
  const source = plainObject(value, 'suspension');
  rejectUnknownKeys(source, ['threshold', 'windowMs', 'durationMs'], 'suspension', 'suspension.');
  return {
    threshold: integerInRange(source.threshold ?? 20, 'suspension.threshold', 1, 1_000_000),
    windowMs: integerInRange(source.windowMs ?? 60_000, 'suspension.windowMs', 1, MAX_WINDOW_MS),
    durationMs: integerInRange(source.durationMs ?? 600_000, 'suspension.durationMs', 1, MAX_WINDOW_MS),
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

/** Throws if `store` cannot keep `limit` (a token bucket on rate-limiter-flexible, say). */
function assertStorable(store: Store, limit: ResolvedLimit, path: string): void {
  const reason = store.unsupported?.({ ...limit, name: limit.key });
  if (reason !== undefined)
    throw new ConfigurationError(`\`${path}\` cannot be kept by the configured store: ${reason}.`);
}

/** Throws if `store` cannot keep one of `tier`'s limits. */
export function assertTierStorable(store: Store, tier: ResolvedTier, path: string): void {
  for (const [name, policy] of tier.policies) {
    if (policy === false) continue;
    const many = policy.limits.length > 1;
    policy.limits.forEach((limit, i) => {
      assertStorable(store, limit, many ? `${path}.${name}[${i}]` : `${path}.${name}`);
    });
  }
}

function headerName(value: unknown, path: string): string {
  if (typeof value !== 'string' || !HEADER_NAME.test(value)) invalid(path, 'an HTTP header name', value);
  return value.toLowerCase();
}

/** Validates a whole tier map (configuration, a tiers file, a reload). */
export function resolveTierMap(source: unknown, shadowAll: boolean): Map<string, ResolvedTier> {
  const tiersObject = plainObject(source, 'tiers');
  const tiers = new Map<string, ResolvedTier>();
  for (const [name, config] of Object.entries(tiersObject)) {
    if (!NAME.test(name)) invalid(`tiers.${name}`, 'named with a letter followed by letters, digits, _ or -', name);
    tiers.set(name, resolveTier(name, config, `tiers.${name}`, shadowAll));
  }
  if (tiers.size === 0)
    throw new ConfigurationError('Expected `tiers` to define at least one tier, got an empty object.');
  return tiers;
}

/** Validates one tier. Also used for per-customer limits returned by a resolver (`path` says which). */
export function resolveTier(name: string, config: unknown, path: string, shadowAll = false): ResolvedTier {
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
    assertPolicyName(policy, `${path}.${policy}`);
    policies.set(policy, value === false ? false : resolvePolicy(policy, value, `${path}.${policy}`, shadowAll));
  }
  return Object.freeze({ name, policies, websocket });
}
