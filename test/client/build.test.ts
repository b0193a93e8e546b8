/**
 * The built client package beyond what test/build checks for every package (ESM and CJS
 * load alike): the browser entry's output has no `node:` import, and the
 * `tierlimit-import` bin is an executable Node script.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const dir = join(__dirname, '..', '..', 'packages', 'client');
const dist = join(dir, 'dist');

test('dist exists', () => {
  for (const file of ['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts', 'cli.js']) {
    expect(existsSync(join(dist, file))).toBe(true);
  }
});

test('the ESM entry and every chunk it imports are free of node: imports', () => {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const code = readFileSync(join(dist, file), 'utf8');
    expect(code).not.toMatch(/from\s*["']node:|import\(\s*["']node:|require\(\s*["']node:/);
    for (const match of code.matchAll(/from\s*["']\.\/([^"']+)["']/g)) visit(match[1] as string);
  };
  visit('index.js');
  const cjs = readFileSync(join(dist, 'index.cjs'), 'utf8');
  expect(cjs).not.toMatch(/require\(\s*["']node:/);
});

test('the bin is an executable node script that prints its usage', () => {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  const bin = join(dir, pkg.bin['tierlimit-import'] as string);
  expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  expect(statSync(bin).mode & 0o111).not.toBe(0);
  expect(execFileSync(process.execPath, [bin, '--help'], { encoding: 'utf8' })).toContain('Usage: tierlimit-import');
});
