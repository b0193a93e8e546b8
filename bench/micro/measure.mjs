/** Helpers of the microbenchmarks: heap after GC, event-loop gaps, a timed loop. */
import { performance } from 'node:perf_hooks';

/** Heap used plus external memory (typed arrays live outside the JS heap) after full GCs, in bytes. */
export function heapAfterGc() {
  if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');
  for (let i = 0; i < 4; i++) globalThis.gc();
  const { heapUsed, external } = process.memoryUsage();
  return { heapUsed, external, total: heapUsed + external };
}

/**
 * Runs a 1 ms interval for `ms` milliseconds (or until `done()` returns true) and returns
 * the longest gap between two of its ticks (the longest the event loop was blocked, plus
 * about 1 ms), the 99th percentile, and how long it watched.
 */
export function eventLoopGaps(ms, done = () => false) {
  return new Promise((resolve) => {
    const gaps = [];
    const start = performance.now();
    let last = start;
    const tick = setInterval(() => {
      const now = performance.now();
      gaps.push(now - last);
      last = now;
      if (now - start >= ms || done()) {
        clearInterval(tick);
        gaps.sort((a, b) => a - b);
        resolve({
          maxGapMs: gaps[gaps.length - 1],
          p99GapMs: gaps[Math.floor(gaps.length * 0.99)],
          ticks: gaps.length,
          watchedMs: now - start,
        });
      }
    }, 1);
  });
}

/** Calls `body` in a tight loop for about `ms` milliseconds; returns calls per second. */
export function rateOver(ms, body) {
  let calls = 0;
  const start = performance.now();
  const end = start + ms;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 1024; i++) body();
    calls += 1024;
    now = performance.now();
  }
  return (calls * 1000) / (now - start);
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Sends the result to the runner (IPC), or prints it when run by hand. */
export function report(result) {
  if (process.send) process.send(result);
  else console.log(JSON.stringify(result, null, 2));
}
