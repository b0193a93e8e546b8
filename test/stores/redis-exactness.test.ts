/**
 * Exact across instances on a busy machine (issue 13): eight app processes on one
 * redis-server, each sent 200 concurrent requests for one key whose limit is 100, with a
 * 100 ms store timeout. Once, replies that had already arrived were declared timed out
 * because the event loop was late, and the local fallback admitted those requests too
 * (112 to 161 admitted in 9 of 10 runs). Runs bench/exactness/run.mjs, the script of the
 * benchmark's 10-run measurement, with `storeFaults.instances` set to the eight instances.
 *
 * Without a fault nothing may be over-admitted: a run in which no answer was degraded must
 * admit exactly 100. A run with degraded answers met a real slow-store moment (Redis, on a
 * 2-core machine shared with eight app processes, a load generator and other test files,
 * sometimes runs a batch over 100 ms after it was written): it may admit no more than the
 * documented share, 100 + 8 x 12 (each instance charges every request 8 times locally).
 * At least three runs must be fault-free, or the test proves nothing.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describeWithRedis } from '../support/redis-server';

const root = join(__dirname, '..', '..');
const LIMIT = 100;
const INSTANCES = 8;
const CONCURRENCY = 200;

interface Run {
  readonly admitted: number;
  readonly limited: number;
  readonly unavailable: number;
  readonly other: number;
  readonly degraded: number;
}

describeWithRedis('exactness across instances', () => {
  test('8 instances x 200 concurrent requests for one key (limit 100, 100 ms timeout): exactly 100 without a fault', () => {
    const result = spawnSync(
      process.execPath,
      [
        'bench/exactness/run.mjs',
        ...['--instances', String(INSTANCES), '--concurrency', String(CONCURRENCY), '--limit', String(LIMIT)],
        ...['--runs', '6', '--timeout', '100', '--share', String(INSTANCES), '--json'],
      ],
      { cwd: root, encoding: 'utf8', timeout: 240_000 },
    );
    const last = result.stdout.trim().split('\n').pop() ?? '';
    let runs: Run[];
    try {
      runs = (JSON.parse(last) as { runs: Run[] }).runs;
    } catch {
      throw new Error(`the exactness run printed no summary:\n${result.stdout}\n${result.stderr}`);
    }
    const share = Math.floor(LIMIT / INSTANCES);
    for (const run of runs) {
      expect(run.admitted + run.limited + run.unavailable).toBe(INSTANCES * CONCURRENCY);
      expect(run.other).toBe(0);
      if (run.degraded === 0)
        expect(run).toEqual({ admitted: LIMIT, limited: 1_500, unavailable: 0, other: 0, degraded: 0 });
      else expect(run.admitted).toBeLessThanOrEqual(LIMIT + INSTANCES * share);
    }
    expect(runs.filter((run) => run.degraded === 0).length).toBeGreaterThanOrEqual(3);
  }, 300_000);
});
