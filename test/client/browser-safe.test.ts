/**
 * The main entry must run in browsers: nothing reachable from src/index.ts may import a
 * `node:` module (or any package: the client has no runtime dependencies) or touch a
 * Node-only global. Checked two ways: by walking the import graph, and by type-checking
 * the entry with browser globals only (packages/client/tsconfig.browser.json, no
 * @types/node), which fails on any `Buffer`, `process` or Node API in a reachable file.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const root = join(__dirname, '..', '..');
const src = join(root, 'packages', 'client', 'src');

function reachableFrom(entry: string): Map<string, string> {
  const files = new Map<string, string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    const text = readFileSync(file, 'utf8');
    files.set(file, text);
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
      const specifier = match[1] as string;
      if (!specifier.startsWith('.')) throw new Error(`${relative(root, file)} imports '${specifier}'`);
      visit(join(dirname(file), specifier.replace(/\.js$/, '.ts')));
    }
  };
  visit(entry);
  return files;
}

test('the main entry imports only its own relative modules, never the CLI', () => {
  const files = reachableFrom(join(src, 'index.ts'));
  expect(files.size).toBeGreaterThan(10);
  for (const file of files.keys()) expect(relative(src, file)).not.toMatch(/^cli[.-]/);
});

test('no Node-only global is used by code reachable from the main entry', () => {
  for (const [file, text] of reachableFrom(join(src, 'index.ts'))) {
    const code = text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, ''); // comments may name them
    for (const global of ['process.', 'Buffer', 'require(', '__dirname', 'setImmediate', 'global.']) {
      if (code.includes(global)) throw new Error(`${relative(root, file)} uses ${global}`);
    }
  }
});

test('the main entry type-checks with browser globals only', () => {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  expect(() =>
    execFileSync(process.execPath, [tsc, '-p', join(root, 'packages', 'client', 'tsconfig.browser.json')], {
      encoding: 'utf8',
      stdio: 'pipe',
    }),
  ).not.toThrow();
});
