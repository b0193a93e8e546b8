/**
 * The pipeline, step by step: request facts → client address → identity (API key, tier
 * cache, resolver) → the tier's policy → the charges to run → the store → the decision.
 * Each step lives in its own module; this one strings them together. It answers
 * synchronously when the tier is cached and the store is synchronous (the memory store),
 * so adapters pay for a promise only when one is needed.
 */
import type { Decision } from '../decision.js';
import { ConfigurationError, isRequestError } from '../errors.js';
import type { Guessers } from '../guessers.js';
import { hashedIdentity, MALFORMED, readApiKey } from '../identity.js';
import type { ResolvedLimit, ResolvedPolicy } from '../limits.js';
import { storageKey } from '../namespaces.js';
import { allowedDecision, decisionParts, limitedDecision, refusedDecision } from '../response.js';
import type { RuntimeChecks } from '../runtime-checks.js';
import { type Identity, identityFor, type TierCache } from '../tier-cache.js';
import { describeValue } from '../validate.js';
import { type ResolvedOptions, UNKNOWN_KEYS } from '../validate-options.js';
import type { AddressCache } from './address.js';
import { type Charge, chargeOf, type PolicyCharges, penaltyOf, policyCharges, tooLarge } from './charges.js';
import { checksOf, type Decider, type Finish, NO_CHARGES, partsOf, serviceUnavailable } from './decide.js';
import { type Cost, type Pair, RequestContext, type RequestFacts, type Route } from './request.js';

/** How long (ms) a client is asked to wait when the limiter cannot decide (store or resolver failure). */
const UNAVAILABLE_RETRY_MS = 5_000;

/** A refusal that is not a rate limit (400, 401, 4xx from a cost function). */
interface Refusal {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>> | undefined;
}

/** What the engine shares with the limiter that owns it. */
export interface EngineParts {
  /** The options in force (a tier reload replaces them). */
  readonly options: () => ResolvedOptions;
  readonly owner: object;
  readonly cache: TierCache;
  readonly guessers: Guessers;
  readonly addresses: AddressCache;
  readonly checks: RuntimeChecks;
  readonly decider: Decider;
}

export class Engine {
  readonly #parts: EngineParts;
  readonly #decider: Decider;
  /** Routes whose cost function failed, already reported. */
  readonly #costWarned = new Set<string>();

  constructor(parts: EngineParts) {
    this.#parts = parts;
    this.#decider = parts.decider;
  }

