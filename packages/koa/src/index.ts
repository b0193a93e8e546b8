/**
 * Koa adapter. This file only translates: it reads the request facts Koa already computed
 * (`ctx.ip` honours `app.proxy` and `app.maxIpsCount`), asks the core once, and writes the
 * decision with Koa's API. Policy, headers and bodies belong in @tierlimit/core.
 */
import {
  type Decision,
  errorResponse,
  isRateLimiter,
  RateLimiter,
  type RateLimiterOptions,
  type RouteOptions,
} from '@tierlimit/core';
import type { Context, Middleware, Next, ParameterizedContext } from 'koa';

export type { Decision, RateLimiterOptions, RouteOptions } from '@tierlimit/core';
export { batchSize, createRateLimiter, defaultTiers, memoryStore, RateLimiter, RequestError } from '@tierlimit/core';

/** What the middleware puts on `ctx.state`. */
export interface RateLimitState {
  /** The rate-limit decision for this request. */
  rateLimit?: Decision;
}

/**
 * Koa middleware enforcing a limiter's policies. The decision is on `ctx.state.rateLimit`.
 *
 * @example
 * const limiter = createRateLimiter({ resolveTier })
 * router.get('/api/players', rateLimit(limiter), handler)
 * router.post('/api/events/batch', rateLimit(limiter, { policy: 'events', cost: (ctx) => batchSize(ctx.request.body) }), handler)
 */
export function rateLimit(
  limiter: RateLimiter | RateLimiterOptions,
  route?: RouteOptions<Context>,
): Middleware<RateLimitState> {
  const instance = isRateLimiter(limiter) ? limiter : new RateLimiter(limiter);
  const handle = instance.handler<Context>(route);
  // Not an async function: when the core answers synchronously (the memory store, a
  // cached tier) the request goes on to `next` in the same tick, without a promise of
  // its own and the microtask turns an `await` costs. koa-compose accepts any return value.
  return function tierlimit(ctx, next: Next): Promise<unknown> | undefined {
    // Koa trusts every proxy when `proxy` is on without `maxIpsCount` (the client picks its address).
    const trustProxy = ctx.app.proxy ? (ctx.app.maxIpsCount > 0 ? 'some' : 'all') : 'none';
    const result = handle(ctx as unknown as Context, { ip: ctx.ip, headers: ctx.headers, trustProxy });
    if (result instanceof Promise) return result.then((decision) => apply(ctx, next, decision));
    return apply(ctx, next, result);
  };
}

/** Puts a decision on the wire; the route runs only when it is allowed. */
function apply(
  ctx: ParameterizedContext<RateLimitState>,
  next: Next,
  decision: Decision,
): Promise<unknown> | undefined {
  ctx.state.rateLimit = decision;
  ctx.set(decision.headers);
  if (decision.allowed) return next();
  ctx.status = decision.status;
  ctx.body = decision.body;
  // Koa 2 resets the type to JSON when the body is an object; keep problem+json if asked for.
  const type = decision.headers['Content-Type'];
  if (type !== undefined) ctx.type = type;
  return undefined;
}

/**
 * Middleware that answers client errors thrown further down (a body that is not JSON, too
 * large, a RequestError) in tierlimit's JSON error shape; other errors are rethrown.
 * Mount it first.
 */
export function jsonErrors(options?: { readonly requestIdHeader?: string }): Middleware {
  return async function tierlimitErrors(ctx, next: Next) {
    try {
      await next();
    } catch (error) {
      const response = ctx.headerSent ? undefined : errorResponse(error, ctx.headers, options);
      if (response === undefined) throw error;
      ctx.status = response.status;
      ctx.set(response.headers);
      ctx.body = response.body;
    }
  };
}
