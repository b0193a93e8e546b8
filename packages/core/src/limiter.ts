/**
 * The RateLimiter: a short facade over the pipeline (pipeline/engine.ts strings the steps
 * together) and the operator's side (operator.ts). It wires them to one set of options, one
 * store guard and one tier cache, and is what adapters and users hold.
 */

import { EventEmitter } from 'node:events';
import type { Decision, PolicyOutcome } from './decision.js';
import { SKIPPED } from './decision.js';
import { ConfigurationError } from './errors.js';
import { Guessers } from './guessers.js';
import { MemoryStore } from './memory-store.js';
import { Operator, type OverrideTarget, type Usage } from './operator.js';
import type { RateLimiterOptions } from './options.js';
import { AddressCache } from './pipeline/address.js';
import { Decider } from './pipeline/decide.js';
import { Engine } from './pipeline/engine.js';
import type { RateLimiterEvents } from './pipeline/events.js';
import type { RequestFacts, Route, RouteHandler, RouteLabel, RouteOptions } from './pipeline/request.js';
import { type DecisionParts, type RenderContext, refusedDecision } from './response.js';
import { RuntimeChecks, type TrustProxyKind } from './runtime-checks.js';
import { type AdminStore, isAdminStore, type Store, type StoredOverride, type Suspension } from './store.js';
import { StoreGuard } from './store-guard.js';
import { TierCache } from './tier-cache.js';
import type { TierMap, TierOverrides } from './tiers.js';
import { describeValue, nonNegativeInteger, optionalFunction, rejectUnknownKeys } from './validate.js';
import {
  assertTierStorable,
  type ResolvedOptions,
  type ResolvedTier,
  resolveOptions,
  resolveTierMap,
} from './validate-options.js';

export type { LimitUsage, OverrideTarget, Usage } from './operator.js';
export type { RateLimiterEvents } from './pipeline/events.js';
export type { RequestFacts, RouteHandler, RouteLabel, RouteOptions } from './pipeline/request.js';

/** Brand shared by the ESM and CJS builds, so adapters recognise a limiter from either (see isRateLimiter). */
const LIMITER = Symbol.for('tierlimit.RateLimiter');

/** Rate limiter for one API: tiers, resolver cache, store. Share one instance across routes. */
export class RateLimiter extends EventEmitter<RateLimiterEvents> {
  readonly [LIMITER] = true;
  #options: ResolvedOptions;
  readonly #cache: TierCache;
  readonly #guard: StoreGuard;
  readonly #engine: Engine;
  readonly #operator: Operator;
  /** Whether anyone listens to `storeLatency` (kept up to date by the listener events, not asked per request). */
  #timing = false;
  readonly #checks: RuntimeChecks;
  /** Policies routes draw from, so a tier reload cannot remove one from under them. */
  readonly #routePolicies = new Set<string>();

