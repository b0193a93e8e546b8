/**
 * Fastify adapter. This file only translates: it reads the request facts Fastify already
 * computed (`request.ip` honours `trustProxy`), asks the core once per request, and writes
 * the decision with Fastify's API. Policy, headers and bodies belong in @tierlimit/core.
 */
import {
  ConfigurationError,
  type Decision,
  errorResponse,
  PASSED,
  RateLimiter,
  type RateLimiterOptions,
  type RequestFacts,
  type RouteOptions,
  releaseOnClose,
  settle,
  type TrustProxyKind,
  trustProxyKind,
} from '@tierlimit/core';
import type {
  FastifyError,
  FastifyPluginCallback,
  FastifyReply,
  FastifyRequest,
  RouteOptions as FastifyRouteOptions,
  HookHandlerDoneFunction,
} from 'fastify';
import fp from 'fastify-plugin';

export type { Decision, RateLimiterOptions, RouteOptions } from '@tierlimit/core';
export { batchSize, createRateLimiter, defaultTiers, memoryStore, RateLimiter, RequestError } from '@tierlimit/core';

/** Per-route limits: `config: { rateLimit: { policy: 'events', cost } }`, or `false` for none. */
export type FastifyRouteRateLimit =
  | (RouteOptions<FastifyRequest> & { readonly hook?: 'onRequest' | 'preHandler' })
  | false;

declare module 'fastify' {
  interface FastifyRequest {
    /** The rate-limit decision for this request, set by `fastifyRateLimit`. */
    rateLimit: Decision | null;
  }
  interface FastifyContextConfig {
    /** This route's limits, overriding the plugin's defaults, or `false` for none. */
    rateLimit?: FastifyRouteRateLimit;
  }
}

/** Plugin options: a limiter (or options to create one) and the defaults for every route. */
export type FastifyRateLimitOptions = (
  | { readonly limiter: RateLimiter }
  | (RateLimiterOptions & { readonly limiter?: undefined })
) & {
  /** Limit routes without `config.rateLimit` too. Default `true`. */
  readonly global?: boolean;
  /** Defaults for every route; `config.rateLimit` overrides them field by field. */
  readonly route?: RouteOptions<FastifyRequest>;
  /** Answer client errors (bad JSON, body too large) in tierlimit's JSON error shape. Default `false`. */
  readonly jsonErrors?: boolean;
  /**
   * How requests that match no route (the not-found handler) are limited, so scanners
   * cannot probe for free: route options, or `false` for no limit. Default: `route` (the
   * `api` policy), or `false` when `global` is `false`.
   */
  readonly notFound?: RouteOptions<FastifyRequest> | false;
};

type Hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;

