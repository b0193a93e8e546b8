/**
 * The engine: from request facts (client address, headers) and a route's policy and
 * cost to one Decision. It evaluates every policy that applies as one all-or-nothing
 * store call, and answers synchronously when the tier is cached and the store is
 * synchronous (the memory store), so adapters pay for a promise only when one is needed.
 */

import { EventEmitter } from 'node:events';
import { ipIdentity } from './client-ip.js';
import { type Decision, type PolicyOutcome, SKIPPED } from './decision.js';
import { ConfigurationError, isRequestError } from './errors.js';
import { ipIdentityKey, MALFORMED, type RequestHeaders, readApiKey, storageKey } from './identity.js';
import type { RateLimiterOptions } from './options.js';
import { requestIdFrom } from './request-id.js';
import {
  allowedDecision,
  type DecisionParts,
  limitedDecision,
  type RenderContext,
  refusedDecision,
} from './response.js';
import type { ConsumeResult, Store, StoreCheck } from './store.js';
import { type FaultMode, StoreGuard } from './store-guard.js';
import { type Identity, identityFor, TierCache } from './tier-cache.js';
import { describeValue, nonNegativeInteger, optionalFunction, rejectUnknownKeys } from './validate.js';
import { type ResolvedOptions, type ResolvedPolicy, type ResolvedTier, resolveOptions } from './validate-options.js';

/** What an adapter tells the core about a request. */
export interface RequestFacts {
  /** Client address as the framework reports it after its trust-proxy logic; `undefined` if unknown. */
  readonly ip: string | undefined;
  /** Request headers with lower-case names (Node's `req.headers`). */
  readonly headers: RequestHeaders;
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

/** Evaluates one request for a route; synchronous when nothing needs to wait. */
export type RouteHandler<Req> = (request: Req, facts: RequestFacts) => Decision | Promise<Decision>;

/** One policy to charge for a request (a cost of 0 only reads it). */
interface Charge {
  readonly policy: ResolvedPolicy;
  readonly key: string;
  readonly cost: number;
}

/** How long (ms) a client is asked to wait when the limiter cannot decide (store or resolver failure). */
const UNAVAILABLE_RETRY_MS = 5_000;

/** Events a RateLimiter emits (`limiter.on(name, listener)`). */
export interface RateLimiterEvents {
  /** A store call failed or timed out (not emitted while the circuit is open). */
  storeError: [error: unknown];
  /** The store started failing; requests are now answered per `storeFaults.mode`. */
  degraded: [info: { readonly mode: FaultMode; readonly error: unknown }];
  /** The store answered again after failing; `downtimeMs` is how long requests were degraded. */
  recovered: [info: { readonly downtimeMs: number }];
}

class RequestContext implements RenderContext {
  readonly now: number;
  ipKey = '';
  tier: string | undefined;
  identity: Identity | undefined;
  degraded: 'local' | 'open' | undefined;
  readonly #headers: RequestHeaders;
  readonly #header: string;
  #requestId: string | undefined;

  constructor(now: number, headers: RequestHeaders, header: string) {
    this.now = now;
    this.#headers = headers;
    this.#header = header;
  }

  requestId = (): string => {
    this.#requestId ??= requestIdFrom(this.#headers, this.#header);
    return this.#requestId;
  };
}

function checkFor(policy: ResolvedPolicy, key: string, cost: number): StoreCheck {
  return {
    key,
    algorithm: policy.algorithm,
    limit: policy.limit,
    windowMs: policy.windowMs,
    capacity: policy.capacity,
    cost,
  };
}

function outcomesOf(
  now: number,
  policies: readonly ResolvedPolicy[],
  checks: readonly StoreCheck[],
  result: ConsumeResult,
): PolicyOutcome[] {
  const outcomes: PolicyOutcome[] = new Array(policies.length);
  for (let i = 0; i < policies.length; i++) {
    const policy = policies[i] as ResolvedPolicy;
    const state = result.states[i];
    if (state === undefined)
      throw new TypeError(`Store answered ${result.states.length} states for ${policies.length} checks.`);
    outcomes[i] = {
      policy: policy.name,
      algorithm: policy.algorithm,
      limit: policy.capacity,
      windowMs:
        policy.algorithm === 'fixed-window'
          ? policy.windowMs
          : Math.round((policy.capacity * policy.windowMs) / policy.limit),
      cost: (checks[i] as StoreCheck).cost,
      allowed: state.allowed,
      remaining: state.remaining,
      resetAt: now + state.resetMs,
      retryAfterMs: state.retryMs,
    };
  }
  return outcomes;
}

/** Brand shared by the ESM and CJS builds, so adapters recognise a limiter from either (see isRateLimiter). */
const LIMITER = Symbol.for('tierlimit.RateLimiter');

/** Rate limiter for one API: tiers, resolver cache, store. Share one instance across routes. */
export class RateLimiter extends EventEmitter<RateLimiterEvents> {
  readonly [LIMITER] = true;
  readonly #options: ResolvedOptions;
  readonly #cache: TierCache;
  readonly #guard: StoreGuard;

