/**
 * What every benchmark server shares: the route, the tierlimit configuration, the peers'
 * limits, and Redis clients that count the commands they send (so the runner can check
 * that a tierlimit request costs exactly one Redis round trip).
 */
import { createRateLimiter, defaultTiers } from '@tierlimit/core';
import { createRedisClient, redisStore } from '@tierlimit/redis';
import { Redis } from 'ioredis';

export { PAYLOAD, ROUTE } from './route.mjs';
/** A limit no run can reach: every variant measures the cost of the check, never a 429. */
export const UNREACHABLE = 1_000_000_000;
export const WINDOW_MS = 60_000;

/**
 * The three X-RateLimit-* headers every limiter variant sends, with the values a limiter
 * would send (the remaining count going down), for the headers-only floor: what sending
 * them costs a framework, with no limiter at all.
 */
export function floorHeaders() {
  let remaining = UNREACHABLE;
  const reset = String(Math.ceil((Date.now() + WINDOW_MS) / 1000));
  return () => ({
    'X-RateLimit-Limit': '1000000000',
    'X-RateLimit-Remaining': String(--remaining),
    'X-RateLimit-Reset': reset,
  });
}

/** Counters the runner reads over IPC. */
export const counters = { served: 0, redisSent: 0, storeErrors: 0 };

/** Connections the server waits for before it reports ready (the first request must not find Redis still connecting). */
export const connecting = [];

function whenReady(client) {
  connecting.push(
    client.status === 'ready' ? Promise.resolve() : new Promise((resolve) => client.once('ready', () => resolve())),
  );
  return client;
}

/**
 * The default preset plus one tier whose `api` limit is out of reach, and a per-IP policy
 * out of reach too (all load comes from 127.0.0.1): the full evaluation (per-IP and per-key
 * policies, X-RateLimit-* headers) without ever refusing.
 */
export function tierlimitOptions(extra = {}) {
  return {
    tiers: {
      ...defaultTiers,
      unmetered: {
        ...defaultTiers.enterprise,
        api: { limit: UNREACHABLE, windowMs: WINDOW_MS },
        events: { limit: UNREACHABLE, windowMs: WINDOW_MS, burst: UNREACHABLE },
      },
    },
    // Synchronous, as an in-process key table would be; answers are cached by the limiter anyway.
    resolveTier: (apiKey) => (apiKey.startsWith('bench-') ? 'unmetered' : null),
    ip: { limit: UNREACHABLE, windowMs: WINDOW_MS },
    ...extra,
    onWarning: (warning) => console.error(`[bench server] ${warning.code}: ${warning.message}`),
  };
}

/** Wraps an ioredis client's `sendCommand` to count what it sends (each call is one command on the wire). */
export function countCommands(client) {
  const send = client.sendCommand.bind(client);
  client.sendCommand = (command, stream) => {
    counters.redisSent++;
    return send(command, stream);
  };
  return client;
}

/** A tierlimit limiter on the default memory store, or on Redis with the recommended client options. */
export function tierlimitLimiter(store) {
  if (store === 'memory') return createRateLimiter(tierlimitOptions());
  // BENCH_TIERLIMIT_REDIS_OPTIONS (JSON) tries other ioredis options, e.g. {"enableAutoPipelining":true}.
  const extra = JSON.parse(process.env.BENCH_TIERLIMIT_REDIS_OPTIONS || '{}');
  const client = whenReady(countCommands(createRedisClient(requireRedisUrl(), extra)));
  const limiter = createRateLimiter(tierlimitOptions({ store: redisStore({ client }) }));
  limiter.on('storeError', () => counters.storeErrors++);
  return limiter;
}

/** An ioredis client as the peers' READMEs create one (default options), counted. */
export function peerRedisClient() {
  const client = whenReady(countCommands(new Redis(requireRedisUrl())));
  client.on('error', (error) => {
    counters.storeErrors++;
    console.error(`[bench server] redis: ${error.message}`);
  });
  return client;
}

function requireRedisUrl() {
  const url = process.env.BENCH_REDIS_URL;
  if (!url) throw new Error('BENCH_REDIS_URL is not set: the runner starts redis-server for the Redis variants.');
  return url;
}

/** How the peers identify a client: by address (their default) or, for the many-keys runs, by the API key. */
export function keyMode() {
  return process.env.BENCH_KEY_MODE === 'header' ? 'header' : 'ip';
}

/** Most keys a run will track, for stores with a capacity setting (@fastify/rate-limit's LRU). */
export function keyCapacity() {
  return Number(process.env.BENCH_KEY_CAPACITY || 0) || 10_000;
}
