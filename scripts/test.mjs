#!/usr/bin/env node
// The whole test suite, as the README's test command runs it: type-check, lint, no import
// cycles (dpdm), build the packages (the build is under test too), check the packed
// tarballs as users install them (scripts/pack-check.mjs), then every jest suite. Every step runs even if an earlier one
// failed, so one run shows every problem; the exit code is non-zero if any step failed.
// Extra arguments go to jest.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);

const steps = [
  ['typecheck', bin('tsc'), ['-p', 'tsconfig.json', '--noEmit']],
  ['lint', bin('biome'), ['check', '.']],
  // No import cycles in any package, type-only imports included.
  ['import-cycles', bin('dpdm'), ['--no-warning', '--no-tree', '--exit-code', 'circular:1', 'packages/*/src/**/*.ts']],
  ['build', process.execPath, [join(root, 'scripts', 'pnpm.mjs'), '-r', '--filter', './packages/**', 'run', 'build']],
  // The packed tarballs in clean projects: contents, publint, attw, require/import, types.
  ['pack-check', process.execPath, [join(root, 'scripts', 'pack-check.mjs')]],
  ['jest', bin('jest'), process.argv.slice(2)],
];

const failed = [];
for (const [name, command, args] of steps) {
  console.log(`\n> ${name}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) failed.push(name);
}
if (failed.length > 0) {
  console.error(`\nfailed steps: ${failed.join(', ')}`);
  process.exit(1);
}
