/**
 * Caches what the user's tier resolver says about each API key, so the hot path is one
 * map lookup and the resolver (often a database query) runs once per key per
 * `resolverCacheMs`. Concurrent misses for one key share a single resolver call.
 *
 * The cache is keyed by the raw key in process memory only; what leaves the process
 * (storage keys) is the hashed identity computed here, once per miss.
 */

import { ConfigurationError } from './errors.js';
import { hashedIdentity, readApiKey } from './identity.js';
import type { TierResolution } from './options.js';
import type { PolicyCharges } from './pipeline/charges.js';
import type { Penalty, StoredOverride } from './store.js';
import type { Limit, TierOverrides } from './tiers.js';
import { assertTierStorable, type ResolvedOptions, type ResolvedTier, resolveTier } from './validate-options.js';

/** Who a request belongs to, as far as limits are concerned. */
export interface Identity {
  /** Storage identity: `h` + hashed key or account id, or `i` + IP identity. Never a raw key. */
  readonly id: string;
  readonly tier: ResolvedTier;
  /**
   * The one-unit charges (storage keys, store checks) of the first policy this identity was
   * charged on, built on first use; most identities only ever use one policy.
   */
  unit: PolicyCharges | undefined;
  /** One-unit charges of its other policies, by policy name, built on first use. */
  units: Map<string, PolicyCharges> | undefined;
  /** Its suspension penalty, built with its first charge: `false` when suspension is off, `undefined` until then. */
  penalty: Penalty | false | undefined;
  /** When an operator's override in `tier` lapses (ms since the epoch); `base` applies from then. */
  readonly overrideUntil?: number;
  /** This identity without the override. */
  readonly base?: Identity;
}

/** Finds an operator's override for an identity; never rejects (a failing store means none). */
/** Reads an identity's override: synchronously from a synchronous store, else a promise (never rejects). */
export type OverrideLookup = (identity: string) => StoredOverride | undefined | Promise<StoredOverride | undefined>;

interface Entry {
  identity: Identity | null;
  readonly expiresAt: number;
  /** The key is one a request could carry (see {@link isWireKey}), so a request may use this entry unvalidated. */
  readonly wire: boolean;
}

export function identityFor(tier: ResolvedTier, identity: string): Identity {
  return { id: identity, tier, unit: undefined, units: undefined, penalty: undefined };
}

export class TierCache {
  #options: ResolvedOptions;
  readonly #lookupOverride: OverrideLookup;
  readonly #valid: (keyIdentity: string) => void;
  readonly #entries = new Map<string, Entry>();
  readonly #pending = new Map<string, Promise<Identity | null>>();

  /** `valid` hears of every key that resolves to a tier, by its hashed identity. */
  constructor(options: ResolvedOptions, lookupOverride: OverrideLookup, valid: (keyIdentity: string) => void) {
    this.#options = options;
    this.#lookupOverride = lookupOverride;
    this.#valid = valid;
  }

  /** Switches to new options (new tiers); every cached answer is dropped. */
  setOptions(options: ResolvedOptions): void {
    this.#options = options;
    this.#entries.clear();
  }

  /**
   * The cached identity for a raw header value taken as the key itself (any header but
   * `authorization`), or `undefined` when it is not cached as a key a request could carry:
   * then the caller validates it and asks {@link TierCache.get}. Saves validating the key
   * of every request when it has been seen before.
   */
  getWire(raw: string, now: number): Identity | null | undefined {
    const entry = this.#entries.get(raw);
    if (entry === undefined || !entry.wire) return undefined;
    return this.#live(raw, entry, now);
  }

  /** The cached identity (or `null` for a known-unknown key); `undefined` when not cached. */
  get(apiKey: string, now: number): Identity | null | undefined {
    const entry = this.#entries.get(apiKey);
    if (entry === undefined) return undefined;
    return this.#live(apiKey, entry, now);
  }

