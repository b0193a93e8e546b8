/**
 * Backs fixed-window policies with any rate-limiter-flexible limiter, so tierlimit runs on
 * the stores its users already have: Postgres, MySQL, Mongo, Memcached, DynamoDB, its
 * cluster/PM2 stores, and more. The limiter is structural here (no import of
 * rate-limiter-flexible): you construct it, we call `consume`, `reward` and `get`.
 *
 * What it can and cannot promise (SPEC section 6):
 * - Fixed windows only, in whole seconds: rate-limiter-flexible has no token bucket.
 *   Unsupported policies fail at construction, not per request.
 * - Each policy is exact on its own (each backend's consume is atomic per key), but a
 *   request's policies are charged one after the other: when a later one denies, the
 *   earlier charges are given back with `reward`. Meanwhile a concurrent request may see
 *   the extra units and be denied: it can under-admit briefly, never over-admit.
 * - A rejected consume still adds its points in rate-limiter-flexible; they are rewarded
 *   back too, so denied requests cost nothing, as with the other stores.
 * - "Limited" arrives as a rejection with a result object and a failure as a rejection
 *   with an Error; they are told apart here so a database outage is never a 429.
 */
import { ConfigurationError, StoreError } from './errors.js';
import type { CheckState, ConsumeOptions, ConsumeResult, PolicySpec, Store, StoreCheck } from './store.js';

/** The result object rate-limiter-flexible resolves (allowed) or rejects (limited) with. */
export interface FlexibleResult {
  readonly remainingPoints: number;
  readonly msBeforeNext: number;
  readonly consumedPoints: number;
}

/** The part of a rate-limiter-flexible limiter tierlimit uses. Any of its limiters fits. */
export interface FlexibleLimiter {
  consume(key: string, points?: number): Promise<FlexibleResult>;
  reward(key: string, points?: number): Promise<unknown>;
  get(key: string): Promise<FlexibleResult | null>;
}

/** Options of {@link flexibleStore}. */
export interface FlexibleStoreOptions {
  /**
   * Builds the limiter for one policy size: `points` per `duration` seconds, for example
   * `({ points, duration }) => new RateLimiterPostgres({ storeClient: pool, points, duration })`.
   * Called once per distinct size and reused. Required.
   */
  readonly create: (size: { readonly points: number; readonly duration: number }) => FlexibleLimiter;
}

function isResult(value: unknown): value is FlexibleResult {
  return (
    typeof value === 'object' &&
    value !== null &&
    !(value instanceof Error) &&
    typeof (value as FlexibleResult).msBeforeNext === 'number' &&
    typeof (value as FlexibleResult).consumedPoints === 'number'
  );
}

export class FlexibleStore implements Store {
  readonly #create: FlexibleStoreOptions['create'];
  readonly #limiters = new Map<string, FlexibleLimiter>();

  constructor(options: FlexibleStoreOptions) {
    if (typeof options?.create !== 'function') {
      throw new ConfigurationError(
        'Expected `create` to be a function building a rate-limiter-flexible limiter for { points, duration }.',
      );
    }
    this.#create = options.create;
  }

  unsupported(policy: PolicySpec): string | undefined {
    if (policy.algorithm === 'token-bucket') {
      return 'rate-limiter-flexible has no token bucket; remove `burst` or use the memory or Redis store for this policy';
    }
    if (policy.algorithm !== 'fixed-window') {
      return `rate-limiter-flexible keeps only fixed windows, not \`${policy.algorithm}\`; use the memory or Redis store for this policy`;
    }
    if (policy.windowMs % 1_000 !== 0) return 'rate-limiter-flexible windows are whole seconds';
    return undefined;
  }

