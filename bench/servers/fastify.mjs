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

const plugins = {
  bare: () => undefined,
  'tierlimit-memory': () => [fastifyRateLimit, { limiter: tierlimitLimiter('memory') }],
  'peer-memory': () => [rateLimit, peer()],
  'tierlimit-redis': () => [fastifyRateLimit, { limiter: tierlimitLimiter('redis') }],
  'peer-redis': () => [rateLimit, peer(peerRedisClient())],
  'ping-redis': () => undefined,
  'headers-only': () => undefined,
};

export const variants = Object.keys(plugins);

export async function start(variant) {
  const app = Fastify({ logger: false });
  const plugin = plugins[variant]();
  if (plugin !== undefined) await app.register(...plugin);
  if (variant === 'headers-only') {
    // No limiter: the three headers only, set the way the adapter sets them.
    const headers = floorHeaders();
    app.addHook('onRequest', (_request, reply, done) => {
      reply.headers(headers());
      done();
    });
  }
  if (variant === 'ping-redis') {
    // No limiter: one Redis PING per request, the floor under any limiter with a round trip per request.
    const redis = peerRedisClient();
    app.addHook('onRequest', async () => {
      await redis.ping();
    });
  }
  app.get(ROUTE, (_request, reply) => {
    counters.served++;
    reply.send(PAYLOAD);
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { port: app.server.address().port, close: () => app.close() };
}
