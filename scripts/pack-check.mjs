#!/usr/bin/env node
// Tests the packages as users get them: the tarballs, not the workspace (issue 8).
//
//   node scripts/pack-check.mjs [--keep]      (after `npm run build`; part of `npm test`)
//
// 1. Packs every public package with the pinned pnpm (which rewrites `workspace:^` to real
//    versions, as publishing does).
// 2. Checks each tarball: only package.json, README.md, LICENSE and dist/ (JavaScript,
//    declarations, source maps carrying their sources) are in it, and nothing in dist/
//    that no export, bin or declaration loads; every file the manifest points at is
//    there; no `workspace:` range is left; every import in dist is a Node built-in, a
//    dependency or a peer dependency, and the main entry never loads an optional peer;
//    then publint (--strict) and @arethetypeswrong/cli on the tarball.
// 3. Installs all tarballs together into clean projects in the OS temp directory, with npm
//    from the registry, once per end of each peer range: "current" takes the newest major
//    each peer range admits (Express 5, Koa 3, Fastify 5, ioredis 6...), "previous" the
//    oldest (Express 4, Koa 2, Fastify 4, ioredis 5). In each it `require()`s and
//    `import`s every entry, serves one request through each adapter, a WebSocket upgrade
//    through the guard, the Prometheus entry, the client against the Express server and,
//    with redis-server on PATH (required under CI=true), one decision on Redis; runs
//    `tierlimit-import --help`; and
//    type-checks a consumer file against the published types with strict settings under
//    moduleResolution node16 (.mts and .cts), bundler, node10, and (client only) a browser
//    project without Node's types.
//
// Every check runs; failures are listed at the end with their output, and the exit code
// is 1. Each command has its own time limit and the whole run one deadline
// (PACK_CHECK_TIMEOUT_S, default 900 s). npm's cache for these installs is kept in the
// OS temp directory between runs. --keep leaves the temporary projects for inspection.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { freePort } from './free-port.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const keep = process.argv.includes('--keep');
const started = Date.now();
const deadline = started + Number(process.env.PACK_CHECK_TIMEOUT_S ?? 900) * 1_000;
const isWindows = process.platform === 'win32';

/** Named exports each entry must have, in both module systems (as test/build/exports.test.ts checks the workspace). */
const ENTRY_EXPORTS = {
  '@tierlimit/core': ['createRateLimiter', 'memoryStore', 'defaultTiers', 'batchSize', 'RequestError', 'settle'],
  '@tierlimit/core/prometheus': ['prometheusMetrics'],
  '@tierlimit/core/testing': ['storeSuite', 'registerStoreSuite', 'ManualClock', 'StoreSuiteAssertionError'],
  '@tierlimit/express': ['rateLimit', 'jsonErrors', 'createRateLimiter'],
  '@tierlimit/koa': ['rateLimit', 'jsonErrors', 'createRateLimiter'],
  '@tierlimit/fastify': ['fastifyRateLimit', 'createRateLimiter'],
  '@tierlimit/redis': ['redisStore', 'recommendedRedisOptions', 'createRedisClient', 'RedisStore'],
  '@tierlimit/ws': ['webSocketGuard', 'WebSocketGuard', 'GuardedConnection', 'CloseCode', 'refuseUpgrade'],
  '@tierlimit/client': ['createClient', 'createRateLimitedFetch', 'localBudget', 'withRetry', 'parseRateLimit'],
  '@tierlimit/client/redis': ['redisBudget', 'BudgetTimeoutError'],
};

/** Type packages a consumer needs next to each runtime peer (the others ship their own types). */
const TYPES_FOR = { express: '@types/express', koa: '@types/koa', ws: '@types/ws' };

// ---------------------------------------------------------------------------------------
// Results and processes

const results = [];
const children = new Set();
let workDir;
let redis;

function record(name, ok, detail = '', ms = undefined, skipped = false) {
  results.push({ name, ok, detail, skipped });
  const time = ms === undefined ? '' : ` (${(ms / 1_000).toFixed(1)} s)`;
  console.log(`${skipped ? '-' : ok ? '✓' : '✗'} ${name}${time}${skipped ? ` skipped: ${detail}` : ''}`);
}

/** Runs a command; never rejects. Output is captured (stdout and stderr interleaved). */
function run(command, args, { cwd = root, timeoutMs = 120_000, env = {} } = {}) {
  const limit = Math.max(1_000, Math.min(timeoutMs, deadline - Date.now()));
  const begin = Date.now();
  return new Promise((resolve) => {
    let output = '';
    let timedOut = false;
    const child = spawn(command, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: isWindows,
      detached: !isWindows, // its own process group, so a timeout ends npm's children too
    });
    children.add(child);
    const collect = (chunk) => {
      if (output.length < 2_000_000) output += chunk;
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => {
      timedOut = true;
      kill(child);
    }, limit);
    const finish = (code, error) => {
      clearTimeout(timer);
      children.delete(child);
      const ms = Date.now() - begin;
      if (timedOut) output += `\n[timed out after ${Math.round(limit / 1_000)} s]`;
      if (error) output += `\n[${error.message}]`;
      resolve({ code: timedOut ? null : code, output, ms });
    };
    child.on('error', (error) => finish(null, error));
    child.on('close', (code) => finish(code));
  });
}

