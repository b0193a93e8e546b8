/**
 * The option tables the adapter READMEs repeat are copies of the core README's, made by
 * scripts/sync-readmes.mjs (issue 14: adding a core option touches its type, its resolver
 * and the core README, nothing else by hand). This fails while a copy is out of date.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');

test('every shared README part matches the core README (npm run docs:sync)', () => {
  expect(() =>
    execFileSync(process.execPath, [join(root, 'scripts', 'sync-readmes.mjs'), '--check'], { stdio: 'pipe' }),
  ).not.toThrow();
});

test('the adapters share the limiter options and the limit shapes', () => {
  for (const pkg of ['express', 'koa', 'fastify']) {
    const text = readFileSync(join(root, 'packages', pkg, 'README.md'), 'utf8');
    expect(text).toContain('<!-- shared: limiter-options -->\n| option');
    expect(text).toContain('<!-- shared: limits -->\nA limit is one of three shapes');
    // Links to the core README's sections point at it.
    expect(text).not.toMatch(/\]\(#(store-faults|algorithms)\)/);
  }
});
