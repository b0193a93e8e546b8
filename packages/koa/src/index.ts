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
  releaseOnClose,
} from '@tierlimit/core';
import type { Context, Middleware, Next, ParameterizedContext } from 'koa';

export type { Decision, RateLimiterOptions, RouteOptions } from '@tierlimit/core';
export { batchSize, createRateLimiter, defaultTiers, memoryStore, RateLimiter, RequestError } from '@tierlimit/core';

/** What the middleware puts on `ctx.state`. */
export interface RateLimitState {
  /** The rate-limit decision for this request. */
  rateLimit?: Decision;
}

/** Route options of the Koa middleware: the core's, plus the body parser to run after the peek. */
export interface KoaRouteOptions extends RouteOptions<Context> {
  /**
   * The body parser of a route whose `cost` reads the body (`bodyParser()` from
   * `@koa/bodyparser`). The middleware then checks first, charging nothing, that the
   * route's policies have room for one unit, and refuses with 429 before the body is read
   * if not; then it runs the parser and charges the cost. Without it, a client whose quota
   * is spent still makes the server read and parse its body. Default: none.
   */
  readonly bodyParser?: Middleware;
}

/**
 * Koa middleware enforcing a limiter's policies. The decision is on `ctx.state.rateLimit`.
 * A request that passes two mounts of one limiter pays each policy once (see the README).
 *
 * @example
 * const limiter = createRateLimiter({ resolveTier })
 * router.get('/api/players', rateLimit(limiter), handler)
 * router.post('/api/events/batch', rateLimit(limiter, { policy: 'events', cost: (ctx) => batchSize(ctx.request.body), bodyParser: bodyParser() }), handler)
 */
export function rateLimit(
  limiter: RateLimiter | RateLimiterOptions,
  route?: KoaRouteOptions,
): Middleware<RateLimitState> {
  const instance = isRateLimiter(limiter) ? limiter : new RateLimiter(limiter);
  const { bodyParser, ...options } = route ?? {};
  const handle = instance.handler<Context>(options, label);
  // Not an async function: when the core answers synchronously (the memory store, a
  // cached tier) the request goes on to `next` in the same tick, without a promise of
  // its own and the microtask turns an `await` costs. koa-compose accepts any return value.
  const decide = (ctx: ParameterizedContext<RateLimitState>, next: Next): Promise<unknown> | undefined => {
    const result = handle(ctx as unknown as Context, facts(ctx));
    if (result instanceof Promise) return result.then((decision) => apply(ctx, next, decision));
    return apply(ctx, next, result);
  };
  if (bodyParser === undefined) return decide;
  return function tierlimit(ctx, next: Next): Promise<unknown> | undefined {
    const peeked = handle.peek(ctx as unknown as Context, facts(ctx));
    const parse = (decision: Decision) =>
      decision.allowed
        ? bodyParser(ctx as unknown as Context, () => decide(ctx, next) ?? Promise.resolve())
        : apply(ctx, next, decision);
    return peeked instanceof Promise ? peeked.then(parse) : parse(peeked);
  };
}

/** What Koa already knows about a request (`ctx.ip` honours `app.proxy` and `app.maxIpsCount`). */
function facts(ctx: ParameterizedContext<RateLimitState>) {
  // Koa trusts every proxy when `proxy` is on without `maxIpsCount` (the client picks its
  // address), and otherwise a number of hops, never proxies by address.
  const app = ctx.app;
  return {
    ip: ctx.ip,
    peer: ctx.req.socket.remoteAddress,
    headers: ctx.headers,
    trustProxy: app.proxy ? (app.maxIpsCount > 0 ? 'hops' : 'all') : 'none',
    prior: ctx.state.rateLimit,
  } as const;
}

/** The route as warnings name it: `POST /api/v1/events/batch` (@koa/router's matched route when there is one). */
function label(ctx: Context): string {
  return `${ctx.method} ${(ctx as { _matchedRoute?: unknown })._matchedRoute ?? ctx.path}`;
}

/** Puts a decision on the wire; the route runs only when it is allowed. */
function apply(
  ctx: ParameterizedContext<RateLimitState>,
  next: Next,
  decision: Decision,
): Promise<unknown> | undefined {
  ctx.state.rateLimit = decision;
  ctx.set(decision.headers);
  releaseOnClose(decision, ctx.res);
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
