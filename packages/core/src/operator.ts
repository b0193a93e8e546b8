/**
 * The operator's side of a limiter: per-customer overrides, suspensions, and a customer's
 * usage read without charging. Kept in the store when it keeps them (memory, Redis), so
 * every instance sees the same.
 */
import { ipIdentity } from './client-ip.js';
import { ConfigurationError } from './errors.js';
import type { Guessers } from './guessers.js';
import { hashedIdentity, ipIdentityKey } from './identity.js';
import type { ResolvedLimit } from './limits.js';
import { storageKey } from './namespaces.js';
import { type Charge, chargeOf } from './pipeline/charges.js';
import { checksOf } from './pipeline/decide.js';
import type { AdminStore, StoredOverride, Suspension } from './store.js';
import type { StoreGuard } from './store-guard.js';
import { type Identity, type TierCache, withOverrides } from './tier-cache.js';
import type { TierOverrides } from './tiers.js';
import { describeValue } from './validate.js';
import type { ResolvedOptions } from './validate-options.js';

/** Whose limits an operator action is about: an API key (as the resolver maps it) or an account id. */
export type OverrideTarget = { readonly apiKey: string } | { readonly id: string };

/** Where one limit of a customer stands (see `RateLimiter.usage`). */
export interface LimitUsage {
  readonly algorithm: ResolvedLimit['algorithm'];
  /** The limit's name (`api`, or `api.1s`, `api.month`... in a policy of several). */
  readonly name: string;
  /** Units per window or period; a bucket's capacity; slots of a concurrency limit. */
  readonly limit: number;
  /** Units (or slots) left now. */
  readonly remaining: number;
  /** When the limit is back to full, Unix ms (now for an idle limit or a concurrency limit). */
  readonly resetAt: number;
  /** The window, or the time a bucket takes to refill from empty, in ms (window limits). */
  readonly windowMs?: number;
  /** Calendar quotas: the period. */
  readonly per?: 'hour' | 'day' | 'month';
  /** Calendar quotas: the time zone of the calendar. */
  readonly timeZone?: string;
  /** Concurrency limits: the slots (requests in flight at once). */
  readonly concurrency?: number;
}

/** A customer's usage: every limit of every policy of their tier (per-customer limits included). */
export interface Usage {
  readonly tier: string;
  readonly policies: Readonly<Record<string, readonly LimitUsage[]>>;
}

/** What the operator needs of the limiter that owns it. */
export interface OperatorParts {
  readonly options: () => ResolvedOptions;
  readonly admin: AdminStore;
  readonly cache: TierCache;
  readonly guard: StoreGuard;
  readonly guessers: Guessers;
}

export class Operator {
  readonly #parts: OperatorParts;

  constructor(parts: OperatorParts) {
    this.#parts = parts;
  }

  async setOverride(
    target: OverrideTarget,
    override: { readonly limits: TierOverrides; readonly expiresAt?: Date | number },
  ): Promise<void> {
    const { admin, cache } = this.#parts;
    const options = this.#parts.options();
    const identity = await this.#identityOf(target);
    const expiresAt = override.expiresAt instanceof Date ? override.expiresAt.getTime() : override.expiresAt;
    if (expiresAt !== undefined && !(Number.isFinite(expiresAt) && expiresAt > options.now())) {
      throw new ConfigurationError(
        `Expected \`expiresAt\` to be a time in the future, got ${describeValue(expiresAt)}.`,
      );
    }
    // Validate now, against every tier, so a bad override fails here and not on a request.
    for (const tier of options.tiers.values()) withOverrides(tier, override.limits, 'override.limits');
    await admin.setOverride(identity, {
      limits: override.limits,
      ...(expiresAt === undefined ? {} : { expiresAt }),
    });
    cache.clear();
  }

  async removeOverride(target: OverrideTarget): Promise<boolean> {
    const removed = await this.#parts.admin.deleteOverride(await this.#identityOf(target));
    this.#parts.cache.clear();
    return removed;
  }

  async overrides(): Promise<Array<{ identity: string; override: StoredOverride }>> {
    return this.#parts.admin.listOverrides();
  }

  async suspensions(): Promise<Suspension[]> {
    return this.#parts.admin.listSuspensions();
  }

