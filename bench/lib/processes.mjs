/**
 * Every process the runner starts is registered here and ended on exit, on failure and on
 * Ctrl-C (SIGINT/SIGTERM): the benchmark must never leave a server or a redis-server behind.
 */
import { spawn } from 'node:child_process';

const live = new Set();
let hooked = false;

function killAll() {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  live.clear();
}

function hook() {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      console.error(`\nbench: ${signal}, stopping every process it started.`);
      killAll();
      process.exit(130);
    });
  }
}

/** Spawns a process that is killed when the runner ends, whatever the reason. */
export function track(command, args, options) {
  hook();
  const child = spawn(command, args, options);
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Ends one tracked process and waits for it (SIGKILL after `graceMs` if it does not go). */
export function stop(child, { signal = 'SIGTERM', graceMs = 3_000 } = {}) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}
