/**
 * `@tierlimit/client/redis`: budgets shared through Redis. Node only; `ioredis` is a peer
 * dependency of this entry alone (the main entry stays browser-safe and dependency-free).
 */
export { BudgetTimeoutError, type RedisBudget, type RedisBudgetOptions, redisBudget } from './redis-budget.js';
