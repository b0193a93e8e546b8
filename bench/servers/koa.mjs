/** Koa 3 variants: bare, tierlimit (memory, Redis), koa-ratelimit (memory and Redis drivers). */
import Router from '@koa/router';
import { rateLimit as tierlimit } from '@tierlimit/koa';
import Koa from 'koa';
import ratelimit from 'koa-ratelimit';
import {
  counters,
  floorHeaders,
  keyMode,
  PAYLOAD,
  peerRedisClient,
  ROUTE,
  tierlimitLimiter,
  UNREACHABLE,
  WINDOW_MS,
} from './common.mjs';

function peer(driver, db) {
  return ratelimit({
    driver,
    db,
    duration: WINDOW_MS,
    max: UNREACHABLE,
    // X-RateLimit-Remaining/Reset/Limit are on by default.
    ...(keyMode() === 'header' ? { id: (ctx) => ctx.get('x-api-key') } : {}),
  });
}

const middleware = {
  bare: () => undefined,
  'tierlimit-memory': () => tierlimit(tierlimitLimiter('memory')),
  'peer-memory': () => peer('memory', new Map()),
  'tierlimit-redis': () => tierlimit(tierlimitLimiter('redis')),
  'peer-redis': () => peer('redis', peerRedisClient()),
  // No limiter: the three headers only, set the way the adapter sets them.
  'headers-only': () => {
    const headers = floorHeaders();
    return (ctx, next) => {
      ctx.set(headers());
      return next();
    };
  },
  // No limiter: one Redis PING per request, the floor under any limiter with a round trip per request.
  'ping-redis': () => {
    const client = peerRedisClient();
    return async (_ctx, next) => {
      await client.ping();
      await next();
    };
  },
};

export const variants = Object.keys(middleware);

export function start(variant) {
  const app = new Koa();
  const limit = middleware[variant]();
  if (limit !== undefined) app.use(limit);
  const router = new Router();
  router.get(ROUTE, (ctx) => {
    counters.served++;
    ctx.body = PAYLOAD;
  });
  app.use(router.routes());
  return new Promise((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1');
    server.once('error', reject);
    server.once('listening', () => resolve({ port: server.address().port, close: () => server.close() }));
  });
}