  async liftSuspension(
    target: OverrideTarget | { readonly ip: string } | { readonly identity: string },
  ): Promise<boolean> {
    let identity: string;
    if ('ip' in target) {
      identity = ipIdentityKey(ipIdentity(target.ip, this.#parts.options().ipv6Subnet) ?? '?');
      this.#parts.guessers.clear(identity);
    } else if ('identity' in target) {
      identity = target.identity;
    } else {
      identity = await this.#identityOf(target);
    }
    return this.#parts.admin.liftSuspension(identity);
  }

  /**
   * Where an API key stands on every limit of its tier, read from the store with a cost
   * of 0: nothing is charged, no state is created, no denial is counted. `null` for a key
   * the resolver does not know. Bounded by `storeFaults.timeoutMs`; rejects with a
   * StoreError-like error when the store fails (usage is not guessed).
   */
  async usage(apiKey: string): Promise<Usage | null> {
    const { cache, guard } = this.#parts;
    const options = this.#parts.options();
    const now = options.now();
    const found = cache.get(apiKey, now) ?? (await cache.load(apiKey));
    if (found === null) return null;
    const identity: Identity = found;
    const charges: Charge[] = [];
    const names: string[] = [];
    for (const [name, policy] of identity.tier.policies) {
      if (policy === false) continue;
      for (const limit of policy.limits) {
        charges.push(chargeOf(limit, storageKey(limit.key, identity.id), identity.id, 0, undefined, now));
        names.push(name);
      }
    }
    const policies: Record<string, LimitUsage[]> = {};
    for (const [name, policy] of identity.tier.policies) if (policy !== false) policies[name] = [];
    if (charges.length === 0) return { tier: identity.tier.name, policies };
    const answer = await guard.read(checksOf(charges));
    const at = answer.now ?? now;
    charges.forEach((charge, i) => {
      const state = answer.states[i];
      if (state === undefined)
        throw new TypeError(`Store answered ${answer.states.length} states for ${charges.length} checks.`);
      const limit = charge.limit;
      const entry: LimitUsage = {
        algorithm: limit.algorithm,
        name: limit.key,
        limit: limit.capacity,
        remaining: state.remaining,
        resetAt: at + state.resetMs,
        ...(limit.algorithm === 'concurrency'
          ? { concurrency: limit.limit }
          : limit.per !== undefined
            ? { per: limit.per, timeZone: limit.timeZone as string }
            : { windowMs: charge.windowMs }),
      };
      (policies[names[i] as string] as LimitUsage[]).push(entry);
    });
    return { tier: identity.tier.name, policies };
  }

  /**
   * An identity's override, read when its key is resolved. Bounded like every store call
   * (`storeFaults.timeoutMs`) and skipped while the store is failing: a missing override
   * only means the tier's own limits apply for a while. A synchronous store (the memory
   * store) answers at once, with no timer.
   */
  lookupOverride(identity: string): StoredOverride | undefined | Promise<StoredOverride | undefined> {
    const { admin, guard } = this.#parts;
    if (guard.degraded) return undefined;
    let found: StoredOverride | undefined | Promise<StoredOverride | undefined>;
    try {
      found = admin.getOverride(identity);
    } catch (error) {
      return this.#overrideLookupFailed(error);
    }
    if (typeof (found as { then?: unknown } | undefined)?.then !== 'function') return found;
    return guard
      .bounded(Promise.resolve(found), undefined)
      .then(undefined, (error: unknown) => this.#overrideLookupFailed(error));
  }

  #overrideLookupFailed(error: unknown): undefined {
    this.#parts.options().warnings.once({
      code: 'TL_OVERRIDE_LOOKUP_FAILED',
      message: 'could not read limit overrides; using the tier',
      error,
    });
    return undefined;
  }

  /** The hashed identity an API key (as resolved) or an account id is counted under. */
  async #identityOf(target: OverrideTarget): Promise<string> {
    if ('id' in target) return hashedIdentity('id', target.id);
    const { cache } = this.#parts;
    const resolved = cache.get(target.apiKey, this.#parts.options().now()) ?? (await cache.load(target.apiKey));
    if (resolved === null) throw new ConfigurationError('That API key does not resolve to a tier.');
    return resolved.base?.id ?? resolved.id;
  }
}