function kill(child) {
  try {
    if (isWindows) child.kill('SIGKILL');
    else process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Runs a command as one named check. */
async function check(name, command, args, options = {}) {
  const result = await run(command, args, options);
  const ok = result.code === 0 && (options.expect ? options.expect(result.output) : true);
  record(name, ok, ok ? '' : result.output, result.ms);
  return { ...result, ok };
}

/** Runs `tasks` (functions returning promises) at most `limit` at a time. */
async function pool(limit, tasks) {
  const queue = [...tasks];
  const worker = async () => {
    while (queue.length > 0) await queue.shift()();
  };
  await Promise.all(Array.from({ length: Math.min(limit, queue.length) }, worker));
}

function tail(text, lines = 60) {
  const all = text.trimEnd().split('\n');
  return (all.length > lines ? ['...', ...all.slice(-lines)] : all).map((line) => `    ${line}`).join('\n');
}

// ---------------------------------------------------------------------------------------
// Tarballs

/** Files of a .tgz by path (`null` for anything that is not a regular file). */
function readTarball(file) {
  const data = gunzipSync(readFileSync(file));
  const files = new Map();
  let offset = 0;
  let longName;
  while (offset + 512 <= data.length) {
    const header = data.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const field = (start, length) => header.toString('utf8', start, start + length).replace(/\0.*$/s, '');
    const size = Number.parseInt(field(124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] || 48);
    const body = data.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      longName = /\d+ path=([^\n]*)\n/.exec(body.toString('utf8'))?.[1];
      continue;
    }
    if (type === 'g' || type === '5') continue; // global headers, directories
    const prefix = field(345, 155);
    const path = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    longName = undefined;
    files.set(path, type === '0' ? Buffer.from(body) : null);
  }
  return files;
}

const ALLOWED = [
  /^package\.json$/,
  /^README\.md$/,
  /^LICENSE$/,
  /^dist\/[\w./-]+\.(js|cjs|mjs|d\.ts|d\.cts|d\.mts|map)$/,
];
const DEPENDENCY_FIELDS = ['dependencies', 'peerDependencies', 'optionalDependencies'];
const builtins = new Set(builtinModules);

/** Every string leaf of an exports map, with the condition path that leads to it. */
function exportTargets(value, path = []) {
  if (typeof value === 'string') return [[path.join(' > '), value]];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, inner]) => exportTargets(inner, [...path, key]));
}

/** Condition objects in an exports map whose `types` is not the first key. */
function typesNotFirst(value, path = []) {
  if (value === null || typeof value !== 'object') return [];
  const keys = Object.keys(value);
  const here = keys.includes('types') && keys[0] !== 'types' ? [path.join(' > ') || '(root)'] : [];
  return [...here, ...keys.flatMap((key) => typesNotFirst(value[key], [...path, key]))];
}

