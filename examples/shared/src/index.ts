/**
 * What the three demo APIs share, so they behave identically: the demo keys and their
 * tiers, the usage page (usage.ts), event validation (done in the route's cost function
 * so bad input is rejected before anything is charged), the players fixture, and the
 * server settings read from the environment.
 */

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  batchSize,
  createRateLimiter,
  defaultTiers,
  type RateLimiter,
  type RateLimiterOptions,
  RequestError,
  type TierMap,
  type TierResolver,
} from '@tierlimit/core';
import { redisStore } from '@tierlimit/redis';
import { attachDemoWebSockets } from './websocket.js';

export { apiKeyOf } from './api-key.js';
export { EventLog, type EventStats } from './event-log.js';
export { type DemoResponse, usageResponse } from './usage.js';
export { attachDemoWebSockets, type DemoWebSockets, webSocketPath } from './websocket.js';

/**
 * The demos' tiers: the preset (SPEC section 1), plus `metered`, a plan of several limits
 * the way SaaS APIs sell them (issue 14): 10 requests a second, 300 a minute (a sliding
 * window: no burst of twice that across a minute's boundary), 100,000 a calendar month
 * (UTC), at most 5 at once. `GET /api/v1/usage` with `demo-metered` shows all four.
 */
export const demoTiers = {
  ...defaultTiers,
  metered: {
    api: [
      { limit: 10, windowMs: 1_000 },
      { limit: 300, windowMs: 60_000, algorithm: 'sliding-window' },
      { limit: 100_000, per: 'month' },
      { concurrency: 5 },
    ],
    events: { limit: 1_000, windowMs: 60_000, burst: 100 },
    websocket: { connections: 20 },
  },
} as const satisfies TierMap;

/** Demo API keys and their tiers. demo-enterprise shows per-customer limits, demo-metered a plan of several limits. */
export const resolveDemoTier: TierResolver = async (apiKey) => {
  switch (apiKey) {
    case 'demo-free':
      return 'free';
    case 'demo-starter':
      return 'starter';
    case 'demo-pro':
      return 'pro';
    case 'demo-enterprise':
      return {
        tier: 'enterprise',
        id: 'acme-corp',
        limits: { api: { limit: 5_000 }, events: { limit: 50_000, burst: 5_000 } },
      };
    case 'demo-metered':
      return 'metered';
    default:
      return null;
  }
};

/** Limiter options of the demos: the demo tiers, the default IP limit, the demo keys, plus any test overrides. */
export function demoLimiterOptions(overrides: RateLimiterOptions = {}): RateLimiterOptions {
  return { tiers: demoTiers, resolveTier: resolveDemoTier, ...overrides };
}

/**
 * The demo's one limiter: the one passed in `options.rateLimiter`, else a new one from
 * `options.limiter`. Behind a loopback proxy it finds client addresses itself, trusting
 * the proxy by address (`trustedProxies`), the same way on every framework: Koa can only
 * trust proxies by hop count, which a client that connects directly could use to pick its
 * own address.
 */
export function demoLimiter(options: DemoOptions): RateLimiter {
  if (options.rateLimiter !== undefined) return options.rateLimiter;
  const trust = options.trustProxy === 'loopback' ? { trustedProxies: ['loopback'] } : {};
  return createRateLimiter(demoLimiterOptions({ ...trust, ...options.limiter }));
}

function validateEvent(event: unknown, where: string): void {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) {
    throw new RequestError(400, 'INVALID_EVENT', `Expected ${where} to be a JSON object with a \`name\`.`);
  }
  const { name } = event as { name?: unknown };
  if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
    throw new RequestError(400, 'INVALID_EVENT', `Expected ${where}.name to be a string of 1 to 200 characters.`);
  }
}

/** The events of a request whose cost function already validated the body. */
export function eventsOf(body: unknown): readonly unknown[] {
  return Array.isArray((body as { events?: unknown }).events) ? (body as { events: unknown[] }).events : [body];
}

/** Cost of `POST /api/v1/events`: one event, validated. */
export function singleEventCost(body: unknown): number {
  validateEvent(body, 'the body');
  return 1;
}

/** Cost of `POST /api/v1/events/batch`: the number of events, each validated. */
export function batchCost(body: unknown): number {
  const size = batchSize(body, 'events');
  const events = (body as { events: unknown[] }).events;
  for (let i = 0; i < size; i++) validateEvent(events[i], `events[${i}]`);
  return size;
}

