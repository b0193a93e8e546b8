/**
 * Operating the Redis store (issue 13): a warning when Redis may evict rate-limit
 * counters, reconnect delays with jitter, connection warnings once per outage rather than
 * once per process, and a `close()` after which the process exits by itself.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { recommendedRedisOptions, redisStore } from '@tierlimit/redis';
import { describeWithRedis, RedisServer } from '../support/redis-server';

const root = join(__dirname, '..', '..');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

describe('reconnect delays', () => {
  const { retryStrategy } = recommendedRedisOptions();

  test('stay within half and all of the capped exponential backoff', () => {
    for (const [attempt, backoff] of [
      [1, 100],
      [2, 200],
      [3, 400],
      [5, 1_600],
      [6, 2_000],
      [50, 2_000],
    ] as const) {
      for (let i = 0; i < 200; i++) {
        const delay = retryStrategy(attempt);
        expect(delay).toBeGreaterThanOrEqual(backoff / 2);
        expect(delay).toBeLessThanOrEqual(backoff);
      }
    }
  });

  test('are spread out: a fleet reconnecting after a restart does not arrive at once', () => {
    const delays = Array.from({ length: 1_000 }, () => retryStrategy(8));
    // Uniform over [1000, 2000]: each tenth of the range gets about 100 of 1,000.
    const tenths = new Array(10).fill(0);
    for (const delay of delays) tenths[Math.min(9, Math.floor((delay - 1_000) / 100))]++;
    for (const count of tenths) expect(count).toBeGreaterThan(50);
    expect(new Set(delays).size).toBeGreaterThan(300);
  });
});

describeWithRedis('operating the Redis store', () => {
  const servers: RedisServer[] = [];
  const cleanup: Array<() => unknown> = [];

  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
    for (const server of servers.splice(0)) await server.stop();
  });

  async function server(args: string[] = []): Promise<RedisServer> {
    const started = await RedisServer.start(args);
    servers.push(started);
    return started;
  }

  /** A store on `url` collecting its warnings; ready. */
  async function watched(url: string): Promise<Array<{ code: string; message: string }>> {
    const warnings: Array<{ code: string; message: string }> = [];
    const store = redisStore({ url, onWarning: (warning) => warnings.push(warning) });
    cleanup.push(() => store.close());
    expect(await store.ready(5_000)).toBe(true);
    return warnings;
  }

  describe('eviction', () => {
    test.each([
      ['allkeys-lru', ['--maxmemory', '2mb', '--maxmemory-policy', 'allkeys-lru']],
      ['volatile-ttl (every tierlimit key has a TTL)', ['--maxmemory', '2mb', '--maxmemory-policy', 'volatile-ttl']],
    ])('a Redis with maxmemory and %s gets one TL_REDIS_EVICTION warning', async (_label, args) => {
      const redis = await server(args);
      const warnings = await watched(redis.url);
      await until(() => warnings.length > 0);
      await sleep(100);
      expect(warnings).toEqual([
        {
          code: 'TL_REDIS_EVICTION',
          message: expect.stringMatching(
            /has maxmemory 2097152 bytes and maxmemory-policy \S+: a client whose counter/,
          ),
        },
      ]);
      expect(warnings[0]?.message).toContain('noeviction');
    });

    test.each([
      ['maxmemory with noeviction', ['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction']],
      ['no maxmemory', ['--maxmemory-policy', 'allkeys-lru']],
    ])('a Redis with %s gets none', async (_label, args) => {
      const redis = await server(args);
      const warnings = await watched(redis.url);
      // The check is one INFO round trip after ready: a PING after it has its answer.
      await sleep(200);
      expect(warnings).toEqual([]);
    });
  });

  test('TL_REDIS_ERROR is reported once per outage: again for a second outage after the client was ready', async () => {
    const redis = await server();
    const warnings = await watched(redis.url);
    const errors = () => warnings.filter((warning) => warning.code === 'TL_REDIS_ERROR').length;
    await redis.kill();
    await until(() => errors() === 1);
    // Reconnect attempts keep failing meanwhile: still one warning for this outage.
    await sleep(500);
    expect(errors()).toBe(1);
    await redis.restart();
    await sleep(2_500); // the client reconnects within its 2 s cap and becomes ready
    await redis.kill();
    await until(() => errors() === 2);
    expect(errors()).toBe(2);
  });

  describe('close() lets the process exit', () => {
    /** The fixture in its own process; resolves once it printed its first status. */
    function start(
      url: string,
    ): Promise<{ child: ChildProcess; exited: Promise<{ code: number | null; ms: number }> }> {
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/stores/fixtures/close-exits.ts'], {
        cwd: root,
        env: { ...process.env, REDIS_URL: url },
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      cleanup.push(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      let closedAt = 0;
      let output = '';
      const exited = new Promise<{ code: number | null; ms: number }>((resolve) => {
        child.once('exit', (code) => resolve({ code, ms: closedAt === 0 ? -1 : performance.now() - closedAt }));
      });
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the fixture did not start: ${output}`)), 20_000);
        child.stdout?.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (/closing/.test(output) && closedAt === 0) closedAt = performance.now();
          if (/^status \d+$/m.test(output)) {
            clearTimeout(timer);
            resolve({ child, exited });
          }
        });
        child.once('exit', () => {
          clearTimeout(timer);
          reject(new Error(`the fixture exited early: ${output}`));
        });
      });
    }

    // From "closing" to exit. ioredis's own disconnectTimeout (2 s) held the process that
    // long after close() whenever the socket was already gone or Redis was paused, after
    // QUIT had waited up to the commandTimeout (1 s) for a paused Redis. Now QUIT waits at
    // most 0.5 s, and a socket that does not close is dropped after 0.5 s.
    test.each([
      ['up', 'up', async () => undefined, 1_000],
      ['paused (SIGSTOP) after the first decision', 'up', async (redis: RedisServer) => redis.pause(), 1_600],
      ['killed after the first decision', 'up', async (redis: RedisServer) => redis.kill(), 1_300],
      ['down from the start', 'down', async () => undefined, 1_300],
    ] as const)(
      'with Redis %s',
      async (_label, boot, breakRedis, boundMs) => {
        const redis = boot === 'up' ? await server() : await RedisServer.reserve();
        cleanup.push(() => redis.resume());
        const { child, exited } = await start(redis.url);
        await breakRedis(redis);
        child.stdin?.end('go\n');
        const { code, ms } = await Promise.race([
          exited,
          sleep(8_000).then(() => ({ code: -1, ms: Number.POSITIVE_INFINITY })),
        ]);
        expect(code).toBe(0);
        expect(ms).toBeGreaterThanOrEqual(0);
        expect(ms).toBeLessThan(boundMs);
      },
      20_000,
    );
  });
});
