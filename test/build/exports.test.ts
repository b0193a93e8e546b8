/**
 * The built packages load both ways a user loads them: `require()` from CommonJS and
 * `import` from ESM, each through the package's `exports` map (run in a child Node
 * process, outside jest's module system, so it is Node's resolution that is tested).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const packages = {
  core: ['createRateLimiter', 'memoryStore', 'defaultTiers', 'batchSize', 'RequestError', 'errorResponse', 'settle'],
  'core/testing': ['storeSuite', 'registerStoreSuite', 'ManualClock', 'StoreSuiteAssertionError'],
  express: ['rateLimit', 'jsonErrors', 'createRateLimiter'],
  koa: ['rateLimit', 'jsonErrors', 'createRateLimiter'],
  fastify: ['fastifyRateLimit', 'createRateLimiter'],
  redis: ['redisStore', 'recommendedRedisOptions', 'createRedisClient', 'RedisStore'],
  ws: ['webSocketGuard', 'WebSocketGuard', 'GuardedConnection', 'CloseCode', 'refuseUpgrade'],
  client: [
    'createClient',
    'createRateLimitedFetch',
    'localBudget',
    'withRetry',
    'parseRateLimit',
    'createQueue',
    'createTokenBucket',
    'createPacer',
  ],
  'client/redis': ['redisBudget', 'BudgetTimeoutError'],
} as const;

function run(script: string, type: 'commonjs' | 'module', cwd: string): string {
  return execFileSync(process.execPath, [`--input-type=${type}`, '-e', script], { cwd, encoding: 'utf8' });
}

describe.each(Object.entries(packages))('@tierlimit/%s build', (name, exportsExpected) => {
  // An entry is a package (`core`) or a subpath of one (`client/redis`, built as dist/redis.*).
  const [pkg, subpath] = name.split('/') as [string, string | undefined];
  const dir = join(root, 'packages', pkg);

  test('dist exists (the test command builds before running jest)', () => {
    for (const extension of ['js', 'cjs', 'd.ts', 'd.cts']) {
      expect(existsSync(join(dir, 'dist', `${subpath ?? 'index'}.${extension}`))).toBe(true);
    }
  });

  test('require() and import give the same named exports', () => {
    const list = JSON.stringify(exportsExpected);
    const check = (load: string) =>
      `${load}; const missing = ${list}.filter((n) => m[n] === undefined); if (missing.length) { throw new Error('missing ' + missing); } console.log(Object.keys(m).sort().join(','));`;
    const fromRequire = run(check(`const m = require('@tierlimit/${name}')`), 'commonjs', dir);
    const fromImport = run(check(`const m = await import('@tierlimit/${name}')`), 'module', dir);
    expect(fromImport).toBe(fromRequire);
  });
});
