/**
 * Redis Cluster specifics of issue 13 (the store suite runs the shared semantics on a
 * cluster too): a cluster client waits for the cluster to be ready, deadlines use the
 * clock of the node that runs the decision, and every master is checked for eviction.
 */
import type { StoreCheck } from '@tierlimit/core';
import { RedisStore, recommendedRedisOptions } from '@tierlimit/redis';
import { Cluster } from 'ioredis';
import { slotOfTag } from '../../packages/redis/src/key-slot';
import { describeWithRedis, RedisCluster, type RedisServer } from '../support/redis-server';

const window = (key: string, limit = 5): StoreCheck => ({
  key,
  algorithm: 'fixed-window',
  limit,
  windowMs: 60_000,
  capacity: limit,
  cost: 1,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeWithRedis('the Redis store on a Redis Cluster', () => {
  let cluster: RedisCluster;
  const cleanup: Array<() => unknown> = [];

  beforeAll(async () => {
    cluster = await RedisCluster.start();
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  afterEach(async () => {
    for (const node of cluster.nodes) node.resume();
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  function clusterClient(): Cluster {
    const client = new Cluster(
      cluster.nodes.map((node) => ({ host: '127.0.0.1', port: node.port })),
      { enableOfflineQueue: false, redisOptions: recommendedRedisOptions() },
    );
    cleanup.push(() => client.disconnect());
    return client;
  }

  /** The node that holds `key` (it answers EXISTS itself; the others answer MOVED). */
  function ownerOf(key: string): RedisServer {
    const owner = cluster.nodes.find((node) => node.cli('EXISTS', key) === '1');
    if (owner === undefined) throw new Error(`no node holds ${key}`);
    return owner;
  }

  test("the store computes each identity's slot as Redis does", () => {
    const node = cluster.nodes[0] as RedisServer;
    for (const identity of ['hK3vQ9abcdefghijklmnopq', 'i203.0.113.9', 'i2001:db8:0:100::/56', 'hé', 'x']) {
      expect(String(slotOfTag(identity))).toBe(node.cli('CLUSTER', 'KEYSLOT', `tl:1:{${identity}}:api`));
    }
  });

  test('decisions asked for before the cluster client is ready wait for it and are answered by Redis', async () => {
    const client = clusterClient();
    const store = new RedisStore({ client });
    expect(client.status).not.toBe('ready');
    const results = await Promise.all([
      store.consume([window('api:hc1')]),
      store.consume([window('api:hc2'), window('ip:i192.0.2.1')]),
    ]);
    expect(results.map((result) => result.allowed)).toEqual([true, true]);
    expect(results[1]?.states).toEqual([
      expect.objectContaining({ remaining: 4 }),
      expect.objectContaining({ remaining: 4 }),
    ]);
  });

  test("a decision its node runs after the deadline charges nothing: the deadline uses that node's clock", async () => {
    const client = clusterClient();
    const store = new RedisStore({ client });
    expect(await store.ready(10_000)).toBe(true);
    // A first decision for the identity: the key tells which node serves it, and its reply
    // is a clock sample of that node.
    await store.consume([window('api:hdl')]);
    const owner = ownerOf('tl:1:{hdl}:api');
    owner.pause();
    const error = await store.consume([window('api:hdl')], { timeoutMs: 100 }).then(
      () => undefined,
      (reason: Error) => reason,
    );
    expect(error?.message).toMatch(/timed? ?out/i);
    owner.resume();
    await sleep(100);
    // Only the first decision counted: the held one ran past its deadline.
    expect(owner.cli('GET', 'tl:1:{hdl}:api')?.split(' ')[0]).toBe('1');
  });

  test('every master is checked for eviction when the cluster client becomes ready', async () => {
    const risky = cluster.nodes[1] as RedisServer;
    risky.cli('CONFIG', 'SET', 'maxmemory', '100mb');
    risky.cli('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru');
    cleanup.push(() => {
      risky.cli('CONFIG', 'SET', 'maxmemory', '0');
      risky.cli('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
    });
    const warnings: Array<{ code: string; message: string }> = [];
    const store = new RedisStore({ client: clusterClient(), onWarning: (warning) => warnings.push(warning) });
    expect(await store.ready(10_000)).toBe(true);
    const deadline = Date.now() + 5_000;
    while (warnings.length === 0 && Date.now() < deadline) await sleep(20);
    expect(warnings).toEqual([
      {
        code: 'TL_REDIS_EVICTION',
        message: expect.stringContaining(
          `127.0.0.1:${risky.port} has maxmemory 104857600 bytes and maxmemory-policy allkeys-lru`,
        ),
      },
    ]);
  });
});
