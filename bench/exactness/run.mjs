#!/usr/bin/env node
/**
 * Exactness across instances (issue 13): N app processes on one redis-server, each sent C
 * concurrent requests for one API key whose limit is L, all at once; prints how many were
 * admitted per run. Exact means L admitted in every run and no request answered degraded.
 *
 *   node bench/exactness/run.mjs [--instances 8] [--concurrency 200] [--limit 100] [--runs 10] [--timeout 100] [--json]
 *   node bench/exactness/run.mjs --fault pause [--share 8]
 *
 * --fault pause measures what a real fault costs: each run sends one burst with Redis
 * healthy (it spends the limit), pauses redis-server (SIGSTOP), sends a second burst (the
 * instances answer it from their local fallbacks), and resumes Redis. --share sets each
 * instance's storeFaults.instances (default: the number of instances).
 *
 * The instances are test/stores/fixtures/instance-server.ts, run from the sources (node
 * --import tsx); test/stores/redis-exactness.test.ts runs this same script in CI. Needs
 * redis-server on the PATH. --json: one JSON line with every run's counts, last.
 */
import { Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stop, track } from '../lib/processes.mjs';
import { RedisServer } from '../lib/redis.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const { values } = parseArgs({
  options: {
    instances: { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '200' },
    limit: { type: 'string', default: '100' },
    runs: { type: 'string', default: '10' },
    timeout: { type: 'string', default: '100' },
    json: { type: 'boolean', default: false },
    fault: { type: 'string' },
    share: { type: 'string' },
  },
});
if (values.fault !== undefined && values.fault !== 'pause') throw new Error('--fault: only "pause" is known');
const instances = Number(values.instances);
const concurrency = Number(values.concurrency);
const limit = Number(values.limit);
const runs = Number(values.runs);

const redis = await RedisServer.start();
const servers = await Promise.all(
  Array.from({ length: instances }, () =>
    startServer({
      REDIS_URL: redis.url,
      LIMIT: String(limit),
      TIMEOUT_MS: values.timeout,
      INSTANCES: values.share ?? (values.fault === undefined ? '1' : String(instances)),
    }),
  ),
);

function startServer(env) {
  const child = track(process.execPath, ['--import', 'tsx', 'test/stores/fixtures/instance-server.ts'], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const match = /^listening (\d+)$/.exec(line);
      if (match) resolve({ child, port: Number(match[1]) });
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
function get(port, key) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent, headers: { 'x-api-key': key } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, degraded: res.headers['x-ratelimit-degraded'] }));
    });
    req.on('error', (error) => resolve({ status: 0, error: error.code }));
    req.end();
  });
}

// Warm each instance (JIT, script load) with a key of its own.
await Promise.all(servers.map((s, i) => get(s.port, `warm-${i}`)));
const results = [];
const burst = (key) => Promise.all(servers.flatMap((s) => Array.from({ length: concurrency }, () => get(s.port, key))));
function tally(all) {
  const count = (predicate) => all.filter(predicate).length;
  return {
    admitted: count((r) => r.status === 200),
    limited: count((r) => r.status === 429),
    unavailable: count((r) => r.status === 503),
    other: count((r) => ![200, 429, 503].includes(r.status)),
    degraded: count((r) => r.degraded !== undefined),
  };
}
for (let run = 1; run <= runs; run++) {
  await redis.flush();
  const key = `run-${run}`;
  if (values.fault === 'pause') {
    const healthy = tally(await burst(key));
    process.kill(redis.pid, 'SIGSTOP');
    const paused = tally(await burst(key));
    process.kill(redis.pid, 'SIGCONT');
    // Let every instance see Redis again (its circuit half-opens after a second).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await Promise.all(servers.map((s, i) => get(s.port, `recover-${run}-${i}`)));
    const result = { ...paused, admitted: healthy.admitted + paused.admitted, healthy, paused };
    results.push(result);
    console.log(
      `run ${run}: admitted ${result.admitted} (${healthy.admitted} with Redis, then ${paused.admitted} while it was paused; ${paused.degraded} degraded)`,
    );
    continue;
  }
  const result = tally(await burst(key));
  results.push(result);
  console.log(
    `run ${run}: admitted ${result.admitted}, 429 ${result.limited}, 503 ${result.unavailable}, other ${result.other}, degraded ${result.degraded}`,
  );
}
const admitted = results.map((result) => result.admitted);
console.log(
  `admitted per run: ${admitted.join(', ')} (limit ${limit}, ${instances} instances x ${concurrency} concurrent)`,
);
if (values.json) console.log(JSON.stringify({ limit, instances, concurrency, runs: results }));
await Promise.all(servers.map((s) => stop(s.child)));
await redis.close();
process.exit(values.fault !== undefined || admitted.every((n) => n === limit) ? 0 : 1);
