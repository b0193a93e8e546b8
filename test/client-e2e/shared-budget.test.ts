/**
 * The acceptance test of issue 16: three worker processes import 3,000 calls into a fake
 * of an API limited to 100 calls a second per workspace (a sliding window, 429 with
 * Retry-After beyond it), once sharing one redisBudget of 100 a second (burst 100), and
 * once each pacing alone at 100 a second, for comparison.
 *
 * Shared, every call must arrive exactly once, at most 1% of the requests may get a 429,
 * and the import may take at most 1/0.85 of the ideal 30 s. Both runs print their figures
 * (calls, 429s, seconds). Run alone with:
 *
 *   npx jest test/client-e2e/shared-budget
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { describeWithRedis, RedisServer } from '../support/redis-server';
import { FakeTrackApi } from './support/fake-track-api';

const root = join(__dirname, '..', '..');
const WORKERS = 3;
const CALLS = 3_000;
const RATE = 100;
const IDEAL_SECONDS = CALLS / RATE;

interface WorkerResult {
  readonly delivered: number;
  readonly failed: Array<{ id: string; why: string }>;
  readonly seconds: number;
}

interface Worker {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly result: Promise<WorkerResult>;
}

function startWorker(env: Record<string, string>): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/client-e2e/fixtures/import-worker.ts'], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  let errors = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    errors += chunk.toString();
  });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`a worker exited with ${code}: ${output}${errors}`))),
  );
  exited.catch(() => {});
  const seen = (pattern: RegExp) =>
    Promise.race([
      new Promise<RegExpExecArray>((resolve) => {
        const look = () => {
          const match = pattern.exec(output);
          if (match) {
            child.stdout?.off('data', onData);
            resolve(match);
          }
        };
        const onData = (chunk: Buffer) => {
          output += chunk.toString();
          look();
        };
        child.stdout?.on('data', onData);
        look();
      }),
      exited,
    ]);
  return {
    child,
    ready: seen(/^ready$/m).then(() => undefined),
    result: seen(/^result (.*)$/m).then((match) => JSON.parse(match[1] as string) as WorkerResult),
  };
}

interface Figures {
  readonly calls: number;
  readonly duplicates: number;
  readonly requests: number;
  readonly rateLimited: number;
  readonly seconds: number;
  readonly failed: number;
}

async function runImport(api: FakeTrackApi, mode: 'shared' | 'alone', redis: RedisServer): Promise<Figures> {
  const workspace = `workspace-${mode}`;
  const perWorker = CALLS / WORKERS;
  const workers = Array.from({ length: WORKERS }, (_, i) =>
    startWorker({
      MODE: mode,
      API_URL: api.url,
      REDIS_URL: redis.url,
      BUDGET_KEY: `customerio:track:${workspace}`,
      SITE_ID: workspace,
      FROM: String(i * perWorker),
      COUNT: String(perWorker),
    }),
  );
  try {
    await Promise.all(workers.map((worker) => worker.ready));
    api.reset();
    const started = performance.now();
    for (const worker of workers) worker.child.stdin?.write('go\n');
    const results = await Promise.all(workers.map((worker) => worker.result));
    const seconds = (performance.now() - started) / 1_000;
    const { calls, duplicates } = api.acceptedFor(workspace);
    return {
      calls,
      duplicates,
      requests: [...api.statuses.values()].reduce((sum, n) => sum + n, 0),
      rateLimited: api.count(429),
      seconds,
      failed: results.reduce((sum, result) => sum + result.failed.length, 0),
    };
  } finally {
    for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
  }
}

function describeFigures(label: string, figures: Figures): string {
  return `${label}: ${figures.calls} of ${CALLS} calls arrived (${figures.duplicates} more than once, ${figures.failed} failed), ${figures.rateLimited} 429s of ${figures.requests} requests (${((100 * figures.rateLimited) / figures.requests).toFixed(1)}%), ${figures.seconds.toFixed(1)} s (ideal ${IDEAL_SECONDS} s: ${(IDEAL_SECONDS / figures.seconds).toFixed(2)})`;
}

describeWithRedis('three workers import 3,000 calls into an API limited to 100 a second', () => {
  let redis: RedisServer;
  let api: FakeTrackApi;

  beforeAll(async () => {
    redis = await RedisServer.start();
    api = await FakeTrackApi.start({ limit: RATE, windowMs: 1_000 });
  });

  afterAll(async () => {
    await api?.close();
    await redis?.stop();
  });

  test('sharing one redisBudget: every call once, at most 1% 429s, within 1/0.85 of the ideal time; alone, for comparison', async () => {
    const shared = await runImport(api, 'shared', redis);
    const alone = await runImport(api, 'alone', redis);
    console.log(`${describeFigures('shared redisBudget', shared)}\n${describeFigures('each worker alone ', alone)}`);

    expect(shared.calls).toBe(CALLS);
    expect(shared.duplicates).toBe(0);
    expect(shared.failed).toBe(0);
    expect(shared.rateLimited / shared.requests).toBeLessThanOrEqual(0.01);
    expect(shared.seconds).toBeLessThanOrEqual(IDEAL_SECONDS / 0.85);
  }, 240_000);
});
