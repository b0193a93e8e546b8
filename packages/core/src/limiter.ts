/**
 * The engine: from request facts (client address, headers) and a route's policy and
 * cost to one Decision. It evaluates every policy that applies as one all-or-nothing
 * store call, and answers synchronously when the tier is cached and the store is
 * synchronous (the memory store), so adapters pay for a promise only when one is needed.
 */

import { EventEmitter } from 'node:events';
import { type Charge, chargeOf, penaltyOf } from './charge.js';
import { forwardedClient, ipIdentity } from './client-ip.js';
import { type Decision, PASSED, type PolicyOutcome, SKIPPED } from './decision.js';
import { ConfigurationError, isRequestError } from './errors.js';
import { Guessers } from './guessers.js';
import { hashedIdentity, ipIdentityKey, MALFORMED, type RequestHeaders, readApiKey, storageKey } from './identity.js';
import { MemoryStore } from './memory-store.js';
import type { RateLimiterOptions } from './options.js';
import { requestIdFrom } from './request-id.js';
import {
  allowedDecision,
  type DecisionParts,
  decisionParts,
  limitedDecision,
  type RenderContext,
  type RenderOptions,
  refusedDecision,
} from './response.js';
import { RuntimeChecks, type TrustProxyKind } from './runtime-checks.js';
import {
  type AdminStore,
  type CheckState,
  type ConsumeResult,
  isAdminStore,
  type Penalty,
  type Store,
  type StoreCheck,
  type StoredOverride,
  type Suspension,
} from './store.js';
import { type FaultMode, StoreGuard } from './store-guard.js';
import { type Identity, identityFor, TierCache, withOverrides } from './tier-cache.js';
import type { TierMap, TierOverrides } from './tiers.js';
import { describeValue, nonNegativeInteger, optionalFunction, rejectUnknownKeys } from './validate.js';
import {
  assertTierStorable,
  type ResolvedOptions,
  type ResolvedPolicy,
  type ResolvedTier,
  resolveOptions,
  resolveTierMap,
  UNKNOWN_KEYS,
} from './validate-options.js';

/** What an adapter tells the core about a request. */
export interface RequestFacts {
  /** Client address as the framework reports it after its trust-proxy logic; `undefined` if unknown. */
  readonly ip: string | undefined;
  /**
   * The connection's remote address (`req.socket.remoteAddress`). Used when `ip` cannot be
   * parsed, so such a client never shares a bucket with others, and as the start of the
   * walk through `X-Forwarded-For` when the limiter has `trustedProxies`. Omit if unknown.
   */
  readonly peer?: string | undefined;
  /** Request headers with lower-case names (Node's `req.headers`). */
  readonly headers: RequestHeaders;
  /**
   * The framework's trust-proxy setting, for the deployment checks (see
   * {@link TrustProxyKind}). Omit when unknown.
   */
  readonly trustProxy?: TrustProxyKind | undefined;
  /**
   * This request's decision by an earlier mount of the same limiter (where the adapter
   * keeps it: Express `req.rateLimit`, Koa `ctx.state.rateLimit`, Fastify
   * `request.rateLimit`), so one request pays each policy at most once, all or nothing:
   * a later mount charges only what the earlier ones did not, and if it refuses the
   * request, what they charged is given back. A decision of another limiter is ignored.
   */
  readonly prior?: Decision | undefined;
}

/** How one route (or middleware mount) is limited. */
export interface RouteOptions<Req = unknown> {
  /** The tier policy this route draws from. Default `'api'`. */
  readonly policy?: string;
  /**
   * Units one request takes from the policy: a number, or a function of the framework's
   * request (for a batch, the number of events; see `batchSize`). Throw a `RequestError`
   * from it to reject bad input with a 4xx. Default `1`.
   */
  readonly cost?: number | ((request: Req) => number | Promise<number>);
  /** Requests for which this returns true pass unchecked, with no headers. Default: none skipped. */
  readonly skip?: (request: Req) => boolean;
}

/** Whose limits an operator action is about: an API key (as the resolver maps it) or an account id. */
export type OverrideTarget = { readonly apiKey: string } | { readonly id: string };

/** Evaluates one request for a route; synchronous when nothing needs to wait. */
export interface RouteHandler<Req> {
  (request: Req, facts: RequestFacts): Decision | Promise<Decision>;
  /**
   * Before the request's body is read: refuses (429, charging nothing) a request for which
   * some policy of the route has no room for even one unit, so a client whose quota is
   * spent cannot make the server read and parse a large body first. An admitted peek
   * charges nothing either (its decision is {@link PASSED}: no headers); call the handler
   * itself once the body is parsed. A request refused for another reason (no valid key)
   * gets the same refusal, charged, as without a peek.
   */
  peek(request: Req, facts: RequestFacts): Decision | Promise<Decision>;
}

/** How a route handler names its route in warnings (`POST /api/v1/events/batch`). */
export type RouteLabel<Req> = (request: Req) => string;

/** A route as the engine runs it: its policy, its cost, and how to name it. */
interface Route {
  readonly policy: string;
  readonly cost: number | ((request: never) => number | Promise<number>);
  readonly label: ((request: never) => string) | undefined;
}

