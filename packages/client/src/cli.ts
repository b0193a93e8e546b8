#!/usr/bin/env node
/**
 * Entry of the `tierlimit-import` command (built to dist/cli.js). Node only; all logic is
 * in cli-main.ts so tests can drive it without a process.
 */
import { main } from './cli-main.js';

const EXIT_INTERNAL = 70;
let finished = false;

// Node exits with status 0 when nothing is left to wait for, even with a promise still
// pending: a stalled import would then look like a success. Never let it.
process.on('exit', () => {
  if (finished) return;
  process.stderr.write('\ntierlimit-import: internal error: the import stalled before finishing.\n');
  process.exitCode = EXIT_INTERNAL;
});

main(process.argv.slice(2), process.env, { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin }).then(
  (code) => {
    finished = true;
    process.exitCode = code;
  },
  (error: unknown) => {
    finished = true;
    process.stderr.write(
      `tierlimit-import: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = EXIT_INTERNAL;
  },
);
