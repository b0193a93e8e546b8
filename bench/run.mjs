#!/usr/bin/env node
/**
 * The benchmark suite of issue 7: tierlimit against the bare frameworks and their usual
 * peers, over HTTP (interleaved rounds, each server in its own process), plus memory per
 * key and the core microbenchmarks. `pnpm bench --help` for the options; bench/README.md
 * for how to read the results.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runCore } from './lib/core.mjs';
import { DEFAULT_VARIANTS, FRAMEWORKS, profileHttp, runHttp, VARIANTS } from './lib/http.mjs';
import { runKeys } from './lib/keys.mjs';
import { loadAverage, machine } from './lib/machine.mjs';
import { formatProfile, summarizeProfile } from './lib/profile.mjs';
import { RedisServer, redisInstalled } from './lib/redis.mjs';
import { describeVariant, renderLatest, renderReadmeSection, targetsList } from './lib/report.mjs';
import { ratioChart } from './lib/svg.mjs';

const bench = dirname(fileURLToPath(import.meta.url));
const root = join(bench, '..');

const HELP = `Usage: pnpm bench [options]            (or: node bench/run.mjs [options])
       pnpm bench profile <target>...    targets: <framework>/<variant>, core/hot, core/new

Runs every variant over HTTP in interleaved rounds, then memory per key, then the core
microbenchmarks; writes bench/results/latest.{md,json} and bench/results/ratios.svg.

  --rounds N          rounds of the HTTP section (default 5)
  --duration S        seconds measured per variant per round (default 3)
  --warmup S          seconds of load before each measurement (default 1)
  --connections N     autocannon connections (default 50)
  --max-other-load C  measure again (once; at most a fifth of the runs) when other processes
                      used more than C cores during a measurement (default 0.25)
  --keys N            distinct API keys in the memory-per-key section (default 100000)
  --core-keys N       new keys in the core microbenchmark (default 1000000)
  --sections LIST     any of http,keys,core (default all)
  --frameworks LIST   any of ${FRAMEWORKS.join(',')} (default all)
  --variants LIST     any of ${VARIANTS.join(',')}
                      (default all but the floors headers-only and ping-redis; bare is
                      always kept)
  --quick             smoke run: 2 rounds of 2 s, 20000 keys, 200000 core keys
  --no-profile        do not profile the variants that miss a target (default: profile them)
  --no-build          use the packages' existing dist instead of building first
  --out NAME          results file names: NAME.md, NAME.json and the chart (default latest:
                      latest.md, latest.json, ratios.svg; otherwise NAME-ratios.svg)
  --update-readme     rewrite the "## Benchmarks" section of the root README.md (only with
                      the default --out)
  --help              this text
`;

function parse() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      'max-other-load': { type: 'string' },
      keys: { type: 'string' },
      'core-keys': { type: 'string' },
      sections: { type: 'string' },
      frameworks: { type: 'string' },
      variants: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'no-profile': { type: 'boolean', default: false },
      'no-build': { type: 'boolean', default: false },
      'update-readme': { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  const quick = values.quick;
  const number = (name, fallback, { integer = true, minimum = 1 } = {}) => {
    if (values[name] === undefined) return fallback;
    const n = Number(values[name]);
    if (!Number.isFinite(n) || n < minimum || (integer && !Number.isInteger(n))) {
      throw new Error(
        `Expected --${name} to be a number ≥ ${minimum}${integer ? ' (integer)' : ''}, got ${values[name]}.`,
      );
    }
    return n;
  };
  const list = (name, allowed, fallback) => {
    if (values[name] === undefined) return fallback;
    const items = values[name]
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const item of items) {
      if (!allowed.includes(item))
        throw new Error(`Unknown ${name.replace(/s$/, '')} "${item}"; expected any of ${allowed.join(', ')}.`);
    }
    return items;
  };
  const variants = list('variants', VARIANTS, DEFAULT_VARIANTS);
  const settings = {
    quick,
    rounds: number('rounds', quick ? 2 : 5),
    duration: number('duration', quick ? 2 : 3, { integer: false, minimum: 0.5 }),
    warmup: number('warmup', quick ? 0.5 : 1, { integer: false, minimum: 0 }),
    connections: number('connections', 50),
    maxOtherLoad: number('max-other-load', 0.25, { integer: false, minimum: 0 }),
    keys: number('keys', quick ? 20_000 : 100_000, { minimum: 1_000 }),
    coreKeys: number('core-keys', quick ? 200_000 : 1_000_000, { minimum: 1_000 }),
    stallSeconds: quick ? 3 : 5,
    flexibleDurationSeconds: quick ? 6 : 15,
    sections: list('sections', ['http', 'keys', 'core'], ['http', 'keys', 'core']),
    frameworks: list('frameworks', FRAMEWORKS, FRAMEWORKS),
    variants: variants.includes('bare') ? variants : ['bare', ...variants],
    profileMissed: !values['no-profile'],
    build: !values['no-build'],
    updateReadme: values['update-readme'],
    out: values.out ?? 'latest',
  };
  if (!/^[a-z0-9][a-z0-9-]*$/.test(settings.out)) {
    throw new Error(`Expected --out to be a file name of lower-case letters, digits and dashes, got ${settings.out}.`);
  }
  if (settings.updateReadme && settings.out !== 'latest') {
    throw new Error('--update-readme shows latest.md in the README; drop --out, or --update-readme.');
  }
  return { settings, positionals, help: values.help };
}

function log(line) {
  console.log(line);
}

function elapsed(ms) {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

const PACKAGES = ['core', 'express', 'koa', 'fastify', 'redis'];

/** Builds the packages (the servers load their dist, as users do), or checks the dist is there. */
function build(settings, rawDir) {
  if (settings.build) {
    log('building the packages (npm run build)...');
    const result = spawnSync('npm', ['run', 'build'], { cwd: root, encoding: 'utf8' });
    writeFileSync(join(rawDir, 'build.log'), `${result.stdout ?? ''}${result.stderr ?? ''}`);
    if (result.status !== 0) {
      console.error(`${result.stdout ?? ''}${result.stderr ?? ''}`);
      throw new Error(
        'The build failed (log above and in bench/results/raw/build.log). Fix it, or run with --no-build to measure the existing dist.',
      );
    }
  }
  const missing = PACKAGES.filter((p) => !existsSync(join(root, 'packages', p, 'dist', 'index.js')));
  if (missing.length > 0) {
    throw new Error(
      `No built dist for ${missing.map((p) => `@tierlimit/${p}`).join(', ')}: run \`npm run build\` first (or drop --no-build).`,
    );
  }
}

