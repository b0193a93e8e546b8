#!/usr/bin/env node
/**
 * Exactness across instances (issue 13): N app processes on one redis-server, each sent C
 * concurrent requests for one API key whose limit is L, all at once; prints how many were
 * admitted per run. Exact means L admitted in every run and no request answered degraded.
 *
 *   node bench/exactness/run.mjs [--instances 8] [--concurrency 200] [--limit 100] [--runs 10] [--timeout 100] [--json]
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
  },
});
const instances = Number(values.instances);
const concurrency = Number(values.concurrency);
const limit = Number(values.limit);
const runs = Number(values.runs);

const redis = await RedisServer.start();
const servers = await Promise.all(
  Array.from({ length: instances }, () =>
    startServer({ REDIS_URL: redis.url, LIMIT: String(limit), TIMEOUT_MS: values.timeout }),
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
for (let run = 1; run <= runs; run++) {
  await redis.flush();
  const key = `run-${run}`;
  const all = await Promise.all(servers.flatMap((s) => Array.from({ length: concurrency }, () => get(s.port, key))));
  const count = (predicate) => all.filter(predicate).length;
  const result = {
    admitted: count((r) => r.status === 200),
    limited: count((r) => r.status === 429),
    unavailable: count((r) => r.status === 503),
    other: count((r) => ![200, 429, 503].includes(r.status)),
    degraded: count((r) => r.degraded !== undefined),
  };
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
process.exit(admitted.every((n) => n === limit) ? 0 : 1);
