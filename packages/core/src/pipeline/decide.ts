/**
 * Step: the store, and the decision. Every charge of a request goes to the store in one
 * all-or-nothing call; its answer becomes the request's outcomes, and the outcomes its
 * decision. Also what follows a decision: a later mount's refusal gives back what the
 * earlier mounts charged, and a request that held concurrency slots gives them back
 * exactly once.
 */
import type { EventEmitter } from 'node:events';
import type { PinnableClock } from '../clock.js';
import type { Decision, PolicyOutcome } from '../decision.js';
import { PASSED } from '../decision.js';
import { type DecisionParts, type Held, refusedDecision } from '../response.js';
import type { CheckState, ConsumeResult, StoreCheck } from '../store.js';
import type { StoreGuard } from '../store-guard.js';
import { type Charge, chargeOf } from './charges.js';
import type { RateLimiterEvents } from './events.js';
import type { RequestContext } from './request.js';

/** Turns a request's parts into its decision once the store has answered. */
export type Finish = (context: RequestContext, parts: DecisionParts, allowed: boolean) => Decision;

/** The longest `Retry-After` of a concurrency refusal: a slot frees when a request finishes, which is soon. */
const CONCURRENCY_RETRY_MS = 1_000;

export const NO_CHARGES: readonly Charge[] = [];

export function checksOf(charges: readonly Charge[]): StoreCheck[] {
  const checks: StoreCheck[] = new Array(charges.length);
  for (let i = 0; i < charges.length; i++) checks[i] = (charges[i] as Charge).check;
  return checks;
}

/** `now`: the store's time when it decided (reset times are the store's, not the app's clock). */
export function outcomesOf(now: number, charges: readonly Charge[], result: ConsumeResult): PolicyOutcome[] {
  const count = charges.length;
  const states = result.states;
  const outcomes: PolicyOutcome[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const charge = charges[i] as Charge;
    const limit = charge.limit;
    const state = states[i];
    if (state === undefined) throw new TypeError(`Store answered ${states.length} states for ${count} checks.`);
    const suspended = state.suspended === true;
    outcomes[i] = {
      policy: limit.name,
      name: limit.key,
      algorithm: limit.algorithm,
      limit: limit.capacity,
      windowMs: charge.windowMs,
      per: limit.per,
      timeZone: limit.timeZone,
      cost: charge.cost,
      allowed: state.allowed,
      remaining: state.remaining,
      resetAt: now + state.resetMs,
      retryAfterMs:
        limit.algorithm === 'concurrency' && !suspended ? Math.min(state.retryMs, CONCURRENCY_RETRY_MS) : state.retryMs,
      shadow: limit.shadow,
      suspended,
    };
  }
  return outcomes;
}

/**
 * A decision's parts. `charged` and `result`: what this decision's store call charged and
 * the answer to it (a later mount of the limiter reads them; see RequestFacts.prior);
 * `local`: the answer came from the local fallback.
 */
export function partsOf(
  context: RequestContext,
  outcomes: readonly PolicyOutcome[],
  charges: readonly Charge[],
  charged?: readonly Charge[],
  result?: ConsumeResult,
  local = false,
  held?: Held,
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
    held,
  };
}

/** A refusal of the limiter's own: nothing could be decided (the store or the resolver failed). */
export function serviceUnavailable(context: RequestContext, retryAfterMs: number): Decision {
  return refusedDecision(partsOf(context, [], []), context, {
    status: 503,
    code: 'SERVICE_UNAVAILABLE',
    message: 'Rate limiting is temporarily unavailable. Retry shortly.',
    retryAfterMs,
  });
}

/** A concurrency slot a request holds: its check and the store's answer that took it. */
interface Slot {
  readonly check: StoreCheck;
  readonly answer: ConsumeResult;
  /** Taken by the local fallback (given back there). */
  readonly local: boolean;
  released: boolean;
}

/** The slots one request holds (its own and its earlier mounts'), given back once. */
class HeldSlots implements Held {
  readonly #slots: readonly Slot[];
  readonly #guard: StoreGuard;

  constructor(slots: readonly Slot[], guard: StoreGuard) {
    this.#slots = slots;
    this.#guard = guard;
  }

  get live(): boolean {
    for (const slot of this.#slots) if (!slot.released) return true;
    return false;
  }

  release(): void {
    for (const slot of this.#slots) {
      if (slot.released) continue;
      slot.released = true;
      if (slot.local) this.#guard.refundLocal([slot.check], slot.answer);
      else this.#guard.refund([slot.check], slot.answer);
    }
  }

  /** Its slots, for a later mount's decision to hold them too. */
  get slots(): readonly Slot[] {
    return this.#slots;
  }
}

/** The store call of a request, and what its answer becomes. */
export class Decider {
  readonly #guard: StoreGuard;
  readonly #storeClock: PinnableClock | undefined;
  readonly #events: EventEmitter<RateLimiterEvents>;

  constructor(guard: StoreGuard, storeClock: PinnableClock | undefined, events: EventEmitter<RateLimiterEvents>) {
    this.#guard = guard;
    this.#storeClock = storeClock;
    this.#events = events;
  }

