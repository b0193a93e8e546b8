#!/usr/bin/env node
// Runs the pnpm version pinned in package.json's `packageManager` field, the one place
// the version is written. corepack cannot fetch pnpm on our CI machines (its signature
// check fails), so we go through `npx -y pnpm@<version>` unless that exact version is
// already on PATH.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export function pinnedPnpm() {
  const { packageManager } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const match = /^pnpm@(\d+\.\d+\.\d+)$/.exec(packageManager ?? '');
  if (!match)
    throw new Error(
      `Expected package.json "packageManager" to be "pnpm@x.y.z", got ${JSON.stringify(packageManager)}.`,
    );
  return match[1];
}

export function runPnpm(args, options = {}) {
  const version = pinnedPnpm();
  const local = spawnSync('pnpm', ['--version'], { encoding: 'utf8', shell: process.platform === 'win32' });
  const [command, prefix] =
    local.status === 0 && local.stdout.trim() === version ? ['pnpm', []] : ['npx', ['-y', `pnpm@${version}`]];
  const result = spawnSync(command, [...prefix, ...args], {
    cwd: root,
    stdio: 'inherit',
    shell: process.platform === 'win32',
    ...options,
  });
  return result.status ?? 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exit(runPnpm(process.argv.slice(2)));
}