function packageNameOf(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** Module specifiers a file loads: imports, re-exports, require(), import() and type references. */
function specifiersOf(path, text) {
  const code = path.endsWith('.map') ? '' : text;
  const found = new Set();
  const patterns = [
    /^\s*(?:import|export)\s[^'"`;]*?\sfrom\s*["']([^"']+)["']/gm,
    /^\s*import\s*["']([^"']+)["']/gm,
    /\brequire\(\s*["']([^"']+)["']\s*\)/g,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
    /^\/\/\/\s*<reference\s+types=["']([^"']+)["']/gm,
  ];
  const stripped = code.replace(/\/\*[\s\S]*?\*\//g, '');
  for (const pattern of patterns) for (const match of stripped.matchAll(pattern)) found.add(match[1]);
  return [...found];
}

/** Problems of one packed package, by reading its tarball. */
function inspectTarball(file, workspaceVersions) {
  const problems = [];
  const entries = readTarball(file);
  const files = new Map();
  for (const [path, body] of entries) {
    if (!path.startsWith('package/')) {
      problems.push(`entry outside package/: ${path}`);
      continue;
    }
    const relative = path.slice('package/'.length);
    if (body === null) problems.push(`not a regular file: ${relative}`);
    else if (!ALLOWED.some((pattern) => pattern.test(relative)))
      problems.push(`unexpected file (only package.json, README.md, LICENSE and dist/ may ship): ${relative}`);
    else files.set(relative, body);
  }
  for (const required of ['package.json', 'README.md', 'LICENSE'])
    if (!files.has(required)) problems.push(`missing ${required}`);
  if (!files.has('package.json')) return problems;
  const manifest = JSON.parse(files.get('package.json').toString('utf8'));
  const text = (path) => files.get(path)?.toString('utf8') ?? '';
  const has = (target) => files.has(posix.normalize(target.replace(/^\.\//, '')));

  // Manifest fields.
  if (manifest.sideEffects !== false) problems.push('package.json: `sideEffects` is not false');
  if (!Array.isArray(manifest.files)) problems.push('package.json: no `files` allowlist');
  if (manifest.license !== 'MIT') problems.push(`package.json: license is ${manifest.license}, expected MIT`);
  if (!manifest.engines?.node) problems.push('package.json: no `engines.node`');
  if (manifest.exports?.['./package.json'] !== './package.json')
    problems.push('package.json: `./package.json` is not exported');
  for (const where of typesNotFirst(manifest.exports)) problems.push(`exports ${where}: \`types\` is not first`);
  for (const field of [...DEPENDENCY_FIELDS, 'devDependencies']) {
    for (const [name, range] of Object.entries(manifest[field] ?? {})) {
      if (/^(workspace|link|file|portal):/.test(range)) problems.push(`${field}.${name} is "${range}" in the tarball`);
      const expected = workspaceVersions.get(name);
      if (expected && field !== 'devDependencies' && range !== `^${expected}`)
        problems.push(`${field}.${name} is "${range}", expected "^${expected}" (the workspace version)`);
    }
  }

  // Everything the manifest points at is in the tarball.
  const pointers = [
    ...exportTargets(manifest.exports).map(([where, target]) => [`exports ${where}`, target]),
    ...['main', 'module', 'types'].filter((f) => manifest[f]).map((f) => [f, manifest[f]]),
    ...Object.entries(manifest.bin ?? {}).map(([name, target]) => [`bin ${name}`, target]),
    ...Object.values(manifest.typesVersions ?? {}).flatMap((map) =>
      Object.entries(map).flatMap(([from, targets]) => targets.map((target) => [`typesVersions ${from}`, target])),
    ),
  ];
  for (const [where, target] of pointers) {
    if (target === './package.json') continue;
    if (!has(target)) problems.push(`${where} points at ${target}, which is not in the tarball`);
  }
  for (const [name, target] of Object.entries(manifest.bin ?? {}))
    if (has(target) && !text(posix.normalize(target)).startsWith('#!/usr/bin/env node'))
      problems.push(`bin ${name} (${target}) does not start with #!/usr/bin/env node`);

  // Source maps are complete: they carry their sources, since src/ does not ship.
  for (const [path, body] of files) {
    if (!path.endsWith('.map')) continue;
    const map = JSON.parse(body.toString('utf8'));
    const contents = map.sourcesContent ?? [];
    if (contents.length !== map.sources.length || contents.some((source) => typeof source !== 'string'))
      problems.push(`${path}: sourcesContent is incomplete (the map would point at files that do not ship)`);
  }

  // Imports: relative ones resolve inside the tarball; bare ones are built-ins or declared.
  const declared = new Set(DEPENDENCY_FIELDS.flatMap((field) => Object.keys(manifest[field] ?? {})));
  const optionalPeers = new Set(
    Object.entries(manifest.peerDependenciesMeta ?? {})
      .filter(([, meta]) => meta?.optional)
      .map(([name]) => name),
  );
  const graph = new Map();
  for (const [path, body] of files) {
    if (!/\.(c|m)?js$|\.d\.(c|m)?ts$/.test(path)) continue;
    const declaration = /\.d\.(c|m)?ts$/.test(path);
    const edges = [];
    for (const specifier of specifiersOf(path, body.toString('utf8'))) {
      if (specifier.startsWith('.')) {
        const target = posix.join(posix.dirname(path), specifier);
        const candidates = declaration
          ? [target, target.replace(/\.(c|m)?js$/, '.d.$1ts'), `${target}.d.ts`]
          : [target];
        const hit = candidates.find((candidate) => files.has(candidate));
        if (hit === undefined) problems.push(`${path} imports ${specifier}, which is not in the tarball`);
        else edges.push(hit);
        continue;
      }
      const name = packageNameOf(specifier);
      if (specifier.startsWith('node:') || builtins.has(specifier) || name === manifest.name) continue;
      const typesName = `@types/${name.replace(/^@/, '').replace('/', '__')}`;
      if (!declared.has(name) && !(declaration && declared.has(typesName)))
        problems.push(`${path} imports "${specifier}", which is not a dependency or peer dependency`);
      edges.push(`pkg:${name}`);
    }
    graph.set(path, edges);
  }
  /** Files reachable from `starts` through relative imports; `onPackage(name, from)` sees bare ones. */
  const reach = (starts, onPackage = () => {}) => {
    const seen = new Set();
    const stack = [...starts];
    while (stack.length > 0) {
      const path = stack.pop();
      if (seen.has(path)) continue;
      seen.add(path);
      for (const edge of graph.get(path) ?? []) {
        if (edge.startsWith('pkg:')) onPackage(edge.slice(4), path);
        else stack.push(edge);
      }
    }
    return seen;
  };
  const local = (target) => posix.normalize(target.replace(/^\.\//, ''));
  // The main entry must load without optional peers (prom-client stays optional).
  const mainFiles = exportTargets(manifest.exports?.['.'])
    .map(([, target]) => local(target))
    .filter((target) => /\.(c|m)?js$/.test(target));
  reach(mainFiles, (name, path) => {
    if (optionalPeers.has(name)) problems.push(`the main entry loads the optional peer ${name} (through ${path})`);
  });
  // Nothing ships that no entry, bin or declaration loads (a source map goes with its file).
  const used = reach(pointers.map(([, target]) => local(target)).filter((target) => files.has(target)));
  for (const path of files.keys()) {
    if (!path.startsWith('dist/') || used.has(path) || used.has(path.replace(/\.map$/, ''))) continue;
    problems.push(`${path} ships, but no export, bin or declaration loads it: leave it out of \`files\``);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------
// The consumer projects

/** One range per `||` alternative of a peer range: the first is the oldest major, the last the newest. */
function alternatives(range) {
  return range.split('||').map((part) => part.trim());
}

function projectManifest(tarballs, peers, end) {
  const dependencies = {};
  for (const [name, file] of tarballs) dependencies[name] = `file:${file}`;
  for (const [name, range] of Object.entries(peers)) {
    const options = alternatives(range);
    dependencies[name] = end === 'previous' ? options[0] : options[options.length - 1];
  }
  return {
    name: `tierlimit-pack-check-${end}`,
    private: true,
    description: 'Generated by scripts/pack-check.mjs',
    dependencies,
    devDependencies: { '@types/node': '^20.19.0' },
  };
}

/**
 * The smoke test, run once as CommonJS (require) and once as ESM (import). `load` is the
 * module system's own loader. It prints `EXPORTS <json>` for the comparison of the two.
 */
function smokeSource(kind) {
  const header =
    kind === 'esm'
      ? `import { createRequire } from 'node:module';\nconst load = (id) => import(id);\nconst requireCjs = createRequire(import.meta.url);\n`
      : `const load = async (id) => require(id);\nconst requireCjs = require;\n`;
  return `${header}
const http = requireCjs('node:http');
const expected = ${JSON.stringify(ENTRY_EXPORTS)};
const defaultOf = (module) => module.default ?? module;

async function serve(handler) {
  const server = http.createServer(handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: 'http://127.0.0.1:' + server.address().port };
}
function assert(condition, message) {
  if (!condition) throw new Error(message);
}
async function expectLimited(url, label) {
  const response = await fetch(url + '/x', { headers: { 'x-api-key': 'key-free' } });
  const body = await response.json();
  assert(response.status === 200, label + ': expected 200, got ' + response.status + ' ' + JSON.stringify(body));
  assert(response.headers.get('x-ratelimit-limit') === '100', label + ': X-RateLimit-Limit is ' + response.headers.get('x-ratelimit-limit'));
  assert(body.remaining === 99, label + ': req.rateLimit.remaining is ' + body.remaining);
  const refused = await fetch(url + '/x');
  const error = await refused.json();
  assert(refused.status === 401 && error.error.code === 'UNAUTHORIZED', label + ': a request without a key got ' + refused.status);
  return response;
}

async function main() {
  const modules = {};
  const names = {};
  for (const [id, wanted] of Object.entries(expected)) {
    const module = await load(id);
    const missing = wanted.filter((name) => module[name] === undefined);
    assert(missing.length === 0, id + ': missing exports ' + missing.join(', '));
    modules[id] = module;
    names[id] = Object.keys(module).filter((name) => name !== 'default' && name !== 'module.exports').sort();
  }
  console.log('EXPORTS ' + JSON.stringify(names));
  const core = modules['@tierlimit/core'];
  const limiterFor = () =>
    core.createRateLimiter({ resolveTier: (key) => (key === 'key-free' ? 'free' : null), onWarning: () => {} });
  const closers = [];

  // Prometheus, fed by the limiter the Express app uses.
  const { Registry } = await load('prom-client');
  const registry = new Registry();
  const expressLimiter = limiterFor();
  modules['@tierlimit/core/prometheus'].prometheusMetrics(expressLimiter, { registry });

  // Express.
  const express = defaultOf(await load('express'));
  const app = express();
  app.get('/x', modules['@tierlimit/express'].rateLimit(expressLimiter), (req, res) => res.json({ remaining: req.rateLimit.remaining }));
  app.use(modules['@tierlimit/express'].jsonErrors());
  const expressServer = await serve(app);
  closers.push(() => expressServer.server.close());
  await expectLimited(expressServer.url, 'express');
  const metrics = await registry.metrics();
  assert(metrics.includes('tierlimit_decisions_total{'), 'prometheus: no tierlimit_decisions_total sample');

  // The store suite, from the testing entry, on the main entry's memory store.
  const memoryTarget = { name: 'memory', create: ({ now }) => core.memoryStore({ now, sweepIntervalMs: 0 }), keyCount: (store) => store.size };
  for (const c of modules['@tierlimit/core/testing'].storeSuite(memoryTarget)) {
    const result = await c.run();
    assert(result.status === 'passed', 'store suite: ' + c.group + ' > ' + c.name + ': ' + JSON.stringify(result));
  }

  // Koa.
  const Koa = defaultOf(await load('koa'));
  const koa = new Koa();
  koa.use(modules['@tierlimit/koa'].rateLimit(limiterFor()));
  koa.use((ctx) => { ctx.body = { remaining: ctx.state.rateLimit.remaining }; });
  const koaServer = await serve(koa.callback());
  closers.push(() => koaServer.server.close());
  await expectLimited(koaServer.url, 'koa');

  // Fastify.
  const { fastify } = await load('fastify');
  const fastifyApp = fastify();
  await fastifyApp.register(modules['@tierlimit/fastify'].fastifyRateLimit, { limiter: limiterFor() });
  fastifyApp.get('/x', async (request) => ({ remaining: request.rateLimit.remaining }));
  fastifyApp.get('/health', { config: { rateLimit: false } }, async () => ({ remaining: null }));
  await fastifyApp.listen({ port: 0, host: '127.0.0.1' });
  closers.push(() => fastifyApp.close());
  const fastifyUrl = 'http://127.0.0.1:' + fastifyApp.server.address().port;
  await expectLimited(fastifyUrl, 'fastify');
  const health = await fetch(fastifyUrl + '/health');
  assert(health.status === 200 && !health.headers.has('x-ratelimit-limit'), 'fastify: config.rateLimit false still limited');

  // The client, against the Express server.
  const client = modules['@tierlimit/client'];
  const response = await client.withRetry(({ signal }) => fetch(expressServer.url + '/x', { headers: { 'x-api-key': 'key-free' }, signal }));
  assert(response.ok, 'client: withRetry got ' + response.status);
  assert(client.parseRateLimit(response.headers)?.limit === 100, 'client: parseRateLimit did not read the limit');
  const limitedFetch = client.createRateLimitedFetch({ budget: { rate: 10 }, concurrency: 2 });
  const limited = await limitedFetch(expressServer.url + '/x', { headers: { 'x-api-key': 'key-free' }, weight: 2 });
  assert(limited.ok, 'client: createRateLimitedFetch got ' + limited.status);

  // The WebSocket guard on a plain http server, and ws's own client.
  const { WebSocket, WebSocketServer } = await load('ws');
  const guard = modules['@tierlimit/ws'].webSocketGuard({ limiter: limiterFor(), onWarning: () => {} });
  const wss = new WebSocketServer({ noServer: true, ...guard.serverOptions });
  const wsServer = await serve((_req, res) => res.end());
  wsServer.server.on('upgrade', (req, socket, head) =>
    guard.handleUpgrade(wss, req, socket, head, (conn) => conn.on('message', (data) => conn.send(String(data)))),
  );
  const echo = await new Promise((resolve, reject) => {
    const socket = new WebSocket(wsServer.url.replace('http', 'ws'), { headers: { 'x-api-key': 'key-free' } });
    socket.on('open', () => socket.send('ping'));
    socket.on('message', (data) => { resolve(String(data)); socket.close(); });
    socket.on('unexpected-response', (_req, res) => reject(new Error('ws: upgrade refused with ' + res.statusCode)));
    socket.on('error', reject);
  });
  assert(echo === 'ping', 'ws: echo was ' + echo);
  const refusedUpgrade = await new Promise((resolve, reject) => {
    const socket = new WebSocket(wsServer.url.replace('http', 'ws'));
    socket.on('unexpected-response', (_req, res) => { resolve(res.statusCode); res.destroy(); });
    socket.on('open', () => reject(new Error('ws: an upgrade without a key was accepted')));
    socket.on('error', () => {});
  });
  assert(refusedUpgrade === 401, 'ws: an upgrade without a key got ' + refusedUpgrade);
  await guard.close();
  closers.push(() => wsServer.server.close());

  // One decision on Redis, when the parent started a redis-server.
  if (process.env.PACK_CHECK_REDIS_URL) {
    const store = modules['@tierlimit/redis'].redisStore({ url: process.env.PACK_CHECK_REDIS_URL, onWarning: () => {} });
    assert(await store.ready(5_000), 'redis: not ready within 5 s');
    const limiter = core.createRateLimiter({ resolveTier: () => 'free', store, onWarning: () => {} });
    const decision = await limiter.check({ ip: '127.0.0.1', headers: { 'x-api-key': 'key-free' } }, { policy: 'api' });
    assert(decision.allowed && decision.limit === 100 && decision.degraded === undefined, 'redis: decision ' + JSON.stringify({ allowed: decision.allowed, limit: decision.limit, degraded: decision.degraded }));
    await limiter.close(); // closes the store, and so the client it made for \`url\`
    // A budget shared through Redis, from the client's Redis entry.
    const ioredis = await load('ioredis');
    const Redis = ioredis.Redis ?? ioredis.default.Redis;
    const redisClient = new Redis(process.env.PACK_CHECK_REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true });
    await redisClient.connect();
    const budget = modules['@tierlimit/client/redis'].redisBudget({ client: redisClient, key: 'pack-check', rate: 10, onWarning: () => {} });
    await budget.take(4);
    const wait = await budget.timeUntilAvailable(10);
    assert(!budget.degraded && wait > 0, 'redis budget: ' + JSON.stringify({ degraded: budget.degraded, wait }));
    redisClient.disconnect();
    console.log('REDIS ok');
  }
${
  kind === 'esm'
    ? `
  // Dual-package hazard: a limiter from the CommonJS build works with the ESM adapters.
  const cjsLimiter = requireCjs('@tierlimit/core').createRateLimiter({ resolveTier: () => 'free', onWarning: () => {} });
  modules['@tierlimit/express'].rateLimit(cjsLimiter);
  assert(core.isRateLimiter(cjsLimiter), 'isRateLimiter does not recognise a limiter of the CommonJS build');
`
    : ''
}
  for (const close of closers) await close();
  console.log('SMOKE ok');
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
`;
}

/**
 * The consumer file type-checked against the published types. Each `@ts-expect-error`
 * also proves the type it tests is not `any` (the directive would be unused).
 */
const CONSUMER_SOURCE = `import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  ConfigurationError,
  createRateLimiter,
  type Decision,
  memoryStore,
  type RateLimiter,
  type RateLimiterOptions,
  type RouteOptions,
} from '@tierlimit/core';
import { prometheusMetrics } from '@tierlimit/core/prometheus';
import { storeSuite, type StoreSuiteCase } from '@tierlimit/core/testing';
import { jsonErrors, rateLimit as expressRateLimit } from '@tierlimit/express';
import { fastifyRateLimit, type FastifyRouteRateLimit } from '@tierlimit/fastify';
import { rateLimit as koaRateLimit, type RateLimitState } from '@tierlimit/koa';
import { recommendedRedisOptions, redisStore, type RedisStoreOptions } from '@tierlimit/redis';
import { type GuardedConnection, webSocketGuard } from '@tierlimit/ws';
import { createClient, createRateLimitedFetch, parseRateLimit, type RateLimitInfo, withRetry } from '@tierlimit/client';
import { redisBudget } from '@tierlimit/client/redis';
import express from 'express';
import { type FastifyContextConfig, fastify } from 'fastify';
import { Redis } from 'ioredis';
import Koa from 'koa';
import { Registry } from 'prom-client';
import { WebSocketServer } from 'ws';

const options: RateLimiterOptions = {
  resolveTier: (apiKey) => (apiKey === 'key-free' ? 'free' : null),
  resolverCacheMs: 30_000,
  store: memoryStore({ maxKeys: 1_000 }),
  storeFaults: { mode: 'closed', timeoutMs: 50 },
  headers: { standard: 'draft-8' },
};
const limiter: RateLimiter = createRateLimiter(options);
// @ts-expect-error a duration is a number of milliseconds
createRateLimiter({ resolverCacheMs: '30s' });
// @ts-expect-error not a fault mode
createRateLimiter({ storeFaults: { mode: 'sometimes' } });
const configurationError: Error = new ConfigurationError('x');

const route: RouteOptions<express.Request> = { policy: 'events', cost: (req) => Number(req.query['n'] ?? 1) };
const app = express();
app.get('/x', expressRateLimit(limiter, route), (req, res) => {
  const decision: Decision | undefined = req.rateLimit;
  // @ts-expect-error remaining is a number
  const wrong: string | undefined = req.rateLimit?.remaining;
  res.json({ remaining: decision?.remaining, wrong });
});
app.use(jsonErrors());

const koa = new Koa<RateLimitState>();
koa.use(koaRateLimit(limiter, { cost: (ctx) => Number(ctx.get('x-cost')) }));
koa.use((ctx) => {
  const decision: Decision | undefined = ctx.state.rateLimit;
  ctx.body = { remaining: decision?.remaining };
});

const server = fastify();
void server.register(fastifyRateLimit, { limiter, jsonErrors: true, route: { policy: 'api' } });
void server.register(fastifyRateLimit, { resolveTier: () => 'free', global: false });
server.get('/health', { config: { rateLimit: false } }, async () => 'ok');
server.post('/batch', { config: { rateLimit: { policy: 'events', cost: () => 2, hook: 'preHandler' } } }, async (request) => {
  const decision: Decision | null = request.rateLimit;
  return decision?.remaining;
});
// @ts-expect-error a cost is a number or a function
server.get('/bad', { config: { rateLimit: { cost: 'x' } } }, async () => 'no');
// @ts-expect-error config.rateLimit is route options or false
const badConfig: FastifyContextConfig = { rateLimit: true };
const fastifyRoute: FastifyRouteRateLimit = false;

const redisOptions: RedisStoreOptions = { client: new Redis({ ...recommendedRedisOptions(), lazyConnect: true }) };
const store = redisStore(redisOptions);
// @ts-expect-error prefix is a string
redisStore({ url: 'redis://127.0.0.1:6379', prefix: 1 });

declare const upgrade: { req: IncomingMessage; socket: Duplex; head: Buffer };
const guard = webSocketGuard({ limiter, maxPayload: 65_536, messages: { limit: 10, windowMs: 1_000 } });
const wss = new WebSocketServer({ noServer: true, ...guard.serverOptions });
guard.handleUpgrade(wss, upgrade.req, upgrade.socket, upgrade.head, (conn: GuardedConnection) => {
  const subscribed: boolean = conn.subscribe('news');
  conn.send(String(subscribed));
});
// @ts-expect-error messages is { limit, windowMs, burst } or false
webSocketGuard({ limiter, messages: 10 });

prometheusMetrics(limiter, { registry: new Registry(), prefix: 'app_' }).close();

const storeCases: StoreSuiteCase[] = storeSuite({ name: 'memory', create: ({ now }) => memoryStore({ now }), keyCount: (s) => s.size });
// @ts-expect-error create takes a clock ({ now }), not a time
storeSuite({ name: 'memory', create: (now: number) => memoryStore({ now: () => now }) });

const client = createClient({ baseUrl: 'http://127.0.0.1:3000', apiKey: 'key-free', retries: 3 });
const tracked: Promise<{ readonly id: string }> = client.track({ name: 'signup' });
const response: Promise<Response> = withRetry(({ signal }) => fetch('http://127.0.0.1:3000', { signal }));
const info: RateLimitInfo | undefined = parseRateLimit(new Headers());
// @ts-expect-error retries is a number of attempts
createClient({ baseUrl: 'http://127.0.0.1:3000', apiKey: 'k', retries: 'many' });
const budget = redisBudget({ client: new Redis({ lazyConnect: true }), key: 'customerio:track:workspace-1', rate: 100, perMs: 1_000, burst: 100 });
const cioFetch = createRateLimitedFetch({ budget, concurrency: 10, retry: { maxRetries: 4 } });
const identified: Promise<Response> = cioFetch('https://track.customer.io/api/v1/customers/42', { method: 'PUT', weight: 1 });
// @ts-expect-error a weight is a number of units
cioFetch('https://track.customer.io/api/v2/batch', { weight: 'heavy' });

export { badConfig, configurationError, fastifyRoute, identified, info, response, store, storeCases, tracked };
`;

/** A browser project: DOM types, no Node types, only the client. */
const BROWSER_SOURCE = `import { createClient, createRateLimitedFetch, localBudget, parseRateLimit, withRetry } from '@tierlimit/client';

const client = createClient({ baseUrl: 'https://api.example.com', apiKey: 'key' });
const info = parseRateLimit(new Headers());
const response: Promise<Response> = withRetry(({ signal }) => fetch('https://api.example.com', { signal }));
const limited: Promise<Response> = createRateLimitedFetch({ budget: localBudget({ rate: 10 }) })('https://api.example.com');
export { client, info, limited, response };
`;

const STRICT = {
  target: 'ES2022',
  lib: ['ES2023'],
  types: ['node'],
  strict: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  noImplicitOverride: true,
  noEmit: true,
  skipLibCheck: false,
  esModuleInterop: true,
  forceConsistentCasingInFileNames: true,
};

const TYPE_PROJECTS = [
  {
    name: 'node16',
    files: { 'node16.mts': CONSUMER_SOURCE, 'node16.cts': CONSUMER_SOURCE },
    options: { module: 'node16', moduleResolution: 'node16', isolatedModules: true },
  },
  {
    name: 'bundler',
    files: { 'bundler.ts': CONSUMER_SOURCE },
    options: { module: 'esnext', moduleResolution: 'bundler', verbatimModuleSyntax: true },
  },
  {
    name: 'node10',
    files: { 'node10.ts': CONSUMER_SOURCE },
    options: { module: 'commonjs', moduleResolution: 'node10' },
  },
  {
    name: 'browser (client only)',
    files: { 'browser.ts': BROWSER_SOURCE },
    options: {
      module: 'esnext',
      moduleResolution: 'bundler',
      verbatimModuleSyntax: true,
      lib: ['ES2023', 'DOM', 'DOM.Iterable'],
      types: [],
    },
    only: 'current',
  },
];

/**
 * Type-checks one consumer project. Errors in our declarations or in the consumer file
 * fail; errors inside other packages' declarations (skipLibCheck is off, so a broken
 * @types package shows) are printed as a note, since no change of ours can fix them.
 */
async function typeCheck(name, dir, config) {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = await run(process.execPath, [tsc, '-p', config, '--pretty', 'false'], {
    cwd: dir,
    timeoutMs: 180_000,
  });
  const errors = result.output.split('\n').filter((line) => /error TS\d+:/.test(line));
  const theirs = errors.filter((line) => /^node_modules\/(?!@tierlimit\/)/.test(line));
  const ok = result.code === 0 || (result.code !== null && errors.length > 0 && theirs.length === errors.length);
  record(name, ok, result.output, result.ms);
  if (ok && theirs.length > 0)
    console.log(`    note: errors in third-party declarations only (not ours):\n${tail(theirs.join('\n'), 10)}`);
}

// ---------------------------------------------------------------------------------------
// Redis

async function startRedis() {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) return undefined;
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    const up = await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) return { child, url: `redis://127.0.0.1:${port}` };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGKILL');
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Main

function cleanup() {
  for (const child of children) kill(child);
  if (redis) redis.child.kill('SIGKILL');
  if (workDir && !keep) rmSync(workDir, { recursive: true, force: true });
}

async function main() {
  const packages = readdirSync(join(root, 'packages'))
    .map((dir) => ({ dir: join(root, 'packages', dir) }))
    .filter(({ dir }) => existsSync(join(dir, 'package.json')))
    .map(({ dir }) => ({ dir, manifest: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
    .filter(({ manifest }) => !manifest.private);
  const versions = new Map(packages.map(({ manifest }) => [manifest.name, manifest.version]));

  const missingDist = packages.filter(({ dir }) => !existsSync(join(dir, 'dist')));
  if (missingDist.length > 0) {
    record(
      'dist built',
      false,
      `no dist/ in ${missingDist.map(({ dir }) => dir).join(', ')}: run \`npm run build\` first`,
    );
    return;
  }

  workDir = mkdtempSync(join(tmpdir(), 'tierlimit-pack-check-'));
  const tarballDir = join(workDir, 'tarballs');
  mkdirSync(tarballDir);
  console.log(`pack-check: ${packages.length} packages, working in ${workDir}`);

  // 1. Pack with the pinned pnpm, which rewrites workspace:^ as publishing does.
  const packed = await check(
    'pnpm pack',
    process.execPath,
    [join(root, 'scripts', 'pnpm.mjs'), '-r', '--filter', './packages/**', 'pack', '--pack-destination', tarballDir],
    { timeoutMs: 240_000 },
  );
  if (!packed.ok) return;
  const tarballs = new Map();
  for (const { manifest } of packages) {
    const file = join(tarballDir, `${manifest.name.replace(/^@/, '').replace('/', '-')}-${manifest.version}.tgz`);
    if (existsSync(file)) tarballs.set(manifest.name, file);
    else record(`${manifest.name}: tarball`, false, `pnpm pack made no ${file}`);
  }

  // 2. Tarball contents (synchronous, fast), then publint and attw in parallel with the installs.
  for (const [name, file] of tarballs) {
    let problems;
    try {
      problems = inspectTarball(file, versions);
    } catch (error) {
      problems = [`could not read the tarball: ${error.stack}`];
    }
    record(`${name}: tarball contents and manifest`, problems.length === 0, problems.join('\n'));
  }
  const lint = pool(
    2,
    [...tarballs].flatMap(([name, file]) => [
      () => check(`${name}: publint --strict`, bin('publint'), ['run', file, '--strict']),
      async () => {
        const result = await run(bin('attw'), [file, '--format', 'json']);
        let detail = result.output;
        let ok = result.code === 0;
        try {
          const report = JSON.parse(result.output.slice(result.output.indexOf('{')));
          if (report.analysis?.types === false) {
            ok = false;
            detail = 'attw found no types at all';
          } else if (!ok) {
            detail = Object.values(report.problems ?? {})
              .flat()
              .map((p) => `${p.kind}: ${p.entrypoint} under ${p.resolutionKind}`)
              .join('\n');
          }
        } catch {
          ok = false;
        }
        record(`${name}: are the types wrong (attw)`, ok, detail, result.ms);
      },
    ]),
  );

  // 3. Consumer projects, one per end of the peer ranges.
  const peers = {};
  for (const { manifest } of packages) {
    for (const [name, range] of Object.entries(manifest.peerDependencies ?? {})) {
      if (name.startsWith('@types/')) continue;
      if (peers[name] !== undefined && peers[name] !== range)
        record(`peer ranges agree on ${name}`, false, `${peers[name]} vs ${range} (${manifest.name})`);
      peers[name] = range;
      const types = TYPES_FOR[name];
      const typesRange = manifest.peerDependencies[types];
      if (types && typesRange === undefined)
        record(
          `${manifest.name}: peer ${types}`,
          false,
          `${name} has no types of its own; declare ${types} as an optional peer`,
        );
      if (types && typesRange) peers[types] = typesRange;
    }
  }
  const cache = join(tmpdir(), 'tierlimit-pack-check-npm-cache');
  const ends = ['current', 'previous'];
  const installs = ends.map(async (end) => {
    const dir = join(workDir, end);
    mkdirSync(dir);
    const manifest = projectManifest(tarballs, peers, end);
    writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    const npm = isWindows ? 'npm.cmd' : 'npm';
    const installed = await check(
      `${end}: npm install (${Object.entries(manifest.dependencies)
        .filter(([name]) => !tarballs.has(name))
        .map(([name, range]) => `${name}@${range}`)
        .join(', ')})`,
      npm,
      ['install', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error', '--cache', cache],
      { cwd: dir, timeoutMs: 420_000, env: { npm_config_update_notifier: 'false' } },
    );
    return { end, dir, ok: installed.ok };
  });
  const [projects] = await Promise.all([Promise.all(installs), lint]);
  redis = await startRedis();
  if (!redis) {
    const message = 'redis-server is not on PATH or did not start (apt-get install redis-server)';
    if (process.env.CI) record('redis-server for the Redis round trip', false, `${message}; CI must run it`);
    else console.log(`- Redis round trip skipped: ${message}`);
  }

  const tasks = [];
  for (const { end, dir, ok } of projects) {
    if (!ok) continue;
    const versionsIn = Object.keys(peers)
      .map((name) => {
        const file = join(dir, 'node_modules', name, 'package.json');
        return existsSync(file) ? `${name}@${JSON.parse(readFileSync(file, 'utf8')).version}` : `${name} missing`;
      })
      .join(', ');
    console.log(`  ${end}: ${versionsIn}`);
    const nested = [...tarballs.keys()].filter((name) =>
      existsSync(join(dir, 'node_modules', name, 'node_modules', '@tierlimit')),
    );
    record(
      `${end}: one copy of each @tierlimit package`,
      nested.length === 0,
      `nested @tierlimit packages under ${nested.join(', ')}: a published range did not match the local tarball`,
    );

    writeFileSync(join(dir, 'smoke.cjs'), smokeSource('cjs'));
    writeFileSync(join(dir, 'smoke.mjs'), smokeSource('esm'));
    const env = redis ? { PACK_CHECK_REDIS_URL: redis.url } : {};
    const smokes = {};
    for (const [kind, file] of [
      ['require()', 'smoke.cjs'],
      ['import', 'smoke.mjs'],
    ]) {
      tasks.push(async () => {
        const result = await check(
          `${end}: ${kind} every entry and serve through each adapter`,
          process.execPath,
          [file],
          {
            cwd: dir,
            timeoutMs: 90_000,
            env,
            expect: (output) => output.includes('SMOKE ok') && (!redis || output.includes('REDIS ok')),
          },
        );
        smokes[kind] = /^EXPORTS (.*)$/m.exec(result.output)?.[1];
        if (smokes['require()'] && smokes.import)
          record(
            `${end}: require() and import give the same named exports`,
            smokes['require()'] === smokes.import,
            `require(): ${smokes['require()']}\nimport:    ${smokes.import}`,
          );
      });
    }
    tasks.push(() =>
      check(
        `${end}: tierlimit-import --help`,
        join(dir, 'node_modules', '.bin', isWindows ? 'tierlimit-import.cmd' : 'tierlimit-import'),
        ['--help'],
        {
          cwd: dir,
          timeoutMs: 30_000,
          expect: (output) => output.includes('Usage: tierlimit-import'),
        },
      ),
    );
    for (const project of TYPE_PROJECTS) {
      if (project.only && project.only !== end) continue;
      const config = `tsconfig.${project.name.split(' ')[0]}.json`;
      for (const [file, source] of Object.entries(project.files)) writeFileSync(join(dir, file), source);
      writeFileSync(
        join(dir, config),
        `${JSON.stringify({ compilerOptions: { ...STRICT, ...project.options }, files: Object.keys(project.files) }, null, 2)}\n`,
      );
      tasks.push(() => typeCheck(`${end}: types under ${project.name}`, dir, config));
    }
  }
  await pool(2, tasks);
}

export { inspectTarball, readTarball };

/** Runs every check and reports; the exit code is 1 if any failed. */
async function cli() {
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      cleanup();
      process.exit(130);
    });
  }
  try {
    await main();
  } catch (error) {
    record('pack-check itself', false, error.stack);
  } finally {
    cleanup();
  }

  const failed = results.filter((result) => !result.ok && !result.skipped);
  const seconds = ((Date.now() - started) / 1_000).toFixed(1);
  if (Date.now() > deadline) console.error('\npack-check: stopped at its deadline (PACK_CHECK_TIMEOUT_S)');
  if (failed.length === 0) {
    console.log(`\npack-check: all ${results.length} checks passed in ${seconds} s`);
  } else {
    console.error(`\npack-check: ${failed.length} of ${results.length} checks FAILED (${seconds} s):`);
    for (const { name, detail } of failed) console.error(`\n✗ ${name}\n${tail(detail)}`);
    if (!keep) console.error('\n(run `node scripts/pack-check.mjs --keep` to keep the temporary projects)');
    process.exitCode = 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await cli();