  /** Decides the given charges (the per-IP limit's first) together, in one store call. */
  consume(
    context: RequestContext,
    charges: readonly Charge[],
    finish: Finish,
    reuse?: Finish,
  ): Decision | Promise<Decision> {
    if (context.prior !== undefined) {
      charges = unpaid(context.prior, charges, context.now);
      // Everything was paid for by an earlier mount: its decision stands.
      if (charges.length === 0 && finish === reuse) return context.priorDecision as Decision;
    }
    if (charges.length === 0) return finish(context, partsOf(context, [], []), true);
    return this.decide(context, charges, checksOf(charges), finish);
  }

  /** {@link Decider.consume} with the charges' checks at hand. */
  decide(
    context: RequestContext,
    charges: readonly Charge[],
    checks: readonly StoreCheck[],
    finish: Finish,
  ): Decision | Promise<Decision> {
    let result: ConsumeResult | Promise<ConsumeResult>;
    const clock = this.#storeClock;
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
        if (state.full) return this.emit(context, serviceUnavailable(context, state.retryMs));
      }
    }
    const at = answer.now ?? context.now;
    let outcomes = outcomesOf(at, charges, answer);
    let reported = charges;
    const prior = context.prior;
    if (prior !== undefined) {
      // One decision for the request: the earlier mounts' limits, updated by this one's.
      const keys = new Set(charges.map((charge) => charge.key));
      const earlier = prior.charges ?? [];
      const kept = prior.outcomes.filter((_, i) => !keys.has(earlier[i]?.key ?? ''));
      const keptCharges = earlier.filter((charge) => !keys.has(charge.key));
      outcomes = [...kept, ...outcomes];
      reported = [...keptCharges, ...charges];
    }
    const held = allowed && answer.allowed ? this.#held(charges, answer, local, prior) : prior?.held;
    const parts = partsOf(context, outcomes, reported, charges, answer, local, held);
    const decision = finish(context, parts, allowed);
    const states = answer.states;
    for (let i = 0; i < states.length; i++) {
      if (!states[i]?.suspendedNow) continue;
      const state = states[i] as CheckState;
      const charge = charges[i] as Charge;
      this.#events.emit('suspended', {
        identity: charge.identity,
        policy: charge.limit.key,
        until: at + state.retryMs,
        decision,
      });
    }
    return decision;
  }

  /** The concurrency slots an admitted request holds: those this call took, and its earlier mounts'. */
  #held(
    charges: readonly Charge[],
    answer: ConsumeResult,
    local: boolean,
    prior: DecisionParts | undefined,
  ): Held | undefined {
    const earlier = (prior?.held as HeldSlots | undefined)?.slots;
    let slots: Slot[] | undefined;
    for (let i = 0; i < charges.length; i++) {
      const charge = charges[i] as Charge;
      if (charge.limit.algorithm !== 'concurrency') continue;
      const state = answer.states[i] as CheckState;
      if (state.lease === undefined) continue;
      slots ??= earlier === undefined ? [] : [...earlier];
      slots.push({
        check: charge.check,
        answer: { allowed: true, states: [state], ...(answer.now === undefined ? {} : { now: answer.now }) },
        local,
        released: false,
      });
    }
    if (slots === undefined) return prior?.held;
    return new HeldSlots(slots, this.#guard);
  }

  /**
   * Reports a decision to listeners (`allowed`, `limited`, `refused`, `shadowLimited`) and
   * returns it. A refusal by a later mount gives back what the earlier mounts of this
   * request charged: one request is charged all or nothing.
   */
  emit(context: RequestContext, decision: Decision): Decision {
    if (!decision.allowed && context.prior !== undefined) this.#refundAll(context.prior);
    const events = this.#events;
    // Asking first is cheaper than an emit without listeners (which allocates its arguments).
    const name = decision.allowed ? 'allowed' : decision.status === 429 ? 'limited' : 'refused';
    if (events.listenerCount(name) !== 0) events.emit(name, decision);
    for (const outcome of decision.policies) {
      if (outcome.shadow && !outcome.allowed) events.emit('shadowLimited', { policy: outcome.name, decision });
    }
    return decision;
  }

  /** Gives back every charge of a request's earlier mounts (to the store, or to the local fallback that made it). */
  #refundAll(parts: DecisionParts): void {
    const held = parts.held as HeldSlots | undefined;
    if (held !== undefined) for (const slot of held.slots) slot.released = true;
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
      return this.emit(context, serviceUnavailable(context, this.#guard.retryAfterMs()));
    }
    const mode = this.#guard.mode === 'open' ? 'open' : 'local';
    context.degraded = mode;
    return this.#settled(context, charges, answer, finish, answer.allowed || mode === 'open', true);
  }
}

/**
 * What is left to charge of `charges` after the earlier mounts of this request: each
 * limit is paid at most once, at the largest cost any mount asks for (a later mount pays
 * the difference).
 */
function unpaid(prior: DecisionParts, charges: readonly Charge[], now: number): readonly Charge[] {
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
        : chargeOf(charge.limit, charge.key, charge.identity, extra, charge.check.penalty, now),
    );
  }
  return left;
}
