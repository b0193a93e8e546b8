/**
 * redisBudget (issue 16) against a private redis-server: one budget for every client with
 * the same key, decided atomically; N units at once and the time until N are there; a
 * pause set by one process holding the others; and Redis failures: killed or paused, the
 * process falls back to its local share within `timeoutMs`, says so, comes back by itself
 * when Redis does, and never leaves a rejection unhandled (checked in a process of its
 * own: jest keeps unhandled rejections from the test's listeners).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { redisBudget } from '@tierlimit/client/redis';
import { Redis } from 'ioredis';
import { describeWithRedis, RedisServer } from '../support/redis-server';

/** A sleep that refuses to wait: a take that would have to wait rejects instead. */
const noWait = () => Promise.reject(new Error('would wait'));

/**
 * A connected client: by default as the README recommends (fail at once while Redis is
 * down, no offline queue); `defaults` keeps every ioredis default (offline queue, 20 retries).
 */
async function connect(server: RedisServer, defaults = false): Promise<Redis> {
  const client = new Redis(
    server.url,
    defaults ? { lazyConnect: true } : { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true },
  );
  client.on('error', () => {});
  await client.connect();
  return client;
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A private redis-server for the enclosing describe (`each`: a fresh one per test, which
 * may kill or pause it) and a factory of clients that are closed with it.
 */
function useRedis(scope: 'all' | 'each') {
  const state: { server?: RedisServer; clients: Redis[] } = { clients: [] };
  (scope === 'all' ? beforeAll : beforeEach)(async () => {
    state.server = await RedisServer.start();
  });
  (scope === 'all' ? afterAll : afterEach)(async () => {
    state.server?.resume();
    for (const made of state.clients.splice(0)) made.disconnect();
    await state.server?.stop();
  });
  return {
    server: () => state.server as RedisServer,
    client: async (defaults = false) => {
      const made = await connect(state.server as RedisServer, defaults);
      state.clients.push(made);
      return made;
    },
  };
}

describeWithRedis('redisBudget on a healthy Redis', () => {
  const { client } = useRedis('all');

  test('is one budget for every client with the key: 4 × 30 concurrent takes, exactly the burst of 50 granted', async () => {
    const budgets = await Promise.all(
      Array.from({ length: 4 }, async () =>
        redisBudget({ client: await client(), key: 'atomic', rate: 1, perMs: 3_600_000, burst: 50, sleep: noWait }),
      ),
    );
    const outcomes = await Promise.allSettled(
      budgets.flatMap((budget) => Array.from({ length: 30 }, () => budget.take())),
    );
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(50);
    expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toHaveLength(70);
  });

  test('takes N units at once and reports how long until N are there, on Redis time', async () => {
    const budget = redisBudget({ client: await client(), key: 'units', rate: 10, perMs: 1_000, burst: 20 });
    await budget.take(15);
    const wait = await budget.timeUntilAvailable(10);
    expect(wait).toBeGreaterThan(400);
    expect(wait).toBeLessThanOrEqual(500);
    const started = Date.now();
    await budget.take(10);
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    await expect(budget.take(21)).rejects.toMatchObject({ code: 'TL_COST_EXCEEDS_BURST' });
  });

  test('keys name the budget only, and both expire', async () => {
    const redis = await client();
    const budget = redisBudget({ client: redis, key: 'customerio:track:workspace-1', rate: 100 });
    await budget.take();
    expect(budget.redisKey).toBe('tl:budget:{customerio:track:workspace-1}');
    expect(await redis.keys('tl:budget:*')).toEqual(
      expect.arrayContaining([budget.redisKey, `${budget.redisKey}:processes`]),
    );
    for (const key of [budget.redisKey, `${budget.redisKey}:processes`])
      expect(await redis.pttl(key)).toBeGreaterThan(0);
  });

  test('a pause set by one process holds every process that shares the key, and lowers the shared pace', async () => {
    const [one, other] = [await client(), await client()];
    const a = redisBudget({ client: one, key: 'paused', rate: 100 });
    const b = redisBudget({ client: other, key: 'paused', rate: 100 });
    await a.pauseUntil(Date.now() + 1_500);
    const wait = await b.timeUntilAvailable(1);
    expect(wait).toBeGreaterThan(1_350);
    expect(wait).toBeLessThanOrEqual(1_520);
    expect(Number(await one.hget(a.redisKey, 'pace'))).toBeCloseTo(0.95, 4);
    const started = Date.now();
    await b.take();
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_300);
  });

  test('an abort ends a wait at once', async () => {
    const budget = redisBudget({ client: await client(), key: 'abort', rate: 1, perMs: 60_000, burst: 1 });
    await budget.take();
    const started = Date.now();
    await expect(budget.take(1, AbortSignal.timeout(100))).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  test('options are checked at construction; a key with braces or no client is refused', async () => {
    const redis = await client();
    expect(() => redisBudget({ client: redis, key: 'a{b}', rate: 1 })).toThrow(/`key`/);
    expect(() => redisBudget({ client: redis, key: '', rate: 1 })).toThrow(/`key`/);
    expect(() => redisBudget({ client: {} as Redis, key: 'k', rate: 1 })).toThrow(/`client`/);
    expect(() => redisBudget({ client: redis, key: 'k', rate: 1, localShare: 2 })).toThrow(/`localShare`/);
    expect(() => redisBudget({ client: redis, key: 'k', rate: 1, shared: true } as never)).toThrow(/Unknown/);
  });
});

describeWithRedis('redisBudget when Redis fails', () => {
  const redis = useRedis('each');
  const { client } = redis;

  test('killed: falls back to its share of the processes last seen, says so, and recovers by itself', async () => {
    const warnings: string[] = [];
    const onWarning = ({ code }: { code: string }) => warnings.push(code);
    const options = { key: 'killed', rate: 20, perMs: 1_000, burst: 20, retryMs: 200, onWarning };
    const a = redisBudget({ client: await client(), ...options });
    const b = redisBudget({ client: await client(), ...options });
    await a.take();
    await b.take();
    await a.take(); // Redis now tells `a` that two processes use the budget

    await redis.server().kill();
    const started = Date.now();
    await a.take(10); // the local share: half of the burst, at once
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(a.degraded).toBe(true);
    expect(a.localShare).toBe(0.5);
    expect(warnings).toEqual(['TL_BUDGET_FALLBACK']);
    const next = Date.now();
    await a.take(15); // more than the local burst: taken a burst at a time, at the local rate of 10 a second
    expect(Date.now() - next).toBeGreaterThanOrEqual(1_400);

    await redis.server().restart();
    await until(async () => {
      await a.take();
      return !a.degraded;
    }, 15_000);
    expect(warnings).toEqual(['TL_BUDGET_FALLBACK', 'TL_BUDGET_RECOVERED']);
    expect(await a.timeUntilAvailable(1)).toBeGreaterThanOrEqual(0);
  }, 30_000);

  test('paused (SIGSTOP), with ioredis defaults: no take waits beyond timeoutMs, and it recovers on resume', async () => {
    const warnings: string[] = [];
    const budget = redisBudget({
      client: await client(true),
      key: 'stopped',
      rate: 100,
      timeoutMs: 200,
      retryMs: 200,
      localShare: 0.25,
      onWarning: ({ code }) => warnings.push(code),
    });
    await budget.take();
    redis.server().pause();
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      await budget.take();
      expect(Date.now() - started).toBeLessThan(600);
    }
    expect(budget.degraded).toBe(true);
    expect(budget.localShare).toBe(0.25);
    await budget.pauseUntil(Date.now() + 100); // kept locally while Redis is away
    expect(await budget.timeUntilAvailable(1)).toBeGreaterThan(50);

    redis.server().resume();
    await until(async () => {
      await budget.take();
      return !budget.degraded;
    }, 10_000);
    expect(warnings).toEqual(['TL_BUDGET_FALLBACK', 'TL_BUDGET_RECOVERED']);
  }, 30_000);

  test('leaves no rejection unhandled, Redis paused or down, whatever the client settings (in its own process)', async () => {
    const down = await RedisServer.reserve();
    redis.server().pause();
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/client/fixtures/redis-budget-faults.ts'], {
      cwd: join(__dirname, '..', '..'),
      env: { ...process.env, PAUSED_URL: redis.server().url, DOWN_URL: down.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect({ code, output: output.trim() }).toEqual({ code: 0, output: 'ok' });
  }, 30_000);

  test('down before the first call: the first take falls back at once (share 1 until Redis has answered)', async () => {
    const connected = await client();
    await redis.server().kill();
    const budget = redisBudget({ client: connected, key: 'never', rate: 10, onWarning: () => {} });
    const started = Date.now();
    await budget.take(10);
    expect(Date.now() - started).toBeLessThan(500);
    expect(budget.localShare).toBe(1);
  });
});