const plugin: FastifyPluginCallback<FastifyRateLimitOptions> = (fastify, options, done) => {
  const { limiter, global = true, route: defaults, jsonErrors = false, notFound, ...limiterOptions } = options;
  let instance: RateLimiter;
  const trustProxy = trustOf(fastify);
  try {
    const extra = Object.keys(limiterOptions);
    if (limiter !== undefined && extra.length > 0) {
      throw new ConfigurationError(
        `Pass either \`limiter\` or limiter options to fastifyRateLimit, not both (got \`limiter\` and ${extra.map((k) => `\`${k}\``).join(', ')}).`,
      );
    }
    instance = limiter ?? new RateLimiter(limiterOptions as RateLimiterOptions);
    // Fastify's trust setting is known now: a fatal one fails the registration (issue 13).
    instance.validateTrustProxy(trustProxy);
  } catch (error) {
    // A callback plugin must report failure through done(): a throw would stall avvio.
    return done(error as Error);
  }
  fastify.decorateRequest('rateLimit', null);
  const facts = (request: FastifyRequest) => ({
    ip: request.ip,
    peer: request.raw.socket?.remoteAddress,
    headers: request.headers,
    trustProxy,
    prior: request.rateLimit ?? undefined,
  });
  /** A hook that decides with `decide` (the charge, or the peek before the body). */
  const hookOf =
    (decide: (request: FastifyRequest, facts: RequestFacts) => Decision | Promise<Decision>): Hook =>
    (request, reply, next) => {
      settle(
        decide(request, facts(request)),
        (decision) => {
          // An admitted peek is no decision yet: the charge comes once the body is parsed.
          if (decision.allowed && decision === PASSED) return next();
          request.rateLimit = decision;
          reply.headers(decision.headers);
          releaseOnClose(decision, reply.raw);
          if (decision.allowed) next();
          else reply.code(decision.status).send(decision.body);
        },
        (error) => next(error as FastifyError),
      );
    };

  fastify.addHook('onRoute', (routeOptions: FastifyRouteOptions) => {
    const config = (routeOptions.config as { rateLimit?: FastifyRouteRateLimit } | undefined)?.rateLimit;
    if (config === false || (config === undefined && !global)) return;
    if (config !== undefined && (typeof config !== 'object' || config === null)) {
      throw new ConfigurationError(
        `Expected \`config.rateLimit\` of ${routeOptions.method} ${routeOptions.url} to be route options or false, got ${String(config)}.`,
      );
    }
    if (config?.hook !== undefined && config.hook !== 'onRequest' && config.hook !== 'preHandler') {
      throw new ConfigurationError(
        `Expected \`config.rateLimit.hook\` to be 'onRequest' or 'preHandler', got ${String(config.hook)}.`,
      );
    }
    const { hook: when, ...overrides } = config ?? {};
    const route = { ...defaults, ...overrides };
    const handle = instance.handler<FastifyRequest>(route, () => `${routeOptions.method} ${routeOptions.url}`);
    // A cost computed from the body needs the parsed body: preHandler, after an onRequest
    // peek that refuses a request with no room before its body is read. Otherwise refuse
    // before the body is even read: onRequest.
    const stage = when ?? (typeof route.cost === 'function' ? 'preHandler' : 'onRequest');
    addHook(routeOptions, stage, hookOf(handle));
    if (stage === 'preHandler') addHook(routeOptions, 'onRequest', hookOf(handle.peek));
  });

  // Requests that match no route: Fastify runs instance-level hooks for its not-found
  // handler too, so one onRequest hook, acting only on those, limits them.
  const missing = notFound ?? (global ? (defaults ?? {}) : false);
  if (missing !== false) {
    const handle = instance.handler<FastifyRequest>(missing, (request) => `${request.method} (no route)`);
    const limit = hookOf(handle);
    fastify.addHook('onRequest', (request, reply, next) => (request.is404 ? limit(request, reply, next) : next()));
  }

  if (jsonErrors) {
    fastify.setErrorHandler((error, request, reply) => {
      const response = errorResponse(error, request.headers);
      if (response === undefined) return reply.send(error);
      return reply.code(response.status).headers(response.headers).send(response.body);
    });
  }
  done();
};

/** Appends a hook to a route's hooks of one stage. */
function addHook(routeOptions: FastifyRouteOptions, stage: 'onRequest' | 'preHandler', hook: Hook): void {
  const existing = routeOptions[stage];
  routeOptions[stage] = [...(Array.isArray(existing) ? existing : existing ? [existing] : []), hook] as never;
}

/**
 * Fastify's `trustProxy` option, for the core's runtime checks. Fastify does not expose it
 * (it is not in `initialConfig`), so it is read from the instance's options symbol, found
 * by its description; if a Fastify version hides it differently, the check is skipped.
 */
function trustOf(fastify: object): TrustProxyKind | undefined {
  const symbol = Object.getOwnPropertySymbols(fastify).find((s) => s.description === 'fastify.options');
  const options =
    symbol === undefined ? undefined : (fastify as Record<symbol, { trustProxy?: unknown } | undefined>)[symbol];
  return options === undefined ? undefined : trustProxyKind(options.trustProxy);
}

/** Fastify plugin enforcing a limiter's policies on every route (see `FastifyRateLimitOptions`). */
export const fastifyRateLimit = fp(plugin, { fastify: '4.x || 5.x', name: '@tierlimit/fastify' });
