/** Express 5 variants: bare, tierlimit (memory, Redis), express-rate-limit (memory, rate-limit-redis). */
import { rateLimit as tierlimit } from '@tierlimit/express';
import express from 'express';
import { rateLimit as expressRateLimit } from 'express-rate-limit';
import { RedisStore } from 'rate-limit-redis';
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

function peer(store) {
  return expressRateLimit({
    windowMs: WINDOW_MS,
    limit: UNREACHABLE,
    // The same three X-RateLimit-* headers tierlimit sends.
    legacyHeaders: true,
    standardHeaders: false,
    ...(keyMode() === 'header' ? { keyGenerator: (req) => req.headers['x-api-key'] } : {}),
    ...(store === undefined ? {} : { store }),
  });
}

const middleware = {
  bare: () => undefined,
  'tierlimit-memory': () => tierlimit(tierlimitLimiter('memory')),
  'peer-memory': () => peer(),
  'tierlimit-redis': () => tierlimit(tierlimitLimiter('redis')),
  'peer-redis': () => {
    const client = peerRedisClient();
    return peer(new RedisStore({ sendCommand: (...args) => client.call(...args) }));
  },
  // No limiter: the three headers only, set the way the adapter sets them.
  'headers-only': () => {
    const headers = floorHeaders();
    return (_req, res, next) => {
      res.set(headers());
      next();
    };
  },
  // No limiter: one Redis PING per request, the floor under any limiter with a round trip per request.
  'ping-redis': () => {
    const client = peerRedisClient();
    return (_req, _res, next) => {
      client.ping().then(() => next(), next);
    };
  },
};

export const variants = Object.keys(middleware);

export function start(variant) {
  const app = express();
  const limit = middleware[variant]();
  if (limit !== undefined) app.use(limit);
  app.get(ROUTE, (_req, res) => {
    counters.served++;
    res.json(PAYLOAD);
  });
  return new Promise((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1', (error) => {
      if (error) reject(error);
      else resolve({ port: server.address().port, close: () => server.close() });
    });
  });
}