  constructor(options: RateLimiterOptions = {}) {
    super();
    const resolved = resolveOptions(options);
    this.#options = resolved;
    this.#cache = new TierCache(resolved);
    this.#guard = new StoreGuard(resolved.store, resolved.faults, resolved.now, {
      storeError: (error) => {
        resolved.warn({
          code: 'TL_STORE_FAILED',
          message: `the store failed (${error instanceof Error ? error.message : typeof error}); answering per storeFaults.mode '${resolved.faults.mode}' until it recovers.`,
          error,
        });
        this.emit('storeError', error);
      },
      degraded: (mode, error) => this.emit('degraded', { mode, error }),
      recovered: (downtimeMs) => this.emit('recovered', { downtimeMs }),
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
      return this.#evaluate(facts, route.policy ?? 'api', route.cost ?? 1);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Validates a route's options once and returns the function an adapter calls per
   * request. Throws a ConfigurationError if some tier does not define the route's policy.
   */
  handler<Req>(options: RouteOptions<Req> = {}): RouteHandler<Req> {
    rejectUnknownKeys(options, ['policy', 'cost', 'skip'], 'route options');
    const policy = options.policy ?? 'api';
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
    return (request, facts) => {
      try {
        if (skip?.(request)) return SKIPPED;
        return this.#evaluate(facts, policy, typeof cost === 'function' ? () => cost(request) : cost);
      } catch (error) {
        return Promise.reject(error);
      }
    };
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
    cost: number | (() => number | Promise<number>),
  ): Decision | Promise<Decision> {
    const options = this.#options;
    const context = new RequestContext(options.now(), facts.headers, options.requestIdHeader);
    const ip = ipIdentity(facts.ip, options.ipv6Subnet);
    if (ip === undefined) {
      options.warn({
        code: 'TL_NO_CLIENT_IP',
        message:
          'A request had no usable client IP address; such requests share one per-IP bucket. Check that the adapter runs on a live connection and that the trust-proxy setting yields addresses.',
      });
    }
    const ipIdentityValue = ipIdentityKey(ip ?? '?');
    context.ipKey = storageKey('ip', ipIdentityValue);

    const apiKey = readApiKey(facts.headers, options.apiKeyHeader, options.maxApiKeyLength);
    if (apiKey === MALFORMED) {
      return this.#refuse(context, {
        status: 400,
        code: 'INVALID_API_KEY',
        message: `The API key is malformed: expected 1 to ${options.maxApiKeyLength} printable ASCII characters.`,
      });
    }
    if (apiKey === undefined) {
      if (options.anonymousTier !== undefined) {
        return this.#withIdentity(context, identityFor(options.anonymousTier, ipIdentityValue), policyName, cost);
      }
      return this.#refuse(context, {
        status: 401,
        code: 'UNAUTHORIZED',
        message: `Missing API key. Send it in the ${displayHeader(options.apiKeyHeader)} header.`,
      });
    }
    const cached = this.#cache.get(apiKey, context.now);
    if (cached !== undefined) return this.#withIdentity(context, cached, policyName, cost);
    return this.#cache.load(apiKey).then(
      (identity) => this.#withIdentity(context, identity, policyName, cost),
      (error: unknown) => this.#resolverFailed(context, error),
    );
  }

  #withIdentity(
    context: RequestContext,
    identity: Identity | null,
    policyName: string,
    cost: number | (() => number | Promise<number>),
  ): Decision | Promise<Decision> {
    if (identity === null) {
      return this.#refuse(context, { status: 401, code: 'UNAUTHORIZED', message: 'Invalid API key.' });
    }
    context.tier = identity.tier.name;
    context.identity = identity;
    const policy = identity.tier.policies.get(policyName);
    if (policy === undefined) {
      throw new ConfigurationError(`Tier \`${identity.tier.name}\` does not define policy \`${policyName}\`.`);
    }
    if (typeof cost === 'number') return this.#charge(context, identity, policy, cost);
    let units: number | Promise<number>;
    try {
      units = cost();
    } catch (error) {
      return this.#refuseBadInput(context, error);
    }
    if (units instanceof Promise) {
      return units.then(
        (resolved) => this.#charge(context, identity, policy, resolved),
        (error: unknown) => this.#refuseBadInput(context, error),
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
      throw new TypeError(
        `Expected the route's cost to be a non-negative integer, got ${describeValue(cost)}. Throw a RequestError from the cost function to reject bad input.`,
      );
    }
    let charge: Charge | undefined;
    if (policy !== false) {
      const key = identity.keys.get(policy.name) as string;
      if (cost > policy.capacity) {
        // It could never succeed: reject as bad input, charge the policy nothing, no Retry-After.
        return this.#refuse(
          context,
          {
            status: 413,
            code: 'BATCH_TOO_LARGE',
            message: `This request costs ${cost} but the \`${policy.name}\` limit of your plan allows at most ${policy.capacity} at once. Split it into smaller requests.`,
            details: { cost, limit: policy.capacity, policy: policy.name },
          },
          { policy, key, cost: 0 },
        );
      }
      charge = { policy, key, cost };
    }
    return this.#consume(context, charge, (outcomes, allowed) =>
      allowed ? allowedDecision(partsOf(context, outcomes)) : limitedDecision(partsOf(context, outcomes), context),
    );
  }

  /** A refusal that still counts one request against the per-IP policy (a 429 if that is exhausted). */
  #refuse(
    context: RequestContext,
    refusal: {
      readonly status: number;
      readonly code: string;
      readonly message: string;
      readonly details?: Readonly<Record<string, unknown>> | undefined;
    },
    peek?: Charge,
  ): Decision | Promise<Decision> {
    return this.#consume(context, peek, (outcomes, allowed) =>
      allowed
        ? refusedDecision(partsOf(context, outcomes), context, { ...refusal, reported: outcomes[outcomes.length - 1] })
        : limitedDecision(partsOf(context, outcomes), context),
    );
  }

  #refuseBadInput(context: RequestContext, error: unknown): Decision | Promise<Decision> {
    if (!isRequestError(error)) throw error;
    return this.#refuse(context, {
      status: error.status,
      code: error.code,
      message: error.message,
      details: error.details,
    });
  }

  /** Decides the per-IP policy (one request) and, when given, one more charge, in one store call. */
  #consume(
    context: RequestContext,
    charge: Charge | undefined,
    finish: (outcomes: readonly PolicyOutcome[], allowed: boolean) => Decision,
  ): Decision | Promise<Decision> {
    const ipPolicy = this.#options.ip;
    const policies: ResolvedPolicy[] = [];
    const checks: StoreCheck[] = [];
    if (ipPolicy !== false) {
      policies.push(ipPolicy);
      checks.push(checkFor(ipPolicy, context.ipKey, 1));
    }
    if (charge !== undefined) {
      policies.push(charge.policy);
      checks.push(checkFor(charge.policy, charge.key, charge.cost));
    }
    if (checks.length === 0) return finish([], true);
    const done = (answer: ConsumeResult) => finish(outcomesOf(context.now, policies, checks, answer), answer.allowed);
    let result: ConsumeResult | Promise<ConsumeResult>;
    try {
      result = this.#guard.consume(checks);
    } catch (error) {
      return this.#withoutStore(context, policies, checks, finish, error);
    }
    if (result instanceof Promise) {
      return result.then(done, (error: unknown) => this.#withoutStore(context, policies, checks, finish, error));
    }
    return done(result);
  }

  /** The store failed or the circuit is open: answer per `storeFaults.mode`, never with a 429 of the store's making. */
  #withoutStore(
    context: RequestContext,
    policies: readonly ResolvedPolicy[],
    checks: readonly StoreCheck[],
    finish: (outcomes: readonly PolicyOutcome[], allowed: boolean) => Decision,
    error: unknown,
  ): Decision {
    const answer = this.#guard.fallback(checks, error);
    if (answer === undefined) return serviceUnavailable(context, this.#guard.retryAfterMs());
    const mode = this.#guard.mode === 'open' ? 'open' : 'local';
    context.degraded = mode;
    return finish(outcomesOf(context.now, policies, checks, answer), answer.allowed || mode === 'open');
  }

  /** The resolver failed: without a tier nothing can be decided; 503, never a 429 (not the client's fault). */
  #resolverFailed(context: RequestContext, error: unknown): Decision {
    this.#options.warn({
      code: 'TL_RESOLVER_FAILED',
      // The error's own message is left out: a resolver's error could quote the API key.
      message: `resolveTier failed (${error instanceof Error ? error.name : typeof error}); answering 503.`,
      error,
    });
    return serviceUnavailable(context, UNAVAILABLE_RETRY_MS);
  }
}

function serviceUnavailable(context: RequestContext, retryAfterMs: number): Decision {
  return refusedDecision(partsOf(context, []), context, {
    status: 503,
    code: 'SERVICE_UNAVAILABLE',
    message: 'Rate limiting is temporarily unavailable. Retry shortly.',
    retryAfterMs,
  });
}

function partsOf(context: RequestContext, outcomes: readonly PolicyOutcome[]): DecisionParts {
  return {
    tier: context.tier,
    outcomes,
    degraded: context.degraded,
    identity: context.identity?.id,
    limits: context.identity?.tier,
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
