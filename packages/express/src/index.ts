/**
 * Express adapter. This file only translates: it reads the request facts Express already
 * computed (`req.ip` honours the app's `trust proxy` setting), asks the core once, and
 * writes the decision with Express's API. Policy, headers and bodies belong in
 * @tierlimit/core; if you are about to decide something here, add it there instead.
 */
import {
  type Decision,
  errorResponse,
  isRateLimiter,
  RateLimiter,
  type RateLimiterOptions,
  type RouteOptions,
  releaseOnClose,
  settle,
  trustProxyKind,
} from '@tierlimit/core';
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';

declare global {
  namespace Express {
    interface Request {
      /** The rate-limit decision for this request, set by `rateLimit()`. */
      rateLimit?: Decision;
    }
  }
}

export type { Decision, RateLimiterOptions, RouteOptions } from '@tierlimit/core';
export { batchSize, createRateLimiter, defaultTiers, memoryStore, RateLimiter, RequestError } from '@tierlimit/core';

/** Route options of the Express middleware: the core's, plus the body parser to run after the peek. */
export interface ExpressRouteOptions extends RouteOptions<Request> {
  /**
   * The body parser of a route whose `cost` reads the body (`express.json()`). The
   * middleware then checks first, charging nothing, that the route's policies have room
   * for one unit, and refuses with 429 before the body is read if not; then it runs the
   * parser and charges the cost. Without it, a client whose quota is spent still makes the
   * server read and parse its body (mount the parser before `rateLimit` in that case).
   * Default: none.
   */
  readonly bodyParser?: RequestHandler;
}

/**
 * Express middleware enforcing a limiter's policies. Pass a `RateLimiter` to share one
 * store and tier cache across mounts, or options to create one. A request that passes
 * two mounts of one limiter pays each policy once (see the README).
 *
 * @example
 * const limiter = createRateLimiter({ resolveTier })
 * app.get('/api/players', rateLimit(limiter), handler)
 * app.post('/api/events', rateLimit(limiter, { policy: 'events', cost: (req) => batchSize(req.body), bodyParser: express.json() }), handler)
 */
export function rateLimit(limiter: RateLimiter | RateLimiterOptions, route?: ExpressRouteOptions): RequestHandler {
  const instance = isRateLimiter(limiter) ? limiter : new RateLimiter(limiter);
  const { bodyParser, ...options } = route ?? {};
  const handle = instance.handler<Request>(options, label);
  const decide = function tierlimit(req: Request, res: Response, next: NextFunction) {
    settle(handle(req, facts(req)), (decision) => write(decision, req, res, next), next);
  };
  if (bodyParser === undefined) return decide;
  return function tierlimit(req: Request, res: Response, next: NextFunction) {
    settle(
      handle.peek(req, facts(req)),
      (peeked) => {
        if (!peeked.allowed) return write(peeked, req, res, next);
        bodyParser(req, res, (error?: unknown) => (error === undefined ? decide(req, res, next) : next(error)));
      },
      next,
    );
  };
}

/** What Express already knows about a request (`req.ip` honours the app's `trust proxy` setting). */
function facts(req: Request) {
  return {
    ip: req.ip,
    peer: req.socket.remoteAddress,
    headers: req.headers,
    trustProxy: trustProxyKind(req.app.get('trust proxy')),
    prior: req.rateLimit,
  };
}

function write(decision: Decision, req: Request, res: Response, next: NextFunction): void {
  req.rateLimit = decision;
  res.set(decision.headers);
  releaseOnClose(decision, res);
  if (decision.allowed) next();
  else res.status(decision.status).json(decision.body);
}

/** The route as warnings name it: `POST /api/v1/events/batch`. */
function label(req: Request): string {
  return `${req.method} ${req.baseUrl}${(req.route as { path?: string } | undefined)?.path ?? req.path}`;
}

/**
 * Error middleware that answers client errors (a body that is not JSON, too large, a
 * RequestError) in tierlimit's JSON error shape; other errors go on to `next`.
 * Mount it after your routes.
 */
export function jsonErrors(options?: { readonly requestIdHeader?: string }): ErrorRequestHandler {
  return function tierlimitErrors(error: unknown, req: Request, res: Response, next: NextFunction) {
    const response = res.headersSent ? undefined : errorResponse(error, req.headers, options);
    if (response === undefined) return next(error);
    res.status(response.status).set(response.headers).json(response.body);
  };
}
