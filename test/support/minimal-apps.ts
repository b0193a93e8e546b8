/**
 * The smallest app per framework that exercises what the conformance suites need (issues
 * 13 and 14): the same routes on Express 5 and 4, Koa 3 and 2, Fastify 5 and 4, listening
 * on 127.0.0.1 on a free port. Unlike the demos, each is built from a limiter the test made,
 * with the framework's own trust-proxy setting given as the test says, and nothing else:
 * no keys, tiers, validation or event log of its own, so what a case asserts is what the
 * adapter and the core do.
 *
 * - `GET  /health`: not limited (Fastify: `config: { rateLimit: false }`).
 * - `GET  /api/players`: the `api` policy.
 * - `POST /api/events`: the `events` policy, one unit; answers 202 `{ accepted: 1 }`.
 * - `POST /api/events/batch`: the `events` policy, costing one unit per event of the JSON
 *   body's `events` array (`batchSize`); answers 202 `{ accepted: <events> }`.
 * - `POST /api/buggy`: a cost function with a bug (it returns 2.5).
 * - `GET  /api/slow?ms=N`: the `api` policy, answering after N ms (at most 3 s): a request
 *   in flight, for concurrency limits.
 * - `GET  /api/fail`: the `api` policy, and a handler that throws (the framework's 500).
 * - anything else: the framework's own not-found answer.
 *
 * Both event routes read the body only after a peek found room (Express and Koa: the
 * `bodyParser` route option; Fastify: on its own). Client errors (bad JSON, a bad batch)
 * are answered in tierlimit's JSON error shape (`jsonErrors`).
 *
 * With `appWide`, Express and Koa also mount the limiter on the whole app (or `/api`), as
 * the limiter's double-mount rules let them.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bodyParser as koaBodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import { batchSize, type RateLimiter } from '@tierlimit/core';
import { jsonErrors as expressJsonErrors, rateLimit as expressRateLimit } from '@tierlimit/express';
import { type FastifyRateLimitOptions, fastifyRateLimit } from '@tierlimit/fastify';
import { jsonErrors as koaJsonErrors, rateLimit as koaRateLimit } from '@tierlimit/koa';
import express5 from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import fastify4 from 'fastify4';
import Koa from 'koa';
import koa2 from 'koa2';
import { listen, type RunningServer } from './listen';

export interface MinimalAppOptions {
  readonly limiter: RateLimiter;
  /**
   * The framework's trust setting: Express `trust proxy`, Fastify `trustProxy`, Koa
   * `proxy` (`true`), or `proxy` with `maxIpsCount` (a number). Koa cannot trust a proxy
   * by address (`'loopback'`): give the limiter `trustedProxies` instead. Default: none.
   */
  readonly trustProxy?: boolean | number | string;
  /** Also mount the limiter app-wide (Express and Koa). */
  readonly appWide?: boolean;
  /** Extra options for the Fastify plugin. */
  readonly fastify?: Omit<FastifyRateLimitOptions, 'limiter'>;
}

/** A running minimal app. */
export type MinimalApp = RunningServer;

export interface MinimalTarget {
  readonly name: string;
  readonly framework: 'express' | 'koa' | 'fastify';
  start(options: MinimalAppOptions): Promise<MinimalApp>;
}

const BODY_LIMIT = 32 * 1024 * 1024;
const buggyCost = () => 2.5;
/** How long `/api/slow` takes: its `ms` query parameter, at most 3 s. */
const slowMs = (query: unknown) => Math.min(3_000, Number((query as { ms?: string }).ms ?? 0) || 0);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const handlerBug = () => {
  throw new Error('a bug in the route handler');
};

function expressApp(framework: typeof express5, options: MinimalAppOptions): Promise<MinimalApp> {
  const { limiter } = options;
  const app = framework();
  app.set('trust proxy', options.trustProxy ?? false);
  const json = framework.json({ limit: BODY_LIMIT });
  if (options.appWide) app.use('/api', expressRateLimit(limiter));
  app.get('/health', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/api/players', expressRateLimit(limiter), (_req, res) => {
    res.json({ ok: true });
  });
  app.post('/api/events', expressRateLimit(limiter, { policy: 'events', bodyParser: json }), (_req, res) => {
    res.status(202).json({ accepted: 1 });
  });
  app.post(
    '/api/events/batch',
    expressRateLimit(limiter, { policy: 'events', cost: (req) => batchSize(req.body), bodyParser: json }),
    (req, res) => {
      res.status(202).json({ accepted: (req.body as { events: unknown[] }).events.length });
    },
  );
  app.post('/api/buggy', expressRateLimit(limiter, { cost: buggyCost }), (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/api/slow', expressRateLimit(limiter), (req, res) => {
    setTimeout(() => {
      if (!res.destroyed) res.json({ ok: true });
    }, slowMs(req.query));
  });
  app.get('/api/fail', expressRateLimit(limiter), handlerBug);
  app.use(expressJsonErrors());
  return listen(createServer(app));
}

