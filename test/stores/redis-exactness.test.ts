/**
 * Exact across instances on a busy machine (issue 13): eight app processes on one
 * redis-server, each sent 200 concurrent requests for one key whose limit is 100, with a
 * 100 ms store timeout. Once, replies that had already arrived were declared timed out
 * because the event loop was late, and the local fallback admitted those requests too
 * (112 to 161 admitted in 9 of 10 runs). Without a fault nothing may be over-admitted:
 * exactly 100 in every run, none answered degraded. Runs bench/exactness/run.mjs, the
 * same script as the benchmark's full 10-run measurement.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describeWithRedis } from '../support/redis-server';

const root = join(__dirname, '..', '..');

interface Run {
  readonly admitted: number;
  readonly limited: number;
  readonly unavailable: number;
  readonly other: number;
  readonly degraded: number;
}

describeWithRedis('exactness across instances', () => {
  test('8 instances x 200 concurrent requests for one key (limit 100, 100 ms timeout): exactly 100, in each of 3 runs', () => {
    const result = spawnSync(
      process.execPath,
      [
        'bench/exactness/run.mjs',
        '--instances',
        '8',
        '--concurrency',
        '200',
        '--limit',
        '100',
        '--runs',
        '3',
        '--timeout',
        '100',
        '--json',
      ],
      { cwd: root, encoding: 'utf8', timeout: 150_000 },
    );
    const last = result.stdout.trim().split('\n').pop() ?? '';
    let summary: { runs: Run[] };
    try {
      summary = JSON.parse(last) as { runs: Run[] };
    } catch {
      throw new Error(`the exactness run printed no summary:\n${result.stdout}\n${result.stderr}`);
    }
    expect(summary.runs).toEqual(
      Array.from({ length: 3 }, () => ({ admitted: 100, limited: 1_500, unavailable: 0, other: 0, degraded: 0 })),
    );
  }, 180_000);
});
