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

/**
 * Express middleware enforcing a limiter's policies. Pass a `RateLimiter` to share one
 * store and tier cache across mounts, or options to create one.
 *
 * @example
 * const limiter = createRateLimiter({ resolveTier })
 * app.use('/api', rateLimit(limiter))
 * app.post('/api/events', express.json(), rateLimit(limiter, { policy: 'events', cost: (req) => batchSize(req.body) }), handler)
 */
export function rateLimit(limiter: RateLimiter | RateLimiterOptions, route?: RouteOptions<Request>): RequestHandler {
  const instance = isRateLimiter(limiter) ? limiter : new RateLimiter(limiter);
  const handle = instance.handler<Request>(route);
  return function tierlimit(req: Request, res: Response, next: NextFunction) {
    settle(
      handle(req, { ip: req.ip, headers: req.headers, trustProxy: trustProxyKind(req.app.get('trust proxy')) }),
      (decision) => {
        req.rateLimit = decision;
        res.set(decision.headers);
        if (decision.allowed) next();
        else res.status(decision.status).json(decision.body);
      },
      next,
    );
  };
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