/** How long (ms) a client is asked to wait when the limiter cannot decide (store or resolver failure). */
const UNAVAILABLE_RETRY_MS = 5_000;

/** Events a RateLimiter emits (`limiter.on(name, listener)`). */
export interface RateLimiterEvents {
  /** A store call failed or timed out (not emitted while the circuit is open). */
  storeError: [error: unknown];
  /** How long a store call took, in ms (only measured while someone listens). */
  storeLatency: [ms: number];
  /** The store started failing; requests are now answered per `storeFaults.mode`. */
  degraded: [info: { readonly mode: FaultMode; readonly error: unknown }];
  /** The store answered again after failing; `downtimeMs` is how long requests were degraded. */
  recovered: [info: { readonly downtimeMs: number }];
  /** A request was admitted. */
  allowed: [decision: Decision];
  /** A request was refused with 429 (rate limited or suspended). */
  limited: [decision: Decision];
  /** A request was refused for another reason: bad input (400, 413), no valid key (401), or 503. */
  refused: [decision: Decision];
  /** A shadow policy would have refused this request (it was not refused for it). */
  shadowLimited: [info: { readonly policy: string; readonly decision: Decision }];
  /**
   * An identity was suspended for sending after being limited. `identity` is the hashed
   * key (`h...`) or the client address (`i...`); pass it to `liftSuspension` to lift it.
   */
  suspended: [
    info: { readonly identity: string; readonly policy: string; readonly until: number; readonly decision: Decision },
  ];
}

class RequestContext implements RenderContext {
  readonly now: number;
  readonly render: RenderOptions;
  /** The limiter deciding (kept in the decision's parts, for a later mount). */
  readonly owner: object;
  /** The framework's request, for the route's cost function and label. */
  request: unknown;
  route: Route | undefined;
  /** Decide without charging (see RouteHandler.peek). */
  peek = false;
  /** An earlier mount's decision for this request (of this limiter), when there is one. */
  priorDecision: Decision | undefined;
  /** Its parts. */
  prior: DecisionParts | undefined;
  /** The client's address as the limiter keys it. */
  address: Address = UNKNOWN_ADDRESS;
  /** The client's per-IP identity (`i` + address), for keys and penalties. */
  ipIdentity = '';
  tier: string | undefined;
  identity: Identity | undefined;
  degraded: 'local' | 'open' | undefined;
  readonly #headers: RequestHeaders;
  readonly #header: string;
  #requestId: string | undefined;

  constructor(owner: object, now: number, headers: RequestHeaders, header: string, render: RenderOptions) {
    this.owner = owner;
    this.now = now;
    this.#headers = headers;
    this.#header = header;
    this.render = render;
  }

  requestId(): string {
    this.#requestId ??= requestIdFrom(this.#headers, this.#header);
    return this.#requestId;
  }
}

/** A client address as the limiter keys it. */
interface Address {
  /** `i` + the canonical address or IPv6 prefix; `i?` when there is no usable address. */
  readonly identity: string;
  readonly usable: boolean;
  /** The per-IP policy's charge of one request; `undefined` without a per-IP policy. */
  readonly charge: Charge | undefined;
  /** Its suspension penalty (`undefined` when suspension is off). */
  readonly penalty: Penalty | undefined;
  /** This address as an anonymous caller (of `anonymousTier`), built on first use. */
  anonymous: Identity | undefined;
  /** What its last one-unit request was charged, kept for the next (a client mostly sends one key). */
  last: Pair | undefined;
}

/** The charges of a one-unit request (the per-IP policy's first) and their store checks. */
interface Pair {
  readonly unit: Charge;
  readonly charges: readonly Charge[];
  readonly checks: readonly StoreCheck[];
}

/** Placeholder until a request's address is known. */
const UNKNOWN_ADDRESS: Address = {
  identity: ipIdentityKey('?'),
  usable: false,
  charge: undefined,
  penalty: undefined,
  anonymous: undefined,
  last: undefined,
};

/**
 * Remembers what an address string maps to (validation, IPv4 folding, IPv6 prefix, the
 * per-IP charge with its storage key and penalty), so a client's next requests cost one
 * map lookup instead of a parse, four string concatenations and three objects. Bounded:
 * cleared when full, which keeps the work per request constant under a flood of new
 * addresses.
 */
class AddressCache {
  readonly #entries = new Map<string, Address>();
  readonly #subnet: number;
  readonly #policy: ResolvedPolicy | false;
  readonly #suspension: ResolvedOptions['suspension'];
  readonly #unknown: Address;

  constructor(ipv6Subnet: number, policy: ResolvedPolicy | false, suspension: ResolvedOptions['suspension']) {
    this.#subnet = ipv6Subnet;
    this.#policy = policy;
    this.#suspension = suspension;
    this.#unknown = this.#make(undefined);
  }

  #make(ip: string | undefined): Address {
    const identity = ipIdentityKey(ip ?? '?');
    const penalty = penaltyOf(this.#suspension, identity);
    const policy = this.#policy;
    return {
      identity,
      usable: ip !== undefined,
      charge: policy === false ? undefined : chargeOf(policy, storageKey('ip', identity), identity, 1, penalty),
      penalty,
      anonymous: undefined,
      last: undefined,
    };
  }