  #live(apiKey: string, entry: Entry, now: number): Identity | null | undefined {
    if (now >= entry.expiresAt) {
      this.#entries.delete(apiKey);
      return undefined;
    }
    const identity = entry.identity;
    // An override ends exactly on time, whatever the cache's own expiry.
    if (identity?.overrideUntil !== undefined && now >= identity.overrideUntil) entry.identity = identity.base ?? null;
    return entry.identity;
  }

  /**
   * Asks the resolver, caches the answer, and shares one call among concurrent requests for
   * the key. Answers synchronously when the resolver and the override lookup both do (an
   * in-process key table on the memory store): a new key then costs no promise and no
   * timer. A resolver that throws, synchronously or not, gives a rejected promise.
   */
  load(apiKey: string): Identity | null | Promise<Identity | null> {
    const pending = this.#pending.get(apiKey);
    if (pending !== undefined) return pending;
    const resolver = this.#options.resolveTier as NonNullable<ResolvedOptions['resolveTier']>;
    let lookup: Promise<Identity | null>;
    try {
      const resolution = resolver(apiKey);
      if (isThenable(resolution)) {
        lookup = Promise.resolve(resolution).then((answer) => this.#resolved(apiKey, answer));
      } else {
        const answer = this.#resolved(apiKey, resolution);
        if (!isThenable(answer)) return answer;
        lookup = answer;
      }
    } catch (error) {
      return Promise.reject(error);
    }
    lookup = lookup.finally(() => this.#pending.delete(apiKey));
    this.#pending.set(apiKey, lookup);
    return lookup;
  }

  /** The identity for a resolver's answer, with its override (read from the store) applied, remembered. */
  #resolved(apiKey: string, resolution: TierResolution): Identity | null | Promise<Identity | null> {
    const identity = this.#toIdentity(resolution, apiKey);
    if (identity === null) {
      this.#remember(apiKey, null);
      return null;
    }
    const override = this.#lookupOverride(identity.id);
    if (isThenable(override))
      return Promise.resolve(override).then((found) => this.#overridden(apiKey, identity, found));
    return this.#overridden(apiKey, identity, override);
  }

  #overridden(apiKey: string, identity: Identity, override: StoredOverride | undefined): Identity {
    const now = this.#options.now();
    const result =
      override !== undefined && (override.expiresAt === undefined || now < override.expiresAt)
        ? this.#withOverride(identity, override)
        : identity;
    this.#remember(apiKey, result);
    return result;
  }

  /** Forgets cached answers: one key's, or all of them. */
  clear(apiKey?: string): void {
    if (apiKey === undefined) this.#entries.clear();
    else this.#entries.delete(apiKey);
  }

  #remember(apiKey: string, identity: Identity | null): void {
    const ttl = identity === null ? this.#options.resolverNegativeCacheMs : this.#options.resolverCacheMs;
    if (ttl === 0) return;
    this.#entries.delete(apiKey);
    const size = this.#options.resolverCacheSize;
    if (this.#entries.size >= size) {
      // Evict the oldest tenth in one pass. Evicting one entry per insert would ask the Map
      // for its first key each time, and V8 walks every deleted slot before it (they stay
      // until the table is rebuilt): under a stream of new keys that was half of all time.
      let evict = Math.max(1, Math.ceil(size / 10));
      for (const key of this.#entries.keys()) {
        this.#entries.delete(key);
        if (--evict === 0) break;
      }
    }
    this.#entries.set(apiKey, {
      identity,
      expiresAt: this.#options.now() + ttl,
      wire: isWireKey(apiKey, this.#options.maxApiKeyLength),
    });
  }

  #withOverride(identity: Identity, override: StoredOverride): Identity {
    const tier = withOverrides(identity.tier, override.limits as TierOverrides, 'override.limits');
    assertTierStorable(this.#options.store, tier, 'override.limits');
    return {
      ...identityFor(tier, identity.id),
      ...(override.expiresAt === undefined ? {} : { overrideUntil: override.expiresAt }),
      base: identity,
    };
  }

  #toIdentity(resolution: TierResolution, apiKey: string): Identity | null {
    if (resolution === null || resolution === undefined) return null;
    const answer = typeof resolution === 'string' ? { tier: resolution } : resolution;
    if (typeof answer !== 'object' || typeof answer.tier !== 'string') {
      throw new ConfigurationError(
        'Expected `resolveTier` to return a tier name, `{ tier, id?, limits? }`, null or undefined, got something else.',
      );
    }
    const base = this.#options.tiers.get(answer.tier);
    if (base === undefined) {
      throw new ConfigurationError(
        `Expected \`resolveTier\` to return one of the configured tiers (${[...this.#options.tiers.keys()].join(', ')}), got ${JSON.stringify(answer.tier)}.`,
      );
    }
    if (
      answer.id !== undefined &&
      (typeof answer.id !== 'string' || answer.id.length === 0 || answer.id.length > 256)
    ) {
      throw new ConfigurationError(
        'Expected `resolveTier(...).id` to be a non-empty string of at most 256 characters.',
      );
    }
    const tier = answer.limits === undefined ? base : withOverrides(base, answer.limits);
    if (tier !== base) assertTierStorable(this.#options.store, tier, 'resolveTier(...).limits');
    const keyIdentity = hashedIdentity('key', apiKey);
    this.#valid(keyIdentity);
    return identityFor(tier, answer.id === undefined ? keyIdentity : hashedIdentity('id', answer.id));
  }
}

