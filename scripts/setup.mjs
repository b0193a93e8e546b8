#!/usr/bin/env node
// Makes a fresh clone runnable: installs the workspace with the pinned pnpm when
// node_modules is missing or older than the manifests and lockfile. A fast no-op
// otherwise, so every root script can start with it.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPnpm } from './pnpm.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stampFile = join(root, 'node_modules', '.setup-stamp');

function manifestDigest() {
  const files = ['package.json', 'pnpm-lock.yaml', 'pnpm-workspace.yaml'];
  for (const group of ['packages', 'examples', 'bench']) {
    const dir = join(root, group);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) files.push(join(group, name, 'package.json'));
  }
  files.push(join('bench', 'package.json'));
  const hash = createHash('sha256');
  for (const file of files) {
    const path = join(root, file);
    if (existsSync(path)) hash.update(file).update(readFileSync(path));
  }
  return hash.digest('hex');
}

if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === manifestDigest()) process.exit(0);

const frozen = process.env.CI && existsSync(join(root, 'pnpm-lock.yaml')) ? ['--frozen-lockfile'] : [];
console.log('tierlimit: installing dependencies with the pinned pnpm...');
const status = runPnpm(['install', ...frozen]);
if (status !== 0) process.exit(status);
writeFileSync(stampFile, manifestDigest());