  /** Evaluates one request against `policyName` (`false`: the per-IP limit only) at `cost`. */
  evaluate(
    facts: RequestFacts,
    policyName: string | false,
    cost: Cost,
    request: unknown,
    route: Route | undefined,
    peek: boolean,
  ): Decision | Promise<Decision> {
    const { owner, addresses, checks, cache, guessers } = this.#parts;
    const options = this.#parts.options();
    const address = addresses.of(facts);
    if (checks.pending) checks.inspect(facts.trustProxy, facts.headers, address.usable);
    const context = new RequestContext(
      owner,
      options.now(),
      facts.headers,
      options.requestIdHeader,
      options.render,
      address,
    );
    context.request = request;
    context.route = route;
    context.peek = peek;
    const prior = facts.prior;
    if (prior !== undefined) {
      const parts = decisionParts(prior);
      if (parts?.owner === owner) {
        context.prior = parts;
        context.priorDecision = prior;
      }
    }

    // A key seen before needs no validation: one lookup by the header's raw value.
    const header = options.apiKeyHeader;
    const raw = facts.headers[header];
    if (typeof raw === 'string' && header !== 'authorization') {
      const known = cache.getWire(raw, context.now);
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
          anonymous = identityFor(anonymousTier, address.identity);
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
    const cached = cache.get(apiKey, context.now);
    if (cached !== undefined) return this.#withIdentity(context, cached, policyName, cost);
    if (guessers.blocked(address.identity, context.now)) {
      // This address has used up its unknown-key budget: answer from the store (a 429)
      // without asking the resolver, so guessing keys cannot load the user's database;
      // but a key seen valid before, and one other key per interval, are looked up.
      const unknownKeys = options.unknownKeys as ResolvedLimit;
      if (
        !guessers.knows(hashedIdentity('key', apiKey)) &&
        !guessers.probe(address.identity, context.now, unknownKeys.windowMs / unknownKeys.limit)
      ) {
        return this.#withIdentity(context, null, policyName, cost);
      }
    }
    const loaded = cache.load(apiKey);
    if (!(loaded instanceof Promise)) return this.#withIdentity(context, loaded, policyName, cost);
    return loaded.then(
      (identity) => this.#withIdentity(context, identity, policyName, cost),
      (error: unknown) => this.#resolverFailed(context, error),
    );
  }

  #withIdentity(
    context: RequestContext,
    identity: Identity | null,
    policyName: string | false,
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
    if (
      cost === 1 &&
      unit !== undefined &&
      unit.policy.name === policyName &&
      context.prior === undefined &&
      context.now < unit.renewAt
    ) {
      const address = context.address;
      let last = address.last;
      if (last?.unit !== unit) last = this.#pair(context, unit);
      return this.#decider.decide(context, last.charges, last.checks, this.#finishCharge);
    }
    if (policyName === false) return this.#charge(context, identity, false, 0);
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

  /** The address's charges for a one-unit request of `unit`, kept for its next request. */
  #pair(context: RequestContext, unit: PolicyCharges): Pair {
    const charges = this.#withIp(context, unit.charges);
    const pair = { unit, charges, checks: checksOf(charges) };
    context.address.last = pair;
    return pair;
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
    if (policy === false)
      return this.#decider.consume(context, this.#withIp(context, NO_CHARGES), this.#finishCharge, this.#finishCharge);
    const unit = this.#unitCharges(context, identity, policy);
    const oversized = context.peek ? undefined : tooLarge(policy, cost);
    if (oversized !== undefined) {
      // It could never succeed: reject as bad input, charge the policy nothing, no Retry-After.
      const limit = oversized.capacity;
      const name = oversized.key;
      const key = (unit.charges.find((charge) => charge.limit === oversized) as Charge).key;
      return this.#refuse(
        context,
        {
          status: 413,
          code: 'BATCH_TOO_LARGE',
          message: `This request costs ${cost} but the \`${name}\` limit of your plan allows at most ${limit} at once. Split it into smaller requests.`,
          details: { cost, limit, policy: name },
        },
        [chargeOf(oversized, key, identity.id, 0, undefined, context.now)],
        true,
      );
    }
    const charges =
      cost === 1 ? unit : policyCharges(policy, identity.id, cost, penaltyFor(identity), context.now, unit.charges);
    return this.#decider.consume(
      context,
      this.#withIp(context, charges.charges),
      this.#finishCharge,
      this.#finishCharge,
    );
  }

  /**
   * The identity's one-unit charges of `policy`, built on first use and kept with the
   * identity; rebuilt when one of its calendar quotas enters a new period.
   */
  #unitCharges(context: RequestContext, identity: Identity, policy: ResolvedPolicy): PolicyCharges {
    const first = identity.unit;
    const now = context.now;
    if (first?.policy === policy && now < first.renewAt) return first;
    const other = identity.units?.get(policy.name);
    if (other !== undefined && other.policy === policy && now < other.renewAt) return other;
    identity.penalty ??= penaltyOf(this.#parts.options().suspension, identity.id) ?? false;
    const previous = first?.policy === policy ? first : other?.policy === policy ? other : undefined;
    const charges = policyCharges(policy, identity.id, 1, penaltyFor(identity), now, previous?.charges);
    if (first === undefined || first.policy === policy) {
      identity.unit = charges;
    } else {
      identity.units ??= new Map();
      identity.units.set(policy.name, charges);
    }
    return charges;
  }

  /** The charges of a request: the per-IP limit's one unit (when there is a per-IP limit), then `charges`. */
  #withIp(context: RequestContext, charges: readonly Charge[]): readonly Charge[] {
    const ip = context.address.charge;
    if (ip === undefined) return charges;
    if (charges.length === 0) return [ip];
    return [ip, ...charges];
  }

  /** An admitted or rate-limited request. */
  readonly #finishCharge: Finish = (context, parts, allowed) =>
    this.#decider.emit(context, allowed ? allowedDecision(parts, context) : limitedDecision(parts, context));

  /**
   * A refusal that still counts one request against the per-IP limit (a 429 if that is
   * exhausted). `reportExtra`: the headers describe the last of `extra` (a 413's limit).
   */
  #refuse(
    context: RequestContext,
    refusal: Refusal,
    extra: readonly Charge[] = NO_CHARGES,
    reportExtra = false,
  ): Decision | Promise<Decision> {
    // A refusal is final: it is charged even when it was found on a peek.
    context.peek = false;
    const ip = context.address.charge;
    const charges = ip === undefined ? extra : [ip, ...extra];
    return this.#decider.consume(context, charges, (_, parts, allowed) => {
      const guessers = this.#parts.guessers;
      if (allowed) {
        // Once this address has used up its unknown-key budget, the resolver is not asked again until it refills.
        const guesses = parts.outcomes.find((outcome) => outcome.policy === UNKNOWN_KEYS);
        if (guesses !== undefined && guesses.remaining === 0) guessers.block(context.address.identity, guesses.resetAt);
        // Headers describe the limit closest to exhaustion, or for a 413 the limit the batch is too big for.
        const reported = reportExtra ? parts.outcomes[parts.outcomes.length - 1] : undefined;
        return this.#decider.emit(context, refusedDecision(parts, context, { ...refusal, reported }));
      }
      const limited = limitedDecision(parts, context);
      if (limited.policy?.policy === UNKNOWN_KEYS)
        guessers.block(context.address.identity, context.now + limited.retryAfterMs);
      return this.#decider.emit(context, limited);
    });
  }

  /** The unknown-key limit's charge for this client address (key enumeration, SPEC section 3), if enabled. */
  #unknownKeyCharges(context: RequestContext): Charge[] {
    const limit = this.#parts.options().unknownKeys;
    if (limit === false) return [];
    const address = context.address;
    return [
      chargeOf(limit, storageKey(limit.key, address.identity), address.identity, 1, address.penalty, context.now),
    ];
  }

  /**
   * The route's cost function threw, or returned something that is not a unit count. A
   * RequestError is the client's bad input (its 4xx, charged to the per-IP limit); anything
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
      route?.label === undefined ? `the \`${route?.policy || 'api'}\` route` : route.label(context.request as never);
    if (!this.#costWarned.has(label)) {
      if (this.#costWarned.size >= 1_000) this.#costWarned.clear();
      this.#costWarned.add(label);
      this.#parts.options().warnings.send({
        code: 'TL_INVALID_COST',
        message: `the cost function of ${label} failed (${error instanceof Error ? error.message : describeValue(error)}); expected a non-negative integer, or a thrown RequestError for bad input. Answering 500 INTERNAL_ERROR.`,
        error,
      });
    }
    return this.#decider.emit(
      context,
      refusedDecision(partsOf(context, [], []), context, {
        status: 500,
        code: 'INTERNAL_ERROR',
        message: 'The server could not process this request.',
      }),
    );
  }

  /** The resolver failed: without a tier nothing can be decided; 503, never a 429 (not the client's fault). */
  #resolverFailed(context: RequestContext, error: unknown): Decision {
    this.#parts.options().warnings.once({
      code: 'TL_RESOLVER_FAILED',
      // The error's own message is left out: a resolver's error could quote the API key.
      message: `resolveTier failed (${error instanceof Error ? error.name : typeof error}); answering 503.`,
      error,
    });
    return this.#decider.emit(context, serviceUnavailable(context, UNAVAILABLE_RETRY_MS));
  }
}

function penaltyFor(identity: Identity) {
  const penalty = identity.penalty;
  return penalty === false ? undefined : penalty;
}

function displayHeader(name: string): string {
  return name
    .replace(/(^|-)([a-z])/g, (_, dash: string, letter: string) => dash + letter.toUpperCase())
    .replace(/^X-Api-Key$/, 'X-API-Key');
}