export const players = [
  { id: 'p_1', name: 'Ada', level: 12 },
  { id: 'p_2', name: 'Grace', level: 9 },
  { id: 'p_3', name: 'Linus', level: 4 },
];

/** Body of any 404. */
export const notFoundBody = {
  error: { code: 'NOT_FOUND', message: 'No such endpoint.' },
};

/** Largest JSON body accepted, in bytes: room for an enterprise-sized batch (5,000 events). */
export const bodyLimitBytes = 2 * 1024 * 1024;

/** Options every demo app accepts (tests inject a clock, trust settings and small limits). */
export interface DemoOptions {
  /** Limiter options merged over the demo defaults. */
  readonly limiter?: RateLimiterOptions;
  /** A limiter already built (the server shares it between HTTP routes and WebSockets); wins over `limiter`. */
  readonly rateLimiter?: RateLimiter;
  /**
   * Which proxies to trust for the client address: `false` (default: the socket address,
   * X-Forwarded-For ignored), `'loopback'` (trust one hop from a loopback proxy), or `true`
   * (trust every proxy: unsafe, the client picks its address; here so tests can show the
   * limiter's warning about it).
   */
  readonly trustProxy?: false | 'loopback' | true;
}

/**
 * Server settings from the environment: `PORT` (default 3000), `TRUST_PROXY` (`loopback`
 * to trust a local proxy), `REDIS_URL` (share limits with every instance using the same
 * Redis; without it, limits live in this process's memory).
 *
 * With Redis, startup waits up to 2 s for the connection; if Redis is down the demo starts
 * anyway and answers per the limiter's fault mode (`local`) until Redis appears.
 */
export async function serverSettings(
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ port: number; host: string; options: DemoOptions }> {
  const port = env.PORT === undefined || env.PORT === '' ? 3000 : Number(env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`Expected PORT to be a port number from 0 to 65535, got ${JSON.stringify(env.PORT)}.`);
  }
  const trust = env.TRUST_PROXY;
  if (trust !== undefined && trust !== '' && trust !== 'loopback') {
    throw new Error(`Expected TRUST_PROXY to be unset or "loopback", got ${JSON.stringify(trust)}.`);
  }
  const options: DemoOptions = { trustProxy: trust === 'loopback' ? 'loopback' : false };
  if (env.REDIS_URL) {
    const store = redisStore({ url: env.REDIS_URL });
    if (!(await store.ready(2_000))) {
      console.error(`Redis at ${env.REDIS_URL} is not reachable yet; limiting in process until it is.`);
    }
    return { port, host: '127.0.0.1', options: { ...options, limiter: { store } } };
  }
  return { port, host: '127.0.0.1', options };
}

/**
 * Stops the demo on SIGINT/SIGTERM: stop accepting connections, close the limiter (and
 * with it the store's Redis connection, if any), and exit.
 */
export function exitOnSignal(limiter: RateLimiter, close: () => Promise<unknown>): void {
  const stop = async () => {
    await Promise.race([close(), new Promise((resolve) => setTimeout(resolve, 2_000))]);
    await limiter.close();
    process.exit(0);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stop());
}

/**
 * Runs a demo the same way for every framework: reads the environment, builds one
 * limiter, lets `build` make the framework's HTTP server with it (not yet listening),
 * serves WebSockets on `/ws` of that same server, listens on 127.0.0.1, prints the one
 * `listening on` line, and stops cleanly on SIGINT/SIGTERM.
 */
export async function runDemo(
  build: (options: DemoOptions) => Promise<{ readonly server: Server; close(): Promise<unknown> }>,
): Promise<void> {
  const { port, host, options } = await serverSettings();
  const limiter = demoLimiter(options);
  const { server, close } = await build({ ...options, rateLimiter: limiter });
  const sockets = attachDemoWebSockets(server, limiter, options);
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  console.log(listeningLine(host, (server.address() as AddressInfo).port));
  exitOnSignal(limiter, () => Promise.all([sockets.close(), close()]));
}

/** Closes a plain Node server (Express, Koa). */
export function closeServer(server: Server): () => Promise<void> {
  return () => new Promise((resolve) => server.close(() => resolve()));
}

/** The one line each demo prints when ready. */
export function listeningLine(host: string, port: number): string {
  return `listening on http://${host}:${port}`;
}