  async consume(checks: readonly StoreCheck[], options?: ConsumeOptions): Promise<ConsumeResult> {
    // rate-limiter-flexible reports times relative to its own clock read; this is close to it.
    const now = Date.now();
    const states: CheckState[] = new Array(checks.length);
    if (options?.peek === true) {
      let fits = true;
      for (let i = 0; i < checks.length; i++) {
        const check = checks[i] as StoreCheck;
        const state = await this.#peek(this.#limiterFor(check), check);
        states[i] = state;
        if (!state.allowed && !check.shadow) fits = false;
      }
      return { allowed: fits, states, now };
    }
    const charged: Array<{ index: number; limiter: FlexibleLimiter; check: StoreCheck }> = [];
    let allowed = true;
    for (let i = 0; i < checks.length; i++) {
      const check = checks[i] as StoreCheck;
      const limiter = this.#limiterFor(check);
      if (!allowed || check.cost === 0) {
        states[i] = await this.#peek(limiter, check);
        continue;
      }
      let result: FlexibleResult;
      let fits = true;
      try {
        result = await limiter.consume(check.key, check.cost);
      } catch (rejection) {
        if (!isResult(rejection)) {
          await this.#refund(charged);
          throw new StoreError('the rate-limiter-flexible store failed', { cause: rejection });
        }
        result = rejection;
        fits = false;
      }
      if (fits) {
        charged.push({ index: i, limiter, check });
        states[i] = {
          allowed: true,
          remaining: Math.max(0, result.remainingPoints),
          resetMs: result.msBeforeNext,
          retryMs: 0,
        };
        continue;
      }
      allowed = false;
      await this.#refund([...charged, { index: i, limiter, check }]);
      states[i] = {
        allowed: false,
        remaining: Math.max(0, check.limit - (result.consumedPoints - check.cost)),
        resetMs: result.msBeforeNext,
        retryMs: result.msBeforeNext,
      };
      for (const { index, check: earlier } of charged) {
        const state = states[index] as CheckState;
        states[index] = { ...state, remaining: Math.min(earlier.limit, state.remaining + earlier.cost) };
      }
    }
    return { allowed, states, now };
  }

  /** Rewards back what an earlier `consume` charged, while its window lasts. */
  async refund(checks: readonly StoreCheck[], result: ConsumeResult): Promise<void> {
    if (!result.allowed) return;
    const now = Date.now();
    const at = result.now ?? now;
    const charged: Array<{ limiter: FlexibleLimiter; check: StoreCheck }> = [];
    for (let i = 0; i < checks.length; i++) {
      const check = checks[i] as StoreCheck;
      const state = result.states[i];
      // A reward in a later window would give the key points it never had.
      if (state?.allowed !== true || check.cost === 0 || now >= at + state.resetMs) continue;
      charged.push({ limiter: this.#limiterFor(check), check });
    }
    await this.#refund(charged);
  }

  #limiterFor(check: StoreCheck): FlexibleLimiter {
    const id = `${check.limit}/${check.windowMs}`;
    let limiter = this.#limiters.get(id);
    if (limiter === undefined) {
      limiter = this.#create({ points: check.limit, duration: check.windowMs / 1_000 });
      this.#limiters.set(id, limiter);
    }
    return limiter;
  }

  async #peek(limiter: FlexibleLimiter, check: StoreCheck): Promise<CheckState> {
    let result: FlexibleResult | null;
    try {
      result = await limiter.get(check.key);
    } catch (error) {
      throw new StoreError('the rate-limiter-flexible store failed', { cause: error });
    }
    if (result === null || result.msBeforeNext <= 0) {
      return { allowed: check.cost <= check.limit, remaining: check.limit, resetMs: check.windowMs, retryMs: 0 };
    }
    const fits = result.consumedPoints + check.cost <= check.limit;
    return {
      allowed: fits,
      remaining: Math.max(0, check.limit - result.consumedPoints),
      resetMs: result.msBeforeNext,
      retryMs: fits ? 0 : result.msBeforeNext,
    };
  }

  async #refund(charged: ReadonlyArray<{ limiter: FlexibleLimiter; check: StoreCheck }>): Promise<void> {
    // Best effort: if the backend is failing, an unrefunded charge only errs on the strict side.
    await Promise.all(
      charged.map(({ limiter, check }) => limiter.reward(check.key, check.cost).catch(() => undefined)),
    );
  }
}

/** Creates a store backed by rate-limiter-flexible limiters. See {@link FlexibleStoreOptions}. */
export function flexibleStore(options: FlexibleStoreOptions): FlexibleStore {
  return new FlexibleStore(options);
}
