/**
 * Issue 13: the limiter's timeout as a deadline in Redis time. A paused Redis (SIGSTOP)
 * holds the script calls written to it; when it resumes it runs them all, charging
 * requests the limiter had long answered without it (ioredis's commandTimeout has already
 * rejected those calls and discards their late replies, so the app can never refund
 * them). Each decision now carries a deadline, and the script refuses to charge one it
 * runs at or after it. Redis's own clock throughout (no test clock).
 */
import { once } from 'node:events';
import type { ConsumeOptions, StoreCheck } from '@tierlimit/core';
import { RedisStore, recommendedRedisOptions } from '@tierlimit/redis';
import { Redis } from 'ioredis';
import { ClockOffsets } from '../../packages/redis/src/clock-offset';
import { describeWithRedis, RedisServer } from '../support/redis-server';

const window = (key: string, limit = 5): StoreCheck => ({
  key,
  algorithm: 'fixed-window',
  limit,
  windowMs: 60_000,
  capacity: limit,
  cost: 1,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the clock offset estimate', () => {
  test('is the smallest sample, an upper bound of the true offset, however late replies are read', () => {
    const offsets = new ClockOffsets();
    expect(offsets.get('', 0)).toBeUndefined();
    // True offset 1,000 ms; the scripts ran 3, 1 and 250 ms after they were written (a busy
    // Redis, or replies read late here change nothing: only the time of writing counts).
    offsets.sample('', 10_003 + 1_000, 10_000);
    offsets.sample('', 10_501 + 1_000, 10_500);
    offsets.sample('', 11_250 + 1_000, 11_000);
    // Plus 1: the script's clock is whole milliseconds.
    expect(offsets.get('', 11_300)).toBe(1_002);
  });

  test('forgets samples older than a minute, and a node whose connection closed', () => {
    const offsets = new ClockOffsets();
    offsets.sample('a', 4_999, 0);
    offsets.sample('b', 6_999, 0);
    // A later, larger sample (the Redis clock stepped forward by 2 s).
    offsets.sample('a', 40_000 + 6_999, 40_000);
    expect(offsets.get('a', 40_000)).toBe(5_000);
    expect(offsets.get('a', 70_000)).toBe(7_000);
    expect(offsets.get('a', 130_000)).toBeUndefined();
    expect(offsets.get('b', 1_000)).toBe(7_000);
    offsets.reset('b');
    expect(offsets.get('b', 1_000)).toBeUndefined();
  });
});

describeWithRedis('deadlines in Redis time', () => {
  let redis: RedisServer;
  const clients: Redis[] = [];

  beforeEach(async () => {
    redis = await RedisServer.start();
  });

  afterEach(async () => {
    redis.resume();
    for (const client of clients.splice(0)) client.disconnect();
    await redis.stop();
  });

  /** A store on a fresh client (override ioredis options), connected, its clock offset known. */
  async function connected(overrides: { commandTimeout?: number } = {}): Promise<{ store: RedisStore; client: Redis }> {
    const client = new Redis(redis.url, { ...recommendedRedisOptions(), ...overrides });
    clients.push(client);
    const store = new RedisStore({ client });
    await once(client, 'ready');
    // One decision: its reply gives a clock sample (so does the TIME sent when ready).
    expect((await store.consume([window('api:hwarm')])).allowed).toBe(true);
    return { store, client };
  }

  /** The count stored for an identity's api policy (0: no key). */
  const used = (identity: string) => Number((redis.cli('GET', `tl:1:{${identity}}:api`) || '0').split(' ')[0]);

  test('sent() is called once per decision, once its batch is written, not when it is asked for', async () => {
    const { store, client } = await connected();
    const written: number[] = [];
    const send = client.sendCommand.bind(client);
    client.sendCommand = ((...args: Parameters<Redis['sendCommand']>) => {
      if (/^eval/i.test(args[0].name)) written.push(sentCount());
      return send(...args);
    }) as Redis['sendCommand'];
    let sent = 0;
    const sentCount = () => sent;
    const options = (): ConsumeOptions => ({ timeoutMs: 1_000, sent: () => sent++ });
    const answers = [1, 2, 3].map((i) => store.consume([window(`api:hs${i}`)], options()));
    // Asked for, still queued for this turn's batch: not sent.
    expect(sent).toBe(0);
    const results = await Promise.all(answers);
    expect(results.every((result) => result.allowed)).toBe(true);
    // One script call; the three are marked sent once it is written (a stall of this
    // process during the write is not Redis's).
    expect(written).toEqual([0]);
    expect(sent).toBe(3);
  });

  test('a healthy Redis answers decisions with a short timeout, none refused as late', async () => {
    const { store } = await connected();
    const results = await Promise.allSettled(
      Array.from({ length: 300 }, (_, i) => store.consume([window(`api:hh${i % 7}`, 1_000)], { timeoutMs: 100 })),
    );
    expect(results.filter((result) => result.status === 'rejected')).toEqual([]);
    expect(used('hh0')).toBe(43);
  });

  test('a decision Redis runs after its deadline charges nothing and fails with a StoreError', async () => {
    // A commandTimeout longer than the pause, so the script's late reply is read here.
    const { store } = await connected({ commandTimeout: 10_000 });
    redis.pause();
    const late = store.consume([window('api:hlate')], { timeoutMs: 100 });
    const settled = late.then(
      () => 'answered',
      (error: Error) => `${error.name}: ${error.message}`,
    );
    await sleep(400);
    redis.resume();
    expect(await settled).toMatch(/^StoreError: .*reached Redis after the limiter's deadline; nothing was charged/);
    expect(used('hlate')).toBe(0);
    // The same store, the same pause, without a timeout: no deadline, so it is charged.
    redis.pause();
    const patient = store.consume([window('api:hpatient')]);
    await sleep(400);
    redis.resume();
    expect((await patient).allowed).toBe(true);
    expect(used('hpatient')).toBe(1);
  });

  test("paused past ioredis's commandTimeout: the call is rejected here, and Redis, resumed, charges nothing", async () => {
    const { store } = await connected();
    redis.pause();
    const started = performance.now();
    const error = await store.consume([window('api:hgone')], { timeoutMs: 100 }).then(
      () => undefined,
      (reason: Error) => reason,
    );
    // ioredis gave up (commandTimeout, 1 s) and will discard the reply: nobody could refund it.
    expect(error?.message).toMatch(/timed? ?out/i);
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
    redis.resume();
    // Redis runs the held call when resumed; a command on another connection comes after.
    await sleep(100);
    expect(redis.cli('PING')).toBe('PONG');
    expect(used('hgone')).toBe(0);
  });
});
