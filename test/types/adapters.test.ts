/**
 * Type tests for the Express, Koa and Fastify adapters: the middleware signatures, the
 * route options each passes its own request type to, and where the decision lands on the
 * request (`req.rateLimit`, `ctx.state.rateLimit`, `request.rateLimit`). Checked by the
 * typecheck step (tsc); each `@ts-expect-error` must stay an error.
 */
import type { Decision, RateLimiter, RateLimiterOptions, RouteOptions } from '@tierlimit/core';
import * as expressAdapter from '@tierlimit/express';
import {
  type FastifyRateLimitOptions,
  type FastifyRouteRateLimit,
  createRateLimiter as fastifyCreateRateLimiter,
  fastifyRateLimit,
} from '@tierlimit/fastify';
import * as koaAdapter from '@tierlimit/koa';
import { expectTypeOf } from 'expect-type';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import express from 'express';
import type { FastifyContextConfig, FastifyInstance, FastifyPluginCallback, FastifyRequest } from 'fastify';
import Koa, { type Context, type Middleware } from 'koa';

// Only its type matters: nothing here runs a limiter (apps are built in functions never called).
const limiter = {} as RateLimiter;

describe('@tierlimit/express', () => {
  test('rateLimit(limiter | options, route?) is Express middleware; cost and skip get the Express Request', () => {
    expectTypeOf(expressAdapter.rateLimit).parameters.toEqualTypeOf<
      [limiter: RateLimiter | RateLimiterOptions, route?: expressAdapter.ExpressRouteOptions]
    >();
    expectTypeOf<expressAdapter.ExpressRouteOptions>().toExtend<RouteOptions<Request>>();
    expectTypeOf<expressAdapter.ExpressRouteOptions['bodyParser']>().toEqualTypeOf<RequestHandler | undefined>();
    expectTypeOf(expressAdapter.rateLimit).returns.toEqualTypeOf<RequestHandler>();
    expectTypeOf(expressAdapter.jsonErrors).returns.toEqualTypeOf<ErrorRequestHandler>();
    expectTypeOf(expressAdapter.rateLimit).toBeCallableWith(limiter, {
      policy: 'events',
      cost: (req: Request) => expressAdapter.batchSize(req.body),
      skip: (req: Request) => req.path === '/health',
    });
    expectTypeOf(expressAdapter.rateLimit).toBeCallableWith({ resolveTier: () => 'free' });
    // @ts-expect-error a cost is a number or a function returning one
    expectTypeOf(expressAdapter.rateLimit).toBeCallableWith(limiter, { cost: '1' });
    // @ts-expect-error the limiter options are checked too
    expectTypeOf(expressAdapter.rateLimit).toBeCallableWith({ resolveTier: () => 'free', ip: { limit: 1 } });
  });

  test('req.rateLimit is the decision, optional (set only behind the middleware)', () => {
    expectTypeOf<Request['rateLimit']>().toEqualTypeOf<Decision | undefined>();
    function app(): void {
      express().get('/x', expressAdapter.rateLimit(limiter), (req, res: Response) => {
        expectTypeOf(req.rateLimit).toEqualTypeOf<Decision | undefined>();
        res.json({ remaining: req.rateLimit?.remaining });
      });
    }
    expectTypeOf(app).toBeFunction();
  });

  test('re-exports the core pieces an Express app needs', () => {
    expectTypeOf(expressAdapter.createRateLimiter).returns.toEqualTypeOf<RateLimiter>();
    expectTypeOf<expressAdapter.Decision>().toEqualTypeOf<Decision>();
    expectTypeOf<expressAdapter.RouteOptions<Request>>().toEqualTypeOf<RouteOptions<Request>>();
  });
});