function versions() {
  const require = createRequire(join(bench, 'package.json'));
  const names = [
    'autocannon',
    'express',
    'koa',
    'fastify',
    'express-rate-limit',
    'rate-limit-redis',
    '@fastify/rate-limit',
    'koa-ratelimit',
    'rate-limiter-flexible',
    'ioredis',
  ];
  const found = {};
  for (const name of names) {
    try {
      found[name] = require(`${name}/package.json`).version;
    } catch {
      // Some packages do not export package.json; read it from node_modules directly.
      try {
        found[name] = JSON.parse(readFileSync(join(bench, 'node_modules', name, 'package.json'), 'utf8')).version;
      } catch {
        found[name] = '?';
      }
    }
  }
  return found;
}

function updateReadme(section) {
  const path = join(root, 'README.md');
  const text = readFileSync(path, 'utf8');
  const start = text.indexOf('\n## Benchmarks\n');
  let next;
  if (start >= 0) {
    const end = text.indexOf('\n## ', start + 1);
    next = `${text.slice(0, start + 1)}${section}${end >= 0 ? `\n${text.slice(end + 1)}` : ''}`;
  } else {
    const development = text.indexOf('\n## Development\n');
    if (development < 0) throw new Error('README.md has no "## Development" section to put the benchmarks before.');
    next = `${text.slice(0, development + 1)}${section}\n${text.slice(development + 1)}`;
  }
  writeFileSync(path, next);
  // The repository's formatter aligns Markdown tables; the lint step checks README.md.
  const formatted = spawnSync(
    process.execPath,
    [join(root, 'scripts/pnpm.mjs'), 'exec', 'biome', 'format', '--write', path],
    {
      cwd: root,
      stdio: 'ignore',
    },
  );
  if (formatted.status !== 0) console.error('could not format README.md with biome; run `npm run format`.');
}

function newestProfile(dir, since) {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).mtimeMs >= since)
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return files[0];
}

/** Profiles one target (`express/tierlimit-redis`, `core/hot`, `core/new`) and returns its top self-time functions. */
async function profile(target, { settings, redis, rawDir }) {
  const dir = join(rawDir, 'profiles', target.replace('/', '-'));
  mkdirSync(dir, { recursive: true });
  const since = Date.now();
  const [framework, variant] = target.split('/');
  let measured;
  if (framework === 'core') {
    if (!['hot', 'new'].includes(variant))
      throw new Error(`Unknown profile target ${target}; expected core/hot or core/new.`);
    const result = await runCore({
      settings,
      log,
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
      only: variant,
    });
    measured =
      variant === 'hot' ? result.tierlimit.hot?.decisionsPerSecond : result.tierlimit.newAddresses?.decisionsPerSecond;
  } else {
    if (!FRAMEWORKS.includes(framework) || !VARIANTS.includes(variant)) {
      throw new Error(`Unknown profile target ${target}; expected <${FRAMEWORKS.join('|')}>/<${VARIANTS.join('|')}>.`);
    }
    const run = await profileHttp({
      framework,
      variant,
      // Long enough for a useful profile, except in a --quick smoke run.
      settings: { ...settings, duration: settings.quick ? settings.duration : Math.max(settings.duration, 6) },
      redis,
      dir,
      log,
    });
    measured = run.rps;
  }
  const file = newestProfile(dir, since - 1000);
  if (file === undefined) throw new Error(`no .cpuprofile was written for ${target}`);
  const summary = summarizeProfile(file, { root, limit: 15 });
  const text = formatProfile(`${target} under --cpu-prof (${relative(root, file)})`, summary);
  writeFileSync(join(dir, 'top.txt'), `${text}\n`);
  log(text);
  return { target, file: relative(root, file), measured, top: summary.top, busyMs: summary.busyMs, text };
}