  get(address: string | undefined): Address {
    if (address === undefined) return this.#unknown;
    let entry = this.#entries.get(address);
    if (entry === undefined) {
      entry = this.#make(ipIdentity(address, this.#subnet));
      if (this.#entries.size >= 10_000) this.#entries.clear();
      this.#entries.set(address, entry);
    }
    return entry;
  }
}

/** `now`: the store's time when it decided (reset times are the store's, not the app's clock). */
function outcomesOf(now: number, charges: readonly Charge[], result: ConsumeResult): PolicyOutcome[] {
  const count = charges.length;
  const states = result.states;
  const outcomes: PolicyOutcome[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const charge = charges[i] as Charge;
    const policy = charge.policy;
    const state = states[i];
    if (state === undefined) throw new TypeError(`Store answered ${states.length} states for ${count} checks.`);
    outcomes[i] = {
      policy: policy.name,
      algorithm: policy.algorithm,
      limit: policy.capacity,
      windowMs: charge.windowMs,
      cost: charge.cost,
      allowed: state.allowed,
      remaining: state.remaining,
      resetAt: now + state.resetMs,
      retryAfterMs: state.retryMs,
      shadow: policy.shadow,
      suspended: state.suspended === true,
    };
  }
  return outcomes;
}

/** What a route costs: a number of units, or a function of the framework's request. */
type Cost = number | ((request: never) => number | Promise<number>);

/** Turns a request's parts into its decision once the store has answered. */
type Finish = (context: RequestContext, parts: DecisionParts, allowed: boolean) => Decision;

const NO_CHARGES: readonly Charge[] = [];

function checksOf(charges: readonly Charge[]): StoreCheck[] {
  const checks: StoreCheck[] = new Array(charges.length);
  for (let i = 0; i < charges.length; i++) checks[i] = (charges[i] as Charge).check;
  return checks;
}

/** Brand shared by the ESM and CJS builds, so adapters recognise a limiter from either (see isRateLimiter). */
const LIMITER = Symbol.for('tierlimit.RateLimiter');

/** Rate limiter for one API: tiers, resolver cache, store. Share one instance across routes. */
export class RateLimiter extends EventEmitter<RateLimiterEvents> {
  readonly [LIMITER] = true;
  #options: ResolvedOptions;
  readonly #cache: TierCache;
  readonly #guard: StoreGuard;
  readonly #guessers = new Guessers();
  readonly #addresses: AddressCache;
  /** Whether anyone listens to `storeLatency` (kept up to date by the listener events, not asked per request). */
  #timing = false;
  readonly #checks: RuntimeChecks;
  /** Where overrides live: the store when it keeps them (memory, Redis), else this process only. */
  readonly #admin: AdminStore;
  /** Policies routes draw from, so a tier reload cannot remove one from under them. */
  readonly #routePolicies = new Set<string>();
  /** Routes whose cost function failed, already reported. */
  readonly #costWarned = new Set<string>();

