/**
 * One app instance of the exactness run (bench/exactness/run.mjs): an Express 5 server
 * with one tierlimit limiter on the shared Redis, whose only tier allows LIMIT requests a
 * minute per API key. Prints `listening <port>` when it can take requests.
 *
 * Environment: REDIS_URL, LIMIT (default 100), TIMEOUT_MS (storeFaults.timeoutMs, default
 * 100), INSTANCES (storeFaults.instances, default 1), WAIT_READY (1: listen only once Redis
 * is connected; 0: at once, as a process that restarts under load would).
 */
import { createServer } from 'node:http';
import { createRateLimiter, rateLimit } from '@tierlimit/express';
import { redisStore } from '@tierlimit/redis';
import express from 'express';

const limit = Number(process.env.LIMIT ?? 100);
const store = redisStore({
  url: process.env.REDIS_URL,
  onWarning: (w) => console.error(`[server] ${w.code}: ${w.message}`),
});
if (process.env.WAIT_READY !== '0') await store.ready(5_000);
const limiter = createRateLimiter({
  tiers: { test: { api: { limit, windowMs: 60_000 } } },
  resolveTier: () => 'test',
  ip: false,
  store,
  storeFaults: { timeoutMs: Number(process.env.TIMEOUT_MS ?? 100), instances: Number(process.env.INSTANCES ?? 1) },
  onWarning: (w) => console.error(`[server] ${w.code}: ${w.message}`),
});
const app = express();
app.get('/', rateLimit(limiter), (_req, res) => {
  res.json({ ok: true });
});
const server = createServer(app);
server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', async () => {
  server.close();
  await limiter.close();
  process.exit(0);
});