  constructor(options: RateLimiterOptions = {}) {
    super();
    const resolved = resolveOptions(options);
    this.#options = resolved;
    const current = () => this.#options;
    this.#checks = new RuntimeChecks(resolved.validations, resolved.warnings, resolved.trustedProxies !== undefined);
    const track = () => {
      this.#timing = this.listenerCount('storeLatency') > 0;
    };
    const emitter = this as EventEmitter;
    emitter.on('newListener', (name: string | symbol) => {
      if (name === 'storeLatency') this.#timing = true;
    });
    emitter.on('removeListener', (name: string | symbol) => {
      if (name === 'storeLatency') queueMicrotask(track);
    });
    const admin: AdminStore = isAdminStore(resolved.store)
      ? resolved.store
      : new MemoryStore({ now: resolved.now, sweepIntervalMs: 0, maxKeys: 1 });
    this.#guard = new StoreGuard(resolved.store, resolved.faults, resolved.now, {
      timing: () => this.#timing,
      latency: (ms) => this.emit('storeLatency', ms),
      storeError: (error) => this.emit('storeError', error),
      degraded: (mode, error) => {
        // Once per outage: a second outage hours later is reported again (issue 13).
        resolved.warnings.episode({
          code: 'TL_STORE_FAILED',
          message: `the store failed (${error instanceof Error ? error.message : typeof error}); answering per storeFaults.mode '${resolved.faults.mode}' until it recovers.`,
          error,
        });
        this.emit('degraded', { mode, error });
      },
      recovered: (downtimeMs) => {
        resolved.warnings.endEpisode('TL_STORE_FAILED');
        this.emit('recovered', { downtimeMs });
      },
    });
    const guessers = new Guessers();
    let operator: Operator | undefined;
    this.#cache = new TierCache(
      resolved,
      (identity) => (operator as Operator).lookupOverride(identity),
      (keyIdentity) => guessers.remember(keyIdentity),
    );
    operator = new Operator({ options: current, admin, cache: this.#cache, guard: this.#guard, guessers });
    this.#operator = operator;
    this.#engine = new Engine({
      options: current,
      owner: this,
      cache: this.#cache,
      guessers,
      addresses: new AddressCache(resolved),
      checks: this.#checks,
      decider: new Decider(this.#guard, resolved.storeClock, this),
    });
  }

  /** True while the store is failing and requests are answered per `storeFaults.mode`. */
  get degraded(): boolean {
    return this.#guard.degraded;
  }

  /** The tiers in force, validated. */
  get tiers(): ReadonlyMap<string, ResolvedTier> {
    return this.#options.tiers;
  }

  /** The store counters live in. */
  get store(): Store {
    return this.#options.store;
  }

  /**
   * Evaluates one request against `policy` (default `'api'`; `false`: the per-IP limit
   * only) at `cost` (default 1). The adapters call this through {@link RateLimiter.handler};
   * call it directly to limit something that is not an HTTP route (a job, a WebSocket
   * upgrade). When the decision holds concurrency slots (`decision.inFlight`), call
   * `decision.release()` once the work is done.
   */
  check(
    facts: RequestFacts,
    route: { readonly policy?: string | false; readonly cost?: number } = {},
  ): Decision | Promise<Decision> {
    try {
      return this.#engine.evaluate(facts, route.policy ?? 'api', route.cost ?? 1, undefined, undefined, false);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Judges the framework's trust-proxy setting as early as an adapter can (Fastify: when
   * the plugin is registered). Throws a ConfigurationError coded
   * `TL_PERMISSIVE_TRUST_PROXY` when every proxy is trusted and
   * `validations.permissiveTrustProxy` is `'error'`; otherwise warns once per process.
   */
  validateTrustProxy(kind: TrustProxyKind | undefined): void {
    this.#checks.trust(kind);
  }

  /**
   * Validates a route's options once and returns the function an adapter calls per
   * request. Throws a ConfigurationError if some tier does not define the route's policy.
   */
  handler<Req>(options: RouteOptions<Req> = {}, label?: RouteLabel<Req>): RouteHandler<Req> {
    rejectUnknownKeys(options, ['policy', 'cost', 'skip'], 'route options');
    const policy = options.policy ?? 'api';
    if (policy !== false && typeof policy !== 'string')
      throw new ConfigurationError(`Expected \`policy\` to be a policy name or false, got ${describeValue(policy)}.`);
    if (policy !== false) {
      this.#routePolicies.add(policy);
      const tiers = new Set(this.#options.tiers.values());
      if (this.#options.anonymousTier !== undefined) tiers.add(this.#options.anonymousTier);
      for (const tier of tiers) assertRoutePolicy(tier, policy);
    }
    const cost = options.cost ?? 1;
    if (typeof cost !== 'function') nonNegativeInteger(cost, 'cost');
    const skip = optionalFunction<(request: Req) => boolean>(options.skip, 'skip');
    const route: Route = { policy, cost: cost as Route['cost'], label: label as Route['label'] };
    const engine = this.#engine;
    const handle = (request: Req, facts: RequestFacts): Decision | Promise<Decision> => {
      try {
        if (skip?.(request)) return SKIPPED;
        return engine.evaluate(facts, policy, route.cost, request, route, false);
      } catch (error) {
        return Promise.reject(error);
      }
    };
    const peek = (request: Req, facts: RequestFacts): Decision | Promise<Decision> => {
      try {
        if (skip?.(request)) return SKIPPED;
        return engine.evaluate(facts, policy, 1, request, route, true);
      } catch (error) {
        return Promise.reject(error);
      }
    };
    return Object.assign(handle, { peek });
  }

  /**
   * Replaces the tiers without a restart (a plan's numbers changed, a tiers file was
   * edited). Validated like configuration; on any error the old tiers stay and a
   * ConfigurationError names the path. Every tier must still define the policies that
   * routes use. Cached resolver answers are dropped, so every key picks up its new limits.
   */
  setTiers(tiers: TierMap): void {
    const next = resolveTierMap(tiers, this.#options.shadowAll);
    for (const tier of next.values()) {
      assertTierStorable(this.#options.store, tier, `tiers.${tier.name}`);
      for (const policy of this.#routePolicies) assertRoutePolicy(tier, policy);
    }
    const anonymous = this.#options.anonymousTier;
    let anonymousTier: ResolvedTier | undefined;
    if (anonymous !== undefined) {
      anonymousTier = next.get(anonymous.name);
      if (anonymousTier === undefined) {
        throw new ConfigurationError(`The new tiers drop \`${anonymous.name}\`, the \`anonymousTier\`.`);
      }
    }
    this.#options = { ...this.#options, tiers: next, anonymousTier };
    this.#cache.setOptions(this.#options);
  }

  /**
   * Where an API key stands on every limit of its tier (per-customer limits included):
   * `{ tier, policies: { api: [{ algorithm, name, limit, remaining, resetAt, windowMs? |
   * per? | concurrency? }] } }`, or `null` for a key the resolver does not know. Read from
   * the store without charging anything. Rejects with a StoreError when the store does not
   * answer within `storeFaults.timeoutMs`.
   */
  usage(apiKey: string): Promise<Usage | null> {
    return this.#operator.usage(apiKey);
  }

  /**
   * Sets an override of one customer's limits, merged over its tier (custom Enterprise
   * limits), optionally until `expiresAt` (a temporary increase for a launch or a sale).
   * Kept in the store, so every instance applies it, from its next resolver lookup of the
   * key (within `resolverCacheMs`; at once on this instance). It ends exactly at `expiresAt`.
   */
  setOverride(
    target: OverrideTarget,
    override: { readonly limits: TierOverrides; readonly expiresAt?: Date | number },
  ): Promise<void> {
    return this.#operator.setOverride(target, override);
  }

  /** Removes an override; `true` if there was one. */
  removeOverride(target: OverrideTarget): Promise<boolean> {
    return this.#operator.removeOverride(target);
  }

  /** Live overrides, by hashed identity. */
  overrides(): Promise<Array<{ identity: string; override: StoredOverride }>> {
    return this.#operator.overrides();
  }

  /** Live suspensions (identities are hashed keys, `h...`, or client addresses, `i...`). */
  suspensions(): Promise<Suspension[]> {
    return this.#operator.suspensions();
  }

  /** Lifts a suspension (and forgets recent denials) of an API key, a client IP, or an identity from `suspensions()`. */
  liftSuspension(target: OverrideTarget | { readonly ip: string } | { readonly identity: string }): Promise<boolean> {
    return this.#operator.liftSuspension(target);
  }

  /**
   * A refusal the limiter did not decide itself (a WebSocket connection cap, a shutdown),
   * rendered with this limiter's wire settings (header forms, error format) like every
   * other refusal. `base` is the request's own decision, whose limits stay in the
   * headers; `outcome` the limit that refused, reported in the headers.
   */
  refusal(refused: {
    readonly status: number;
    readonly code: string;
    readonly message: string;
    readonly details?: Readonly<Record<string, unknown>>;
    readonly retryAfterMs?: number;
    readonly requestId: string;
    readonly base?: Decision | undefined;
    readonly outcome?: PolicyOutcome | undefined;
  }): Decision {
    const { base, outcome } = refused;
    const outcomes = [...(base?.policies ?? []), ...(outcome === undefined ? [] : [outcome])];
    const parts: DecisionParts = {
      tier: base?.tier,
      outcomes,
      degraded: base?.degraded,
      identity: base?.identity,
      limits: base?.limits,
    };
    const context: RenderContext = {
      now: this.#options.now(),
      requestId: () => refused.requestId,
      render: this.#options.render,
    };
    return refusedDecision(parts, context, {
      status: refused.status,
      code: refused.code,
      message: refused.message,
      details: refused.details,
      reported: outcome,
      ...(refused.retryAfterMs === undefined ? {} : { retryAfterMs: refused.retryAfterMs }),
    });
  }

  /** Drops cached resolver answers (all, or one API key's) so the next request asks the resolver again. */
  forgetTier(apiKey?: string): void {
    this.#cache.clear(apiKey);
  }

  /** Releases the store's timers and connections. */
  async close(): Promise<void> {
    this.#guard.close();
    await this.#options.store.close?.();
  }
}

/** Throws unless `tier` defines `policy` (as limits, or `false` for none). */
function assertRoutePolicy(tier: ResolvedTier, policy: string): void {
  if (!tier.policies.has(policy)) {
    throw new ConfigurationError(
      `Route policy \`${policy}\` is not defined by tier \`${tier.name}\`; set \`tiers.${tier.name}.${policy}\` to limits, or to false for no limit.`,
    );
  }
}

/**
 * True for a RateLimiter from any copy of this package. Adapters use it instead of
 * `instanceof`, which fails when the app and the adapter load different builds.
 */
export function isRateLimiter(value: unknown): value is RateLimiter {
  return typeof value === 'object' && value !== null && (value as { [LIMITER]?: unknown })[LIMITER] === true;
}

/** Creates a rate limiter. See {@link RateLimiterOptions}. */
export function createRateLimiter(options?: RateLimiterOptions): RateLimiter {
  return new RateLimiter(options);
}