  constructor(options: RateLimiterOptions = {}) {
    super();
    const resolved = resolveOptions(options);
    this.#options = resolved;
    this.#checks = new RuntimeChecks(resolved.validations, resolved.warnings, resolved.trustedProxies !== undefined);
    this.#addresses = new AddressCache(resolved.ipv6Subnet, resolved.ip, resolved.suspension);
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
    this.#admin = isAdminStore(resolved.store)
      ? resolved.store
      : new MemoryStore({ now: resolved.now, sweepIntervalMs: 0, maxKeys: 1 });
    this.#cache = new TierCache(
      resolved,
      (identity) => this.#lookupOverride(identity),
      (keyIdentity) => this.#guessers.remember(keyIdentity),
    );
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
   * Evaluates one request against `policy` (default `'api'`) at `cost` (default 1). The
   * adapters call this through {@link RateLimiter.handler}; call it directly to limit
   * something that is not an HTTP route (a job, a WebSocket upgrade).
   */
  check(
    facts: RequestFacts,
    route: { readonly policy?: string; readonly cost?: number } = {},
  ): Decision | Promise<Decision> {
    try {
      return this.#evaluate(facts, route.policy ?? 'api', route.cost ?? 1, undefined, undefined, false);
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
    this.#routePolicies.add(String(policy));
    if (typeof policy !== 'string')
      throw new ConfigurationError(`Expected \`policy\` to be a policy name, got ${describeValue(policy)}.`);
    const tiers = new Set(this.#options.tiers.values());
    if (this.#options.anonymousTier !== undefined) tiers.add(this.#options.anonymousTier);
    for (const tier of tiers) {
      if (!tier.policies.has(policy)) {
        throw new ConfigurationError(
          `Route policy \`${policy}\` is not defined by tier \`${tier.name}\`; set \`tiers.${tier.name}.${policy}\` to limits, or to false for no limit.`,
        );
      }
    }
    const cost = options.cost ?? 1;
    if (typeof cost !== 'function') nonNegativeInteger(cost, 'cost');
    const skip = optionalFunction<(request: Req) => boolean>(options.skip, 'skip');
    const route: Route = { policy, cost: cost as Route['cost'], label: label as Route['label'] };
    const handle = (request: Req, facts: RequestFacts): Decision | Promise<Decision> => {
      try {
        if (skip?.(request)) return SKIPPED;
        return this.#evaluate(facts, policy, route.cost, request, route, false);
      } catch (error) {
        return Promise.reject(error);
      }
    };
    const peek = (request: Req, facts: RequestFacts): Decision | Promise<Decision> => {
      try {
        if (skip?.(request)) return SKIPPED;
        return this.#evaluate(facts, policy, 1, request, route, true);
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
      for (const policy of this.#routePolicies) {
        if (!tier.policies.has(policy)) {
          throw new ConfigurationError(
            `Route policy \`${policy}\` is not defined by tier \`${tier.name}\`; set \`tiers.${tier.name}.${policy}\` to limits, or to false for no limit.`,
          );
        }
      }
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
   * Sets an override of one customer's limits, merged over its tier (custom Enterprise
   * limits), optionally until `expiresAt` (a temporary increase for a launch or a sale).
   * Kept in the store, so every instance applies it, from its next resolver lookup of the
   * key (within `resolverCacheMs`; at once on this instance). It ends exactly at `expiresAt`.
   */
  async setOverride(
    target: OverrideTarget,
    override: { readonly limits: TierOverrides; readonly expiresAt?: Date | number },
  ): Promise<void> {
    const identity = await this.#identityOf(target);
    const expiresAt = override.expiresAt instanceof Date ? override.expiresAt.getTime() : override.expiresAt;
    if (expiresAt !== undefined && !(Number.isFinite(expiresAt) && expiresAt > this.#options.now())) {
      throw new ConfigurationError(
        `Expected \`expiresAt\` to be a time in the future, got ${describeValue(expiresAt)}.`,
      );
    }
    // Validate now, against every tier, so a bad override fails here and not on a request.
    for (const tier of this.#options.tiers.values()) withOverrides(tier, override.limits, 'override.limits');
    await this.#admin.setOverride(identity, {
      limits: override.limits,
      ...(expiresAt === undefined ? {} : { expiresAt }),
    });
    this.#cache.clear();
  }

  /** Removes an override; `true` if there was one. */
  async removeOverride(target: OverrideTarget): Promise<boolean> {
    const removed = await this.#admin.deleteOverride(await this.#identityOf(target));
    this.#cache.clear();
    return removed;
  }

  /** Live overrides, by hashed identity. */
  async overrides(): Promise<Array<{ identity: string; override: StoredOverride }>> {
    return this.#admin.listOverrides();
  }

  /** Live suspensions (identities are hashed keys, `h...`, or client addresses, `i...`). */
  async suspensions(): Promise<Suspension[]> {
    return this.#admin.listSuspensions();
  }

  /** Lifts a suspension (and forgets recent denials) of an API key, a client IP, or an identity from `suspensions()`. */
  async liftSuspension(
    target: OverrideTarget | { readonly ip: string } | { readonly identity: string },
  ): Promise<boolean> {
    let identity: string;
    if ('ip' in target) {
      identity = ipIdentityKey(ipIdentity(target.ip, this.#options.ipv6Subnet) ?? '?');
      this.#guessers.clear(identity);
    } else if ('identity' in target) {
      identity = target.identity;
    } else {
      identity = await this.#identityOf(target);
    }
    return this.#admin.liftSuspension(identity);
  }

  /**
   * An identity's override, read when its key is resolved. Bounded like every store call
   * (`storeFaults.timeoutMs`) and skipped while the store is failing: a missing override
   * only means the tier's own limits apply for a while. A synchronous store (the memory
   * store) answers at once, with no timer.
   */
  #lookupOverride(identity: string): StoredOverride | undefined | Promise<StoredOverride | undefined> {
    if (this.#guard.degraded) return undefined;
    let found: StoredOverride | undefined | Promise<StoredOverride | undefined>;
    try {
      found = this.#admin.getOverride(identity);
    } catch (error) {
      return this.#overrideLookupFailed(error);
    }
    if (typeof (found as { then?: unknown } | undefined)?.then !== 'function') return found;
    return this.#guard
      .bounded(Promise.resolve(found), undefined)
      .then(undefined, (error: unknown) => this.#overrideLookupFailed(error));
  }

  #overrideLookupFailed(error: unknown): undefined {
    this.#options.warnings.once({
      code: 'TL_OVERRIDE_LOOKUP_FAILED',
      message: 'could not read limit overrides; using the tier',
      error,
    });
    return undefined;
  }

  /** The hashed identity an API key (as resolved) or an account id is counted under. */
  async #identityOf(target: OverrideTarget): Promise<string> {
    if ('id' in target) return hashedIdentity('id', target.id);
    const resolved = this.#cache.get(target.apiKey, this.#options.now()) ?? (await this.#cache.load(target.apiKey));
    if (resolved === null) throw new ConfigurationError('That API key does not resolve to a tier.');
    return resolved.base?.id ?? resolved.id;
  }

  /**
   * A refusal the limiter did not decide itself (a WebSocket connection cap, a shutdown),
   * rendered with this limiter's wire settings (header forms, error format) like every
   * other refusal. `base` is the request's own decision, whose policies stay in the
   * headers; `outcome` the policy that refused, reported in the headers.
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

  #evaluate(
    facts: RequestFacts,
    policyName: string,
    cost: Cost,
    request: unknown,
    route: Route | undefined,
    peek: boolean,
  ): Decision | Promise<Decision> {
    const options = this.#options;
    const context = new RequestContext(this, options.now(), facts.headers, options.requestIdHeader, options.render);
    context.request = request;
    context.route = route;
    context.peek = peek;
    const prior = facts.prior;
    if (prior !== undefined) {
      const parts = decisionParts(prior);
      if (parts?.owner === this) {
        context.prior = parts;
        context.priorDecision = prior;
      }
    }
    const address = this.#addressOf(facts);
    if (this.#checks.pending) this.#checks.inspect(facts.trustProxy, facts.headers, address.usable);
    const ipIdentityValue = address.identity;
    context.address = address;
    context.ipIdentity = ipIdentityValue;

    // A key seen before needs no validation: one lookup by the header's raw value.
    const header = options.apiKeyHeader;
    const raw = facts.headers[header];
    if (typeof raw === 'string' && header !== 'authorization') {
      const known = this.#cache.getWire(raw, context.now);
      if (known !== undefined) return this.#withIdentity(context, known, policyName, cost);
    }
    const apiKey = readApiKey(facts.headers, header, options.maxApiKeyLength);
    if (apiKey === MALFORMED) {
      return this.#refuse(
        context,
        {
          status: 400,
          code: 'INVALID_API_KEY',
          message: `The API key is malformed: expected 1 to ${options.maxApiKeyLength} printable ASCII characters.`,
        },
        this.#unknownKeyCharges(context),
      );
    }
    if (apiKey === undefined) {
      const anonymousTier = options.anonymousTier;
      if (anonymousTier !== undefined) {
        let anonymous = address.anonymous;
        if (anonymous === undefined || anonymous.tier !== anonymousTier) {
          anonymous = identityFor(anonymousTier, ipIdentityValue);
          address.anonymous = anonymous;
        }
        return this.#withIdentity(context, anonymous, policyName, cost);
      }
      return this.#refuse(context, {
        status: 401,
        code: 'UNAUTHORIZED',
        message: `Missing API key. Send it in the ${displayHeader(options.apiKeyHeader)} header.`,
      });
    }
    const cached = this.#cache.get(apiKey, context.now);
    if (cached !== undefined) return this.#withIdentity(context, cached, policyName, cost);
    const guessers = this.#guessers;
    if (guessers.blocked(ipIdentityValue, context.now)) {
      // This address has used up its unknown-key budget: answer from the store (a 429)
      // without asking the resolver, so guessing keys cannot load the user's database;
      // but a key seen valid before, and one other key per interval, are looked up.
      const unknownKeys = options.unknownKeys as ResolvedPolicy;
      if (
        !guessers.knows(hashedIdentity('key', apiKey)) &&
        !guessers.probe(ipIdentityValue, context.now, unknownKeys.windowMs / unknownKeys.limit)
      ) {
        return this.#withIdentity(context, null, policyName, cost);
      }
    }
    const loaded = this.#cache.load(apiKey);
    if (!(loaded instanceof Promise)) return this.#withIdentity(context, loaded, policyName, cost);
    return loaded.then(
      (identity) => this.#withIdentity(context, identity, policyName, cost),
      (error: unknown) => this.#resolverFailed(context, error),
    );
  }

  /**
   * The client address as the limiter keys it: the framework's (or, with `trustedProxies`,
   * the one found behind those proxies); if that cannot be parsed, the connection's peer
   * address, so an unparsable address never puts a client in a bucket shared with others.
   */
  #addressOf(facts: RequestFacts): Address {
    const trusted = this.#options.trustedProxies;
    const reported =
      trusted === undefined ? facts.ip : forwardedClient(facts.peer, facts.headers['x-forwarded-for'], trusted);
    const address = this.#addresses.get(reported);
    const peer = facts.peer;
    if (address.usable || peer === undefined || reported === peer) return address;
    if (reported !== undefined && this.#options.validations.unparsableClientIp) {
      this.#options.warnings.once({
        code: 'TL_UNPARSABLE_CLIENT_IP',
        message: `the client address ${JSON.stringify(reported.slice(0, 64))} could not be parsed; using the connection's peer address instead, so such clients never share a bucket. Check what your proxy writes into X-Forwarded-For. Turn this check off with validations.unparsableClientIp: false.`,
      });
    }
    return this.#addresses.get(peer);
  }

  #withIdentity(
    context: RequestContext,
    identity: Identity | null,
    policyName: string,
    cost: Cost,
  ): Decision | Promise<Decision> {
    if (identity === null) {
      return this.#refuse(
        context,
        { status: 401, code: 'UNAUTHORIZED', message: 'Invalid API key.' },
        this.#unknownKeyCharges(context),
      );
    }
    context.tier = identity.tier.name;
    context.identity = identity;
    // The usual request: one unit of the policy this identity was charged before.
    const unit = identity.unit;
    if (cost === 1 && unit !== undefined && unit.policy.name === policyName && context.prior === undefined) {
      const address = context.address;
      let last = address.last;
      if (last?.unit !== unit) {
        const charges = this.#withIp(context, unit);
        last = { unit, charges, checks: checksOf(charges) };
        address.last = last;
      }
      return this.#decide(context, last.charges, last.checks, this.#finishCharge);
    }
    const policy = identity.tier.policies.get(policyName);
    if (policy === undefined) {
      throw new ConfigurationError(`Tier \`${identity.tier.name}\` does not define policy \`${policyName}\`.`);
    }
    // A peek happens before the body is read: it asks for room for one unit.
    if (context.peek) return this.#charge(context, identity, policy, 1);
    if (typeof cost === 'number') return this.#charge(context, identity, policy, cost);
    let units: number | Promise<number>;
    try {
      units = cost(context.request as never);
    } catch (error) {
      return this.#costFailed(context, error);
    }
    if (units instanceof Promise) {
      return units.then(
        (resolved) => this.#charge(context, identity, policy, resolved),
        (error: unknown) => this.#costFailed(context, error),
      );
    }
    return this.#charge(context, identity, policy, units);
  }