function koaApp(framework: typeof Koa, options: MinimalAppOptions): Promise<MinimalApp> {
  const { limiter } = options;
  const app = new framework();
  if (options.trustProxy === true || typeof options.trustProxy === 'number') app.proxy = true;
  if (typeof options.trustProxy === 'number') app.maxIpsCount = options.trustProxy;
  const json = koaBodyParser({ enableTypes: ['json'], jsonLimit: BODY_LIMIT });
  const health = new Router();
  health.get('/health', (ctx) => {
    ctx.body = { ok: true };
  });
  const router = new Router({ prefix: '/api' });
  router.get('/players', koaRateLimit(limiter), (ctx) => {
    ctx.body = { ok: true };
  });
  router.post('/events', koaRateLimit(limiter, { policy: 'events', bodyParser: json }), (ctx) => {
    ctx.status = 202;
    ctx.body = { accepted: 1 };
  });
  router.post(
    '/events/batch',
    koaRateLimit(limiter, { policy: 'events', cost: (ctx) => batchSize(ctx.request.body), bodyParser: json }),
    (ctx) => {
      ctx.status = 202;
      ctx.body = { accepted: (ctx.request.body as { events: unknown[] }).events.length };
    },
  );
  router.post('/buggy', koaRateLimit(limiter, { cost: buggyCost }), (ctx) => {
    ctx.body = { ok: true };
  });
  router.get('/slow', koaRateLimit(limiter), async (ctx) => {
    await sleep(slowMs(ctx.query));
    ctx.body = { ok: true };
  });
  router.get('/fail', koaRateLimit(limiter), handlerBug);
  // The handler's bug is answered 500 by Koa; its log line is noise here.
  app.silent = true;
  app.use(koaJsonErrors());
  app.use(health.routes());
  if (options.appWide) app.use(koaRateLimit(limiter));
  app.use(router.routes());
  return listen(createServer(app.callback()));
}

async function fastifyApp(framework: typeof Fastify, options: MinimalAppOptions): Promise<MinimalApp> {
  const app = framework({ trustProxy: (options.trustProxy ?? false) as boolean, bodyLimit: BODY_LIMIT });
  await app.register(fastifyRateLimit, { limiter: options.limiter, jsonErrors: true, ...options.fastify });
  app.get('/health', { config: { rateLimit: false } }, async () => ({ ok: true }));
  app.get('/api/players', async () => ({ ok: true }));
  app.post('/api/events', { config: { rateLimit: { policy: 'events' } } }, async (_request, reply) =>
    reply.code(202).send({ accepted: 1 }),
  );
  app.post(
    '/api/events/batch',
    { config: { rateLimit: { policy: 'events', cost: (request) => batchSize(request.body) } } },
    async (request, reply) => reply.code(202).send({ accepted: (request.body as { events: unknown[] }).events.length }),
  );
  app.post('/api/buggy', { config: { rateLimit: { cost: buggyCost } } }, async () => ({ ok: true }));
  app.get('/api/slow', async (request) => {
    await sleep(slowMs(request.query));
    return { ok: true };
  });
  app.get('/api/fail', handlerBug);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

export const minimalTargets: readonly MinimalTarget[] = [
  { name: 'express 5', framework: 'express', start: (o) => expressApp(express5, o) },
  { name: 'express 4', framework: 'express', start: (o) => expressApp(express4 as unknown as typeof express5, o) },
  { name: 'koa 3', framework: 'koa', start: (o) => koaApp(Koa, o) },
  { name: 'koa 2', framework: 'koa', start: (o) => koaApp(koa2, o) },
  { name: 'fastify 5', framework: 'fastify', start: (o) => fastifyApp(Fastify, o) },
  { name: 'fastify 4', framework: 'fastify', start: (o) => fastifyApp(fastify4 as unknown as typeof Fastify, o) },
];