describe('@tierlimit/koa', () => {
  test('rateLimit(limiter | options, route?) is Koa middleware typed with RateLimitState', () => {
    expectTypeOf(koaAdapter.rateLimit).parameters.toEqualTypeOf<
      [limiter: RateLimiter | RateLimiterOptions, route?: koaAdapter.KoaRouteOptions]
    >();
    expectTypeOf<koaAdapter.KoaRouteOptions>().toExtend<RouteOptions<Context>>();
    expectTypeOf<koaAdapter.KoaRouteOptions['bodyParser']>().toEqualTypeOf<Middleware | undefined>();
    expectTypeOf(koaAdapter.rateLimit).returns.toEqualTypeOf<Middleware<koaAdapter.RateLimitState>>();
    expectTypeOf(koaAdapter.jsonErrors).returns.toEqualTypeOf<Middleware>();
    expectTypeOf(koaAdapter.rateLimit).toBeCallableWith(limiter, {
      cost: (ctx: Context) => koaAdapter.batchSize(ctx.request.body),
    });
    // @ts-expect-error skip returns a boolean
    expectTypeOf(koaAdapter.rateLimit).toBeCallableWith(limiter, { skip: (_ctx: Context) => 'no' });
  });

  test('ctx.state.rateLimit is the decision in an app typed with RateLimitState', () => {
    expectTypeOf<koaAdapter.RateLimitState>().toEqualTypeOf<{ rateLimit?: Decision }>();
    function app(): void {
      const koa = new Koa<koaAdapter.RateLimitState>();
      koa.use(koaAdapter.rateLimit(limiter));
      koa.use((ctx) => {
        expectTypeOf(ctx.state.rateLimit).toEqualTypeOf<Decision | undefined>();
        ctx.body = { remaining: ctx.state.rateLimit?.remaining };
      });
    }
    expectTypeOf(app).toBeFunction();
  });
});

describe('@tierlimit/fastify', () => {
  test('fastifyRateLimit is a plugin taking a limiter or limiter options, plus plugin options', () => {
    expectTypeOf(fastifyRateLimit).toExtend<FastifyPluginCallback<FastifyRateLimitOptions>>();
    expectTypeOf<{ limiter: RateLimiter; jsonErrors: true }>().toExtend<FastifyRateLimitOptions>();
    expectTypeOf<{
      resolveTier: () => 'free';
      global: false;
      route: { policy: 'api' };
    }>().toExtend<FastifyRateLimitOptions>();
    expectTypeOf<{ limiter: RateLimiter; global: 'yes' }>().not.toExtend<FastifyRateLimitOptions>();
    expectTypeOf(fastifyCreateRateLimiter).returns.toEqualTypeOf<RateLimiter>();
  });

  test('request.rateLimit is the decision, or null on unlimited routes', () => {
    expectTypeOf<FastifyRequest['rateLimit']>().toEqualTypeOf<Decision | null>();
  });

  test('route config.rateLimit: route options (with the hook) or false', () => {
    expectTypeOf<FastifyContextConfig['rateLimit']>().toEqualTypeOf<FastifyRouteRateLimit | undefined>();
    expectTypeOf<false>().toExtend<FastifyRouteRateLimit>();
    expectTypeOf<{
      policy: 'events';
      cost: (request: FastifyRequest) => number;
      hook: 'preHandler';
    }>().toExtend<FastifyRouteRateLimit>();
    expectTypeOf<true>().not.toExtend<FastifyRouteRateLimit>();
    expectTypeOf<{ hook: 'onSend' }>().not.toExtend<FastifyRouteRateLimit>();
    // Fastify infers each route's extra config type from the literal it is given, so an
    // inline `config: { rateLimit: true }` in route options is not rejected (a limit of
    // Fastify's typings); the augmented FastifyContextConfig itself does reject it.
    // @ts-expect-error `true` is not a route setting: give route options, or false for none
    const config: FastifyContextConfig = { rateLimit: true };
    expect(config).toBeDefined();
  });

  test('route shorthand options accept config.rateLimit and type request.rateLimit in handlers', () => {
    // Never called: compiled only, against Fastify's own route typings.
    function routes(app: FastifyInstance): void {
      app.get('/health', { config: { rateLimit: false } }, async () => ({ status: 'ok' }));
      app.post(
        '/events/batch',
        {
          config: {
            rateLimit: { policy: 'events', cost: (request) => fastifyCountOf(request.body), hook: 'preHandler' },
          },
        },
        async (request) => {
          expectTypeOf(request.rateLimit).toEqualTypeOf<Decision | null>();
          return { remaining: request.rateLimit?.remaining };
        },
      );
      // @ts-expect-error a cost is a number or a function returning one
      app.get('/bad', { config: { rateLimit: { cost: 'ten' } } }, async () => 'no');
    }
    expectTypeOf(routes).toBeFunction();
  });
});

function fastifyCountOf(body: unknown): number {
  return Array.isArray(body) ? body.length : 1;
}
