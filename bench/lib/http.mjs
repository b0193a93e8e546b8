/**
 * Section 1: HTTP throughput. Every (framework, variant) runs in a fresh server process
 * per round; within a round the variants of one framework run back to back, starting at a
 * different variant each round (A B C, B C A, ...), so slow drift of the machine and the
 * position in the round both cancel out of the ratio to the bare framework.
 */
import { ROUTE } from '../servers/route.mjs';
import { load } from './load.mjs';
import { machineBusyMicros } from './machine.mjs';
import { callsBetween } from './redis.mjs';
import { ServerProcess } from './server-process.mjs';
import { max, median, min } from './stats.mjs';

export const FRAMEWORKS = ['express', 'koa', 'fastify'];
export const VARIANTS = [
  'bare',
  'tierlimit-memory',
  'peer-memory',
  'tierlimit-redis',
  'peer-redis',
  'headers-only',
  'ping-redis',
];
/**
 * The floors, asked for by name so the default run stays under 10 minutes: no limiter, only
 * the three X-RateLimit-* headers (`headers-only`: the floor under any limiter that sends
 * them), or only one Redis PING per request (`ping-redis`: the floor under any limiter
 * that makes a round trip per request).
 */
export const FLOORS = ['headers-only', 'ping-redis'];
/** What a run measures unless told otherwise. */
export const DEFAULT_VARIANTS = VARIANTS.filter((variant) => !FLOORS.includes(variant));

export const PEERS = {
  express: { memory: 'express-rate-limit', redis: 'express-rate-limit + rate-limit-redis' },
  koa: { memory: 'koa-ratelimit (memory driver)', redis: 'koa-ratelimit (redis driver)' },
  fastify: { memory: '@fastify/rate-limit (LRU store)', redis: '@fastify/rate-limit (Redis store)' },
};

/** The targets of issue 7, as ratios to bare in the same run. */
export const TARGETS = {
  'tierlimit-memory': { express: 0.9, koa: 0.9, fastify: 0.9 },
  'tierlimit-redis': { express: 0.85, koa: 0.75, fastify: 0.7 },
};

const usesRedis = (variant) => variant.endsWith('-redis');

/** Top-level commands (one round trip each) among INFO commandstats names; the rest ran inside scripts. */
const ROUND_TRIP_COMMANDS = new Set(['evalsha', 'eval', 'evalsha_ro', 'eval_ro', 'fcall', 'fcall_ro', 'multi', 'exec']);

async function measure({ framework, variant, round, settings, redis, nodeArgs = [] }) {
  if (usesRedis(variant)) await redis.flush();
  const server = await ServerProcess.start({
    framework,
    variant,
    env: redis === undefined ? {} : { BENCH_REDIS_URL: redis.url },
    nodeArgs,
  });
  try {
    const url = `http://127.0.0.1:${server.port}${ROUTE}`;
    const connections = settings.connections;
    if (settings.warmup > 0) await load({ url, connections, duration: settings.warmup });
    const before = await server.ask('stats');
    const redisBefore = usesRedis(variant)
      ? { calls: await redis.commandCalls(), cpu: await redis.cpuMicros() }
      : undefined;
    const busyBefore = machineBusyMicros();
    const runnerBefore = process.cpuUsage();
    const result = await load({ url, connections, duration: settings.duration });
    const runnerCpu = process.cpuUsage(runnerBefore);
    const busy = machineBusyMicros() - busyBefore;
    const after = await server.ask('stats');
    const served = after.served - before.served;
    const cpuMicros = after.cpu.user - before.cpu.user + (after.cpu.system - before.cpu.system);
    const run = {
      round,
      framework,
      variant,
      rps: result.rps,
      requests: result.requests,
      served,
      p50Ms: result.p50,
      p99Ms: result.p99,
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      cpuMicrosPerRequest: cpuMicros / served,
      sysMicrosPerRequest: (after.cpu.system - before.cpu.system) / served,
      storeErrors: after.storeErrors - before.storeErrors,
      runnerCpuMicrosPerRequest: (runnerCpu.user + runnerCpu.system) / result.requests,
    };
    let ownMicros = cpuMicros + runnerCpu.user + runnerCpu.system;
    if (redisBefore !== undefined) {
      const calls = callsBetween(redisBefore.calls, await redis.commandCalls());
      const perRequest = Object.fromEntries(Object.entries(calls).map(([name, n]) => [name, n / served]));
      const roundTrips = Object.entries(calls)
        .filter(([name]) => ROUND_TRIP_COMMANDS.has(name))
        .reduce((sum, [, n]) => sum + n, 0);
      run.redis = {
        // What the server's ioredis client sent: each command is one round trip (tierlimit's may carry several requests' decisions).
        sentPerRequest: (after.redisSent - before.redisSent) / served,
        // Script calls seen by redis-server (EVALSHA and friends).
        scriptCallsPerRequest: roundTrips / served,
        // Every command redis-server executed, those inside Lua scripts included.
        commandsPerRequest: perRequest,
        cpuMicrosPerRequest: ((await redis.cpuMicros()) - redisBefore.cpu) / served,
      };
      ownMicros += run.redis.cpuMicrosPerRequest * served;
    }
    // Server, load generator and redis-server: what the variant costs the two cores.
    run.totalCpuMicrosPerRequest =
      run.cpuMicrosPerRequest + run.runnerCpuMicrosPerRequest + (run.redis?.cpuMicrosPerRequest ?? 0);
    // Cores busy with other work during the run (other engineers' tests, the OS): the noise.
    if (Number.isFinite(busy)) run.otherCores = Math.max(0, busy - ownMicros) / (result.seconds * 1e6);
    if (run.non2xx > 0 || run.errors > 0 || run.storeErrors > 0) {
      run.warning = `${run.non2xx} non-2xx, ${run.errors} errors, ${run.storeErrors} store errors`;
    }
    return run;
  } finally {
    await server.close();
  }
}

