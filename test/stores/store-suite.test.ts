/**
 * One store suite, every store: the same semantics on the memory store and on Redis (one
 * server, and a three-node Redis Cluster). The suite itself is exported as
 * `@tierlimit/core/testing` (issue 14), so a store of someone else's runs the same cases;
 * what stays here is how each of our stores is set up and torn down. The Redis store takes
 * time from Redis itself in production; here it is given the suite's clock so windows move
 * without sleeping, and its teardown fails on any key left without a TTL.
 */
import { MemoryStore } from '@tierlimit/core';
import { registerStoreSuite, type StoreCapabilities, type StoreSuiteTarget } from '@tierlimit/core/testing';
import { RedisStore, recommendedRedisOptions } from '@tierlimit/redis';
import { Cluster, Redis } from 'ioredis';
import { RedisCluster, RedisServer, redisAvailable } from '../support/redis-server';

/** Our stores have every capability: a case that finds one missing fails rather than skips. */
const ALL: StoreCapabilities = { admin: true, leases: true, refund: true, reportsNow: true };

let redis: RedisServer | undefined;
let cluster: RedisCluster | undefined;

const memory: StoreSuiteTarget<MemoryStore> = {
  name: 'memory store',
  create: ({ now }) => new MemoryStore({ now, sweepIntervalMs: 0 }),
  keyCount: (store) => store.size,
  cleanup: (store) => store.close(),
  capabilities: ALL,
};

/** The client each Redis store of a case uses, to count and check its keys. */
const redisClients = new Map<RedisStore, Redis>();
const singleRedis: StoreSuiteTarget<RedisStore> = {
  name: 'redis store',
  create: async ({ now }) => {
    redis ??= await RedisServer.start();
    const client = new Redis(redis.url, recommendedRedisOptions());
    const store = new RedisStore({ client, now });
    if (!(await store.ready(5_000))) throw new Error('Redis did not become ready');
    await client.flushall();
    redisClients.set(store, client);
    return store;
  },
  keyCount: (store) => (redisClients.get(store) as Redis).dbsize(),
  cleanup: async (store) => {
    const client = redisClients.get(store) as Redis;
    redisClients.delete(store);
    try {
      const keys = await client.keys('*');
      for (const key of keys) expect(await client.pttl(key)).not.toBe(-1);
    } finally {
      client.disconnect();
    }
  },
  capabilities: ALL,
};

const clusterClients = new Map<RedisStore, Cluster>();
const redisCluster: StoreSuiteTarget<RedisStore> = {
  name: 'redis cluster store',
  create: async ({ now }) => {
    cluster ??= await RedisCluster.start();
    const client = new Cluster(
      cluster.nodes.map((node) => ({ host: '127.0.0.1', port: node.port })),
      { enableOfflineQueue: false, redisOptions: recommendedRedisOptions() },
    );
    const store = new RedisStore({ client, now });
    if (!(await store.ready(10_000))) throw new Error('the Redis Cluster client did not become ready');
    await Promise.all(client.nodes('master').map((node) => node.flushall()));
    clusterClients.set(store, client);
    return store;
  },
  keyCount: async (store) => {
    const client = clusterClients.get(store) as Cluster;
    const sizes = await Promise.all(client.nodes('master').map((node) => node.dbsize()));
    return sizes.reduce((a, b) => a + b, 0);
  },
  cleanup: async (store) => {
    const client = clusterClients.get(store) as Cluster;
    clusterClients.delete(store);
    try {
      for (const node of client.nodes('master')) {
        for (const key of await node.keys('*')) expect(await node.pttl(key)).not.toBe(-1);
      }
    } finally {
      client.disconnect();
    }
  },
  capabilities: ALL,
};

afterAll(async () => {
  await redis?.stop();
  await cluster?.stop();
});

registerStoreSuite({ describe, it }, memory);
if (redisAvailable()) {
  registerStoreSuite({ describe, it }, singleRedis);
  registerStoreSuite({ describe, it }, redisCluster);
}
