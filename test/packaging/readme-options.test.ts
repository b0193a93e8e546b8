/**
 * Every public option is documented in the README of each package that takes it (issue 8:
 * "every option with its default and unit" findable in each package README). The option
 * names are read from the exported interfaces in packages/<name>/src, so an option added
 * to the code without a README row fails here. Defaults and units are reviewed by hand.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');

/** The top-level field names of `export interface <name>` in a package's sources. */
function fieldsOf(pkg: string, name: string): string[] {
  const dir = join(root, 'packages', pkg, 'src');
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  for (const file of files) {
    const source = readFileSync(join(dir, file), 'utf8');
    const start = source.search(new RegExp(`^export interface ${name}(<[^>]*>)?( extends [^{]+)? \\{`, 'm'));
    if (start === -1) continue;
    const end = source.indexOf('\n}', start);
    const body = source.slice(start, end);
    return [...body.matchAll(/^ {2}readonly (\w+)\??:/gm)].map((match) => match[1] as string);
  }
  throw new Error(`export interface ${name} not found in packages/${pkg}/src`);
}

function readme(pkg: string): string {
  return readFileSync(join(root, 'packages', pkg, 'README.md'), 'utf8');
}

/** Fields not written in code as `` `<prefix><field> `` followed by a backtick, a dot or a parenthesis. */
function undocumented(text: string, fields: string[], prefix = ''): string[] {
  const escaped = prefix.replaceAll('.', '\\.');
  return fields.filter((field) => !new RegExp(`\`${escaped}${field}[\`.(]`).test(text));
}

// [README of, interface in, interface, prefix of its rows]
const cases: Array<[string, string, string, string]> = [
  ...['core', 'express', 'koa', 'fastify'].flatMap(
    (pkg): Array<[string, string, string, string]> => [
      [pkg, 'core', 'RateLimiterOptions', ''],
      [pkg, 'core', 'RouteOptions', ''],
      [pkg, 'core', 'StoreFaultOptions', 'storeFaults.'],
      [pkg, 'core', 'PolicyLimits', ''],
      [pkg, 'core', 'CalendarQuota', ''],
      [pkg, 'core', 'ConcurrencyLimit', ''],
    ],
  ),
  ['core', 'core', 'MemoryStoreOptions', ''],
  ['core', 'core', 'PrometheusOptions', ''],
  ['core', 'core', 'WatchTiersOptions', ''],
  ['redis', 'redis', 'RedisStoreOptions', ''],
  ['ws', 'ws', 'WebSocketGuardOptions', ''],
  ['ws', 'ws', 'ConnectionOptions', 'connections.'],
  ['client', 'client', 'ClientOptions', ''],
  ['client', 'client', 'RetryOptions', ''],
  ['client', 'client', 'BulkImportOptions', ''],
  ['client', 'client', 'QueueOptions', ''],
  ['client', 'client', 'PacerOptions', ''],
  ['client', 'client', 'TokenBucketOptions', ''],
  ['client', 'client', 'ClientEndpoints', 'endpoints.'],
  ['client', 'client', 'RateLimitedFetchOptions', ''],
  ['client', 'client', 'RateLimitedFetchRetryOptions', 'retry.'],
  ['client', 'client', 'RateLimitedRequestInit', ''],
  ['client', 'client', 'LocalBudgetOptions', ''],
  ['client', 'client', 'RedisBudgetOptions', ''],
];

test.each(cases)('packages/%s/README.md documents every field of packages/%s %s', (pkg, source, iface, prefix) => {
  const fields = fieldsOf(source, iface);
  expect(fields.length).toBeGreaterThan(0);
  expect(undocumented(readme(pkg), fields, prefix)).toEqual([]);
});

test('the Fastify README documents the plugin options', () => {
  expect(undocumented(readme('fastify'), ['global', 'route', 'jsonErrors', 'notFound', 'limiter', 'hook'])).toEqual([]);
});