  #charge(
    context: RequestContext,
    identity: Identity,
    policy: ResolvedPolicy | false,
    cost: number,
  ): Decision | Promise<Decision> {
    if (typeof cost !== 'number' || !Number.isSafeInteger(cost) || cost < 0) {
      return this.#costFailed(context, new TypeError(`it returned ${describeValue(cost)}`));
    }
    if (policy === false) return this.#consume(context, this.#withIp(context, undefined), this.#finishCharge);
    const unit = this.#unitCharge(identity, policy);
    if (cost > policy.capacity && !policy.shadow && !context.peek) {
      // It could never succeed: reject as bad input, charge the policy nothing, no Retry-After.
      return this.#refuse(
        context,
        {
          status: 413,
          code: 'BATCH_TOO_LARGE',
          message: `This request costs ${cost} but the \`${policy.name}\` limit of your plan allows at most ${policy.capacity} at once. Split it into smaller requests.`,
          details: { cost, limit: policy.capacity, policy: policy.name },
        },
        [chargeOf(policy, unit.key, identity.id, 0, undefined)],
        true,
      );
    }
    const charge =
      cost === 1
        ? unit
        : chargeOf(policy, unit.key, identity.id, cost, identity.penalty === false ? undefined : identity.penalty);
    return this.#consume(context, this.#withIp(context, charge), this.#finishCharge);
  }

  /** The identity's one-unit charge of `policy`, built on first use and kept with the identity. */
  #unitCharge(identity: Identity, policy: ResolvedPolicy): Charge {
    const first = identity.unit;
    if (first?.policy === policy) return first;
    const other = identity.units?.get(policy.name);
    if (other !== undefined) return other;
    let penalty = identity.penalty;
    if (penalty === undefined) {
      penalty = penaltyOf(this.#options.suspension, identity.id) ?? false;
      identity.penalty = penalty;
    }
    const charge = chargeOf(
      policy,
      storageKey(policy.name, identity.id),
      identity.id,
      1,
      penalty === false ? undefined : penalty,
    );
    if (first === undefined) {
      identity.unit = charge;
    } else {
      identity.units ??= new Map();
      identity.units.set(policy.name, charge);
    }
    return charge;
  }

  /** The charges of a request: the per-IP policy's one unit (when there is a per-IP policy), then `charge`. */
  #withIp(context: RequestContext, charge: Charge | undefined): readonly Charge[] {
    const ip = context.address.charge;
    if (ip === undefined) return charge === undefined ? NO_CHARGES : [charge];
    return charge === undefined ? [ip] : [ip, charge];
  }

  /** An admitted or rate-limited request. */
  readonly #finishCharge: Finish = (context, parts, allowed) =>
    this.#emit(context, allowed ? allowedDecision(parts, context) : limitedDecision(parts, context));

  /** A refusal that still counts one request against the per-IP policy (a 429 if that is exhausted). */
  #refuse(
    context: RequestContext,
    refusal: {
      readonly status: number;
      readonly code: string;
      readonly message: string;
      readonly details?: Readonly<Record<string, unknown>> | undefined;
    },
    extra: readonly Charge[] = NO_CHARGES,
    reportExtra = false,
  ): Decision | Promise<Decision> {
    // A refusal is final: it is charged even when it was found on a peek.
    context.peek = false;
    const ip = context.address.charge;
    const charges = ip === undefined ? extra : [ip, ...extra];
    return this.#consume(context, charges, (_, parts, allowed) => {
      if (allowed) {
        // Once this address has used up its unknown-key budget, the resolver is not asked again until it refills.
        const guesses = parts.outcomes.find((outcome) => outcome.policy === UNKNOWN_KEYS);
        if (guesses !== undefined && guesses.remaining === 0) this.#guessers.block(context.ipIdentity, guesses.resetAt);
        // Headers describe the policy closest to exhaustion, or for a 413 the policy the batch is too big for.
        const reported = reportExtra ? parts.outcomes[parts.outcomes.length - 1] : undefined;
        return this.#emit(context, refusedDecision(parts, context, { ...refusal, reported }));
      }
      const limited = limitedDecision(parts, context);
      if (limited.policy?.policy === UNKNOWN_KEYS)
        this.#guessers.block(context.ipIdentity, context.now + limited.retryAfterMs);
      return this.#emit(context, limited);
    });
  }

  /** The unknown-key policy's charge for this client address (key enumeration, SPEC section 3), if enabled. */
  #unknownKeyCharges(context: RequestContext): Charge[] {
    const policy = this.#options.unknownKeys;
    if (policy === false) return [];
    const address = context.address;
    return [chargeOf(policy, storageKey(UNKNOWN_KEYS, address.identity), address.identity, 1, address.penalty)];
  }

  /**
   * The route's cost function threw, or returned something that is not a unit count. A
   * RequestError is the client's bad input (its 4xx, charged to the per-IP policy); anything
   * else is the server's bug: a 500 in the JSON error shape with a generic message (the
   * error's own text could quote the request), charged nothing, and a warning naming the
   * route, once per route.
   */
  #costFailed(context: RequestContext, error: unknown): Decision | Promise<Decision> {
    if (isRequestError(error)) {
      return this.#refuse(context, {
        status: error.status,
        code: error.code,
        message: error.message,
        details: error.details,
      });
    }
    const route = context.route;
    const label =
      route?.label === undefined ? `the \`${route?.policy ?? 'api'}\` route` : route.label(context.request as never);
    if (!this.#costWarned.has(label)) {
      if (this.#costWarned.size >= 1_000) this.#costWarned.clear();
      this.#costWarned.add(label);
      this.#options.warnings.send({
        code: 'TL_INVALID_COST',
        message: `the cost function of ${label} failed (${error instanceof Error ? error.message : describeValue(error)}); expected a non-negative integer, or a thrown RequestError for bad input. Answering 500 INTERNAL_ERROR.`,
        error,
      });
    }
    return this.#emit(
      context,
      refusedDecision(partsOf(context, [], []), context, {
        status: 500,
        code: 'INTERNAL_ERROR',
        message: 'The server could not process this request.',
      }),
    );
  }

  /** Decides the given charges (the per-IP policy's first) together, in one store call. */
  #consume(context: RequestContext, charges: readonly Charge[], finish: Finish): Decision | Promise<Decision> {
    if (context.prior !== undefined) {
      charges = this.#unpaid(context.prior, charges);
      // Everything was paid for by an earlier mount: its decision stands.
      if (charges.length === 0 && finish === this.#finishCharge) return context.priorDecision as Decision;
    }
    if (charges.length === 0) return finish(context, partsOf(context, [], []), true);
    return this.#decide(context, charges, checksOf(charges), finish);
  }

  /**
   * What is left to charge of `charges` after the earlier mounts of this request: each
   * policy is paid at most once, at the largest cost any mount asks for (a later mount
   * pays the difference).
   */
  #unpaid(prior: DecisionParts, charges: readonly Charge[]): readonly Charge[] {
    const paid = new Map<string, number>();
    for (let parts: DecisionParts | undefined = prior; parts !== undefined; parts = parts.previous) {
      if (parts.result?.allowed !== true || parts.charged === undefined) continue;
      for (const charge of parts.charged) paid.set(charge.key, (paid.get(charge.key) ?? 0) + charge.cost);
    }
    const left: Charge[] = [];
    for (const charge of charges) {
      const extra = charge.cost - (paid.get(charge.key) ?? 0);
      if (extra <= 0) continue;
      left.push(
        extra === charge.cost
          ? charge
          : chargeOf(charge.policy, charge.key, charge.identity, extra, charge.check.penalty),
      );
    }
    return left;
  }

  /** {@link RateLimiter.#consume} with the charges' checks at hand. */
  #decide(
    context: RequestContext,
    charges: readonly Charge[],
    checks: readonly StoreCheck[],
    finish: Finish,
  ): Decision | Promise<Decision> {
    let result: ConsumeResult | Promise<ConsumeResult>;
    const clock = this.#options.storeClock;
    clock?.pin(context.now);
    try {
      result = this.#guard.consume(checks, context.peek);
    } catch (error) {
      clock?.unpin();
      return this.#withoutStore(context, charges, checks, finish, error);
    }
    clock?.unpin();
    if (result instanceof Promise) {
      return result.then(
        (answer) => this.#settled(context, charges, answer, finish, answer.allowed, false),
        (error: unknown) => this.#withoutStore(context, charges, checks, finish, error),
      );
    }
    return this.#settled(context, charges, result, finish, result.allowed, false);
  }

  /** Turns the store's answer into parts, reporting suspensions that just began. */
  #settled(
    context: RequestContext,
    charges: readonly Charge[],
    answer: ConsumeResult,
    finish: Finish,
    allowed: boolean,
    local: boolean,
  ): Decision {
    // An admitted peek charged nothing: the request goes on to have its body read.
    if (context.peek && allowed) return PASSED;
    if (!allowed) {
      // A store with no room for a new key (a full memory store) is not the client's limit.
      for (const state of answer.states) {
        if (state.full) return this.#emit(context, serviceUnavailable(context, state.retryMs));
      }
    }
    const at = answer.now ?? context.now;
    let outcomes = outcomesOf(at, charges, answer);
    let reported = charges;
    const prior = context.prior;
    if (prior !== undefined) {
      // One decision for the request: the earlier mounts' policies, updated by this one's.
      const keys = new Set(charges.map((charge) => charge.key));
      const earlier = prior.charges ?? [];
      const kept = prior.outcomes.filter((_, i) => !keys.has(earlier[i]?.key ?? ''));
      const keptCharges = earlier.filter((charge) => !keys.has(charge.key));
      outcomes = [...kept, ...outcomes];
      reported = [...keptCharges, ...charges];
    }
    const parts = partsOf(context, outcomes, reported, charges, answer, local);
    const decision = finish(context, parts, allowed);
    const states = answer.states;
    for (let i = 0; i < states.length; i++) {
      if (!states[i]?.suspendedNow) continue;
      const state = states[i] as CheckState;
      const charge = charges[i] as Charge;
      this.emit('suspended', {
        identity: charge.identity,
        policy: charge.policy.name,
        until: at + state.retryMs,
        decision,
      });
    }
    return decision;
  }

  /**
   * Reports a decision to listeners (`allowed`, `limited`, `refused`, `shadowLimited`) and
   * returns it. A refusal by a later mount gives back what the earlier mounts of this
   * request charged: one request is charged all or nothing.
   */
  #emit(context: RequestContext, decision: Decision): Decision {
    if (!decision.allowed && context.prior !== undefined) this.#refundAll(context.prior);
    // Asking first is cheaper than an emit without listeners (which allocates its arguments).
    const name = decision.allowed ? 'allowed' : decision.status === 429 ? 'limited' : 'refused';
    if (this.listenerCount(name) !== 0) this.emit(name, decision);
    for (const outcome of decision.policies) {
      if (outcome.shadow && !outcome.allowed) {
        this.emit('shadowLimited', { policy: outcome.policy, decision });
      }
    }
    return decision;
  }

  /** Gives back every charge of a request's earlier mounts (to the store, or to the local fallback that made it). */
  #refundAll(parts: DecisionParts): void {
    for (let link: DecisionParts | undefined = parts; link !== undefined; link = link.previous) {
      const { result, charged } = link;
      if (result?.allowed !== true || charged === undefined) continue;
      const checks = checksOf(charged);
      if (link.local) this.#guard.refundLocal(checks, result);
      else this.#guard.refund(checks, result);
    }
  }

  /** The store failed or the circuit is open: answer per `storeFaults.mode`, never with a 429 of the store's making. */
  #withoutStore(
    context: RequestContext,
    charges: readonly Charge[],
    checks: readonly StoreCheck[],
    finish: Finish,
    error: unknown,
  ): Decision {
    const answer = this.#guard.fallback(checks, error, context.peek);
    if (answer === undefined) {
      // A peek cannot tell: let the request go on to its real decision, which will say.
      if (context.peek) return PASSED;
      return this.#emit(context, serviceUnavailable(context, this.#guard.retryAfterMs()));
    }
    const mode = this.#guard.mode === 'open' ? 'open' : 'local';
    context.degraded = mode;
    return this.#settled(context, charges, answer, finish, answer.allowed || mode === 'open', true);
  }

  /** The resolver failed: without a tier nothing can be decided; 503, never a 429 (not the client's fault). */
  #resolverFailed(context: RequestContext, error: unknown): Decision {
    this.#options.warnings.once({
      code: 'TL_RESOLVER_FAILED',
      // The error's own message is left out: a resolver's error could quote the API key.
      message: `resolveTier failed (${error instanceof Error ? error.name : typeof error}); answering 503.`,
      error,
    });
    return this.#emit(context, serviceUnavailable(context, UNAVAILABLE_RETRY_MS));
  }
}

function serviceUnavailable(context: RequestContext, retryAfterMs: number): Decision {
  return refusedDecision(partsOf(context, [], []), context, {
    status: 503,
    code: 'SERVICE_UNAVAILABLE',
    message: 'Rate limiting is temporarily unavailable. Retry shortly.',
    retryAfterMs,
  });
}

/**
 * A decision's parts. `charged` and `result`: what this decision's store call charged and
 * the answer to it (a later mount of the limiter reads them; see RequestFacts.prior);
 * `local`: the answer came from the local fallback.
 */
function partsOf(
  context: RequestContext,
  outcomes: readonly PolicyOutcome[],
  charges: readonly Charge[],
  charged?: readonly Charge[],
  result?: ConsumeResult,
  local = false,
): DecisionParts {
  return {
    tier: context.tier,
    outcomes,
    charges,
    degraded: context.degraded,
    identity: context.identity?.id,
    limits: context.identity?.tier,
    owner: context.owner,
    charged,
    result,
    local,
    previous: context.prior,
  };
}

function displayHeader(name: string): string {
  return name
    .replace(/(^|-)([a-z])/g, (_, dash: string, letter: string) => dash + letter.toUpperCase())
    .replace(/^X-Api-Key$/, 'X-API-Key');
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
