/** Fastify 5 variants: bare, tierlimit (memory, Redis), @fastify/rate-limit (its LRU memory store and its Redis store). */
import rateLimit from '@fastify/rate-limit';
import { fastifyRateLimit } from '@tierlimit/fastify';
import Fastify from 'fastify';
import {
  counters,
  floorHeaders,
  keyCapacity,
  keyMode,
  PAYLOAD,
  peerRedisClient,
  ROUTE,
  tierlimitLimiter,
  UNREACHABLE,
  WINDOW_MS,
} from './common.mjs';

function peer(redis) {
  return {
    max: UNREACHABLE,
    timeWindow: WINDOW_MS,
    // x-ratelimit-limit/remaining/reset are on by default. The default LRU holds 5,000 keys
    // and forgets the rest; make it hold every key of the run so each one is really tracked.
    cache: Math.max(5_000, keyCapacity()),
    ...(keyMode() === 'header' ? { keyGenerator: (request) => request.headers['x-api-key'] } : {}),
    ...(redis === undefined ? {} : { redis }),
  };
}

/** How each variant sets up the app: registers its plugin, or adds a hook at the root. */
const setups = {
  bare: () => undefined,
  'tierlimit-memory': (app) => app.register(fastifyRateLimit, { limiter: tierlimitLimiter('memory') }),
  'peer-memory': (app) => app.register(rateLimit, peer()),
  'tierlimit-redis': (app) => app.register(fastifyRateLimit, { limiter: tierlimitLimiter('redis') }),
  'peer-redis': (app) => app.register(rateLimit, peer(peerRedisClient())),
  // No limiter: the three headers only, set the way the adapter sets them.
  'headers-only': (app) => {
    const headers = floorHeaders();
    app.addHook('onRequest', (_request, reply, done) => {
      reply.headers(headers());
      done();
    });
  },
  // No limiter: one Redis PING per request, the floor under any limiter with a round trip per request.
  'ping-redis': (app) => {
    const redis = peerRedisClient();
    app.addHook('onRequest', async () => {
      await redis.ping();
    });
  },
};

export const variants = Object.keys(setups);

export async function start(variant) {
  const app = Fastify({ logger: false });
  await setups[variant](app);
  app.get(ROUTE, (_request, reply) => {
    counters.served++;
    reply.send(PAYLOAD);
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { port: app.server.address().port, close: () => app.close() };
}
