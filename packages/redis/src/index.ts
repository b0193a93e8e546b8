export { createRedisClient, type RecommendedRedisOptions, recommendedRedisOptions } from './client-options.js';
export { redisKey } from './keys.js';
export { type RedisClient, RedisStore, type RedisStoreOptions, redisStore } from './redis-store.js';
