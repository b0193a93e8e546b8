/**
 * The Redis execution of the budget's bucket (budget-bucket.ts, the in-memory execution):
 * one script call reads the state, decides and writes it back, atomically, on Redis's
 * clock (`TIME`), so processes on machines whose clocks disagree still share one bucket.
 * The steps and their arithmetic follow `decideBudget` in the same order (the constants
 * are interpolated from it), and test/client/budget-agreement.test.ts runs both on the
 * same requests and compares the states they store.
 *
 * KEYS[1]: the bucket, a hash { tokens, ts, paused, pace }. KEYS[2]: the processes that
 * used the budget recently, a sorted set of ids by last use, from which each process
 * learns its fair share for when Redis becomes unreachable. Both share a hash tag.
 *
 * ARGV: [1] the time in ms, or '' for Redis TIME (tests pass a clock); [2] the operation,
 * 'take', 'peek' or 'pause'; [3] the units (take, peek) or the pause in ms; [4] the refill
 * rate at full pace, units per ms; [5] the burst; [6] this process's id; [7] how long a
 * process counts as a user of the budget after its last call, in ms.
 *
 * Reply: { the wait in ms (0: taken), the number of processes using the budget }.
 */
import { PACE_DECREASE, PACE_FLOOR, PACE_RECOVERY_MS } from './budget-bucket.js';

export const BUDGET_SCRIPT = `
local now = tonumber(ARGV[1])
if now == nil then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
local op, amount, rate, burst = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local DECREASE, FLOOR, RECOVERY = ${PACE_DECREASE}, ${PACE_FLOOR}, ${PACE_RECOVERY_MS}

local stored = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'paused', 'pace')
local tokens = tonumber(stored[1]) or burst
local updated = tonumber(stored[2]) or now
local paused = tonumber(stored[3]) or 0
local pace = tonumber(stored[4]) or 1

local function capacity_at(p)
  if p >= 1 then return burst end
  return math.min(burst, math.max(1, (burst * (1 - p)) / 2))
end

local elapsed = now - updated
if elapsed > 0 then
  local from = math.max(updated, paused)
  local refill_pace = pace
  pace = math.min(1, pace + (elapsed * (1 - DECREASE)) / RECOVERY)
  if now > from then
    tokens = math.min(capacity_at(pace), tokens + (now - from) * rate * refill_pace)
  end
end
updated = math.max(now, updated)

local wait = 0
if op == 'pause' then
  local pause_end = now + amount
  if pause_end > paused then
    if paused <= now then pace = math.max(FLOOR, pace * DECREASE) end
    paused = pause_end
    tokens = math.min(tokens, 0)
  end
else
  local missing = math.max(0, math.min(amount, capacity_at(pace)) - tokens)
  wait = math.ceil(math.max(0, paused - now) + missing / (rate * pace))
  if op == 'take' and wait == 0 then tokens = tokens - amount end
end

-- Kept until it equals a fresh bucket again (budgetStateTtl).
local refill = math.max(0, burst - tokens) / (rate * pace)
local recover = ((1 - pace) / (1 - DECREASE)) * RECOVERY
local ttl = math.ceil(math.max(0, paused - now) + math.max(refill, recover)) + 1000
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.17g', updated),
  'paused', string.format('%.17g', paused), 'pace', string.format('%.17g', pace))
redis.call('PEXPIRE', KEYS[1], ttl)

local window = tonumber(ARGV[7])
redis.call('ZADD', KEYS[2], now, ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
redis.call('PEXPIRE', KEYS[2], window)
return { wait, redis.call('ZCARD', KEYS[2]) }
`;