/** True when `key` is what {@link readApiKey} returns for a header holding exactly `key`. */
function isWireKey(key: string, maxLength: number): boolean {
  return readApiKey({ key }, 'key', maxLength) === key;
}

/**
 * A tier with per-customer limits merged over it, validated like configuration. A limit
 * given as an object is merged field by field over the policy's limit: the policy's only
 * one, or, in a policy of several, the one it names by what it counts (`{ limit: 1_000_000,
 * per: 'month' }` is the monthly quota, `{ concurrency: 20 }` the concurrency limit,
 * `{ limit: 50, windowMs: 1_000 }` the one-second window). An array replaces the policy.
 */
export function withOverrides(
  base: ResolvedTier,
  overrides: TierOverrides,
  path = 'resolveTier(...).limits',
): ResolvedTier {
  const merged: Record<string, unknown> = {};
  for (const [name, policy] of base.policies) merged[name] = policy === false ? false : policy.source;
  if (base.websocket !== undefined) merged.websocket = { ...base.websocket };
  for (const [name, override] of Object.entries(overrides ?? {})) {
    if (override === undefined) continue;
    const current = merged[name];
    if (override === false || current === false || current === undefined || Array.isArray(override)) {
      merged[name] = override;
    } else if (Array.isArray(current)) {
      merged[name] = mergeIntoOne(current as readonly Limit[], override as Record<string, unknown>, `${path}.${name}`);
    } else {
      merged[name] = { ...(current as object), ...(override as object) };
    }
  }
  return resolveTier(base.name, merged, path);
}

/** Merges `override` over the one limit of `limits` it names by what it counts. */
function mergeIntoOne(limits: readonly Limit[], override: Record<string, unknown>, path: string): Limit[] {
  const names = (limit: Limit): boolean => {
    const fields = limit as unknown as Record<string, unknown>;
    if ('concurrency' in override) return 'concurrency' in fields;
    if ('per' in override) {
      return fields.per === override.per && (override.timeZone === undefined || fields.timeZone === override.timeZone);
    }
    if ('windowMs' in override) {
      return (
        fields.windowMs === override.windowMs &&
        (override.algorithm === undefined || (fields.algorithm ?? 'fixed-window') === override.algorithm)
      );
    }
    return false;
  };
  const matches = limits.filter(names);
  if (matches.length !== 1) {
    throw new ConfigurationError(
      `\`${path}\` must name one limit of the policy by what it counts (its \`windowMs\`, \`per\` or \`concurrency\`), or give the whole array of limits; it names ${matches.length === 0 ? 'none' : 'several'}.`,
    );
  }
  return limits.map((limit) => (limit === matches[0] ? ({ ...limit, ...override } as Limit) : limit));
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}