function describe(run) {
  const extra = run.redis ? `  redis ${run.redis.sentPerRequest.toFixed(2)} cmd/req` : '';
  const warning = run.warning ? `  WARNING ${run.warning}` : '';
  const other = Number.isFinite(run.otherCores) ? `  other load ${run.otherCores.toFixed(2)} cores` : '';
  return `${run.framework.padEnd(8)}${run.variant.padEnd(18)}${Math.round(run.rps).toString().padStart(7)} req/s  p99 ${String(run.p99Ms).padStart(3)} ms  cpu ${run.cpuMicrosPerRequest.toFixed(1).padStart(6)} us/req (sys ${run.sysMicrosPerRequest.toFixed(1)}), load generator ${run.runnerCpuMicrosPerRequest.toFixed(1)}${run.redis ? `, redis-server ${run.redis.cpuMicrosPerRequest.toFixed(1)}` : ''}${extra}${other}${warning}`;
}

export async function runHttp({ settings, redis, log }) {
  const runs = [];
  // Retries for measurements that other processes disturbed, bounded so a busy machine
  // cannot stretch the run by more than about a fifth.
  let retriesLeft = Math.ceil(0.2 * settings.rounds * settings.frameworks.length * settings.variants.length);
  let retried = 0;
  for (let round = 0; round < settings.rounds; round++) {
    log(`round ${round + 1}/${settings.rounds}`);
    for (const framework of settings.frameworks) {
      const variants = settings.variants;
      const order = variants.map((_, i) => variants[(i + round) % variants.length]);
      for (const variant of order) {
        let run = await measure({ framework, variant, round, settings, redis });
        log(`  ${describe(run)}`);
        if (run.otherCores > settings.maxOtherLoad && retriesLeft > 0) {
          retriesLeft--;
          retried++;
          const again = await measure({ framework, variant, round, settings, redis });
          log(`  ${describe(again)}  (again: other processes were busy)`);
          const [kept, dropped] = again.otherCores < run.otherCores ? [again, run] : [run, again];
          run = { ...kept, attempts: 2, discarded: { rps: dropped.rps, otherCores: dropped.otherCores } };
        }
        runs.push(run);
      }
    }
  }
  const other = runs.map((r) => r.otherCores).filter(Number.isFinite);
  return {
    runs,
    retried,
    noisy: runs.filter((r) => r.otherCores > settings.maxOtherLoad).length,
    summary: summarize(runs, settings),
    otherCores: other.length ? other.reduce((a, b) => a + b, 0) / other.length : undefined,
    otherCoresMedian: other.length ? median(other) : undefined,
    otherCoresMax: other.length ? max(other) : undefined,
  };
}

export function summarize(runs, settings) {
  const summary = [];
  for (const framework of settings.frameworks) {
    for (const variant of settings.variants) {
      const mine = runs.filter((r) => r.framework === framework && r.variant === variant);
      if (mine.length === 0) continue;
      const ratios = [];
      const cpuRatios = [];
      for (const run of mine) {
        const bare = runs.find((r) => r.framework === framework && r.variant === 'bare' && r.round === run.round);
        if (bare === undefined) continue;
        ratios.push(run.rps / bare.rps);
        cpuRatios.push(bare.cpuMicrosPerRequest / run.cpuMicrosPerRequest);
      }
      const row = {
        framework,
        variant,
        rounds: mine.length,
        rps: median(mine.map((r) => r.rps)),
        ratio: ratios.length ? { median: median(ratios), min: min(ratios), max: max(ratios), all: ratios } : undefined,
        cpuRatio: cpuRatios.length ? median(cpuRatios) : undefined,
        p99Ms: median(mine.map((r) => r.p99Ms)),
        cpuMicrosPerRequest: median(mine.map((r) => r.cpuMicrosPerRequest)),
        totalCpuMicrosPerRequest: median(mine.map((r) => r.totalCpuMicrosPerRequest)),
        non2xx: mine.reduce((s, r) => s + r.non2xx, 0),
        errors: mine.reduce((s, r) => s + r.errors + r.storeErrors, 0),
        otherCores: median(mine.map((r) => r.otherCores ?? Number.NaN)),
      };
      if (usesRedis(variant)) {
        row.redis = {
          sentPerRequest: median(mine.map((r) => r.redis.sentPerRequest)),
          scriptCallsPerRequest: median(mine.map((r) => r.redis.scriptCallsPerRequest)),
          commandsPerRequest: median(mine.map((r) => sumValues(r.redis.commandsPerRequest))),
          breakdown: mine[mine.length - 1].redis.commandsPerRequest,
          cpuMicrosPerRequest: median(mine.map((r) => r.redis.cpuMicrosPerRequest)),
        };
      }
      const target = TARGETS[variant]?.[framework];
      if (target !== undefined && row.ratio !== undefined) row.target = target;
      summary.push(row);
    }
  }
  return summary;
}

function sumValues(object) {
  return Object.values(object).reduce((s, v) => s + v, 0);
}

/** One variant under `node --cpu-prof`, for `bench profile <framework>/<variant>`. */
export async function profileHttp({ framework, variant, settings, redis, dir, log }) {
  const run = await measure({
    framework,
    variant,
    round: 0,
    settings,
    redis,
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
  });
  log(`  ${describe(run)}`);
  return run;
}