/** Targets that missed, as profile targets. */
function missedTargets(results) {
  const missed = [];
  for (const row of results.http?.summary ?? []) {
    if (row.target !== undefined && row.ratio.median < row.target) missed.push(`${row.framework}/${row.variant}`);
  }
  const t = results.core?.tierlimit;
  if (t?.hot && t.hot.decisionsPerSecond < 5e6) missed.push('core/hot');
  if (t?.newAddresses && t.newAddresses.decisionsPerSecond < 1e6) missed.push('core/new');
  return missed;
}

async function main() {
  const started = Date.now();
  const { settings, positionals, help } = parse();
  if (help) {
    console.log(HELP);
    return;
  }
  const resultsDir = join(bench, 'results');
  const rawDir = join(resultsDir, 'raw');
  mkdirSync(rawDir, { recursive: true });
  build(settings, rawDir);

  const profiling = positionals[0] === 'profile';
  if (positionals.length > 0 && !profiling) throw new Error(`Unknown command ${positionals[0]}; see --help.`);
  const targets = profiling ? positionals.slice(1) : [];
  if (profiling && targets.length === 0)
    throw new Error('bench profile: name a target, e.g. fastify/tierlimit-redis or core/hot.');

  const redisVersion = redisInstalled();
  const wantsRedis = profiling
    ? targets.some((t) => t.endsWith('-redis'))
    : settings.sections.includes('http') && settings.variants.some((v) => v.endsWith('-redis'));
  if (wantsRedis && redisVersion === undefined) {
    throw new Error(
      'redis-server is not installed (apt-get install redis-server), and the Redis variants need it; or pass --variants bare,tierlimit-memory,peer-memory.',
    );
  }
  const redis = wantsRedis ? await RedisServer.start() : undefined;
  const results = {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    command: `pnpm bench${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: machine(redisVersion),
    versions: versions(),
    settings,
    loadAverage: { start: loadAverage() },
  };
  try {
    if (profiling) {
      for (const target of targets) await profile(target, { settings, redis, rawDir });
      return;
    }
    log(
      `tierlimit benchmarks on ${results.machine.cpu} (${results.machine.cores} cores), Node ${results.machine.node}${redis ? `, redis-server ${results.machine.redis} on port ${redis.port}` : ''}`,
    );
    if (settings.sections.includes('http')) {
      log(
        `\n1. HTTP throughput: ${settings.rounds} rounds x ${settings.duration} s, ${settings.connections} connections`,
      );
      results.http = await runHttp({ settings, redis, log });
      if (redis) {
        log('\n2. Redis round trips per decision');
        const { runRoundTrips } = await import('./lib/roundtrips.mjs');
        results.roundTrips = await runRoundTrips({ redis, log });
      }
    }
    if (settings.sections.includes('keys')) {
      log(`\n3. Memory per key: ${settings.keys} new API keys per server`);
      results.keys = await runKeys({ settings, log });
    }
    if (settings.sections.includes('core')) {
      log(`\n4. Core microbenchmark: ${settings.coreKeys} new keys`);
      results.core = await runCore({ settings, log });
    }
    const missed = missedTargets(results);
    if (settings.profileMissed && missed.length > 0) {
      log(`\nProfiling what missed a target: ${missed.join(', ')}`);
      results.profiles = [];
      for (const target of missed) results.profiles.push(await profile(target, { settings, redis, rawDir }));
    }
  } finally {
    await redis?.close();
  }

  results.loadAverage.end = loadAverage();
  results.wallTime = elapsed(Date.now() - started);
  const out = settings.out;
  const chart = out === 'latest' ? 'ratios.svg' : `${out}-ratios.svg`;
  writeFileSync(join(resultsDir, `${out}.json`), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(resultsDir, `${out}.md`), renderLatest(results, { json: `${out}.json`, chart }));
  if (results.http) writeFileSync(join(resultsDir, chart), ratioChart(results, describeVariant));
  if (settings.updateReadme) {
    if (!results.http) throw new Error('--update-readme needs the http section.');
    updateReadme(renderReadmeSection(results));
    log('README.md: "## Benchmarks" section updated.');
  }
  log(`\nTargets:\n${targetsList(results)}`);
  log(`\nWrote bench/results/${out}.md, ${out}.json${results.http ? `, ${chart}` : ''} in ${results.wallTime}.`);
}

main().catch((error) => {
  console.error(`\nbench: ${error.message}`);
  process.exitCode = 1;
  // Children are killed by the exit hook in lib/processes.mjs.
  setTimeout(() => process.exit(1), 100).unref();
});
