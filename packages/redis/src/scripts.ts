/**
 * The Lua scripts. Each decision is one script call: read every policy, decide, and only
 * if all have room write every one, atomically on the server. Time comes from Redis
 * (`TIME`) so app-server clocks cannot skew windows or refills. The arithmetic mirrors the
 * memory store's line for line (same rounding, same epsilon), and the shared store suite
 * in test/stores runs the same cases against both.
 *
 * State per key is a string "<v> <t>": `v` (fixed window: units used; bucket: tokens
 * held) and `t` (fixed window: window end; bucket: time of the last refill), both in ms.
 * Every write sets a TTL with `PX` (the window end, or the time the bucket is full again,
 * after which the key equals no key at all), so no key of ours ever lives without one.
 *
 * A key is shared with whatever else writes to the database (an operator, another app, a
 * bug): the scripts read with `redis.pcall` and treat a key of another type or a string
 * that is not a valid state as no state, and repair it (delete or rewrite it, with a TTL),
 * so one bad key affects one identity once, never the other decisions of a batched call,
 * and heals by itself (issue 13). A stored time more than one window ahead (a clock that
 * stepped back, a hand-written value) is clamped to one window from now and rewritten, so
 * it can block for at most one window.
 */

/** Lua prologue shared by the scripts: `now` from ARGV[1] (tests) or Redis TIME. */
const NOW = `
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
`;

/**
 * Lua: reading a policy's "<v> <t>" safely. `state(key)` returns v, t; nil when the key is
 * absent; false when it holds anything else (another type, no space, not numbers, NaN or
 * infinite, negative): the caller treats that as no state and repairs it.
 */
const STATE = `
local HUGE = math.huge
-- A bucket spent to its last unit may hold about -1e-9 tokens (it fits when
-- tokens + EPSILON >= cost): float noise, not a malformed state.
local NOISE = 1e-6
local function finite(x)
  return x ~= nil and x == x and x ~= HUGE and x ~= -HUGE
end
local function state(key)
  local raw = redis.pcall('GET', key)
  if raw == false then return nil end
  -- An error reply (WRONGTYPE) is a table; it must not fail the whole call.
  if type(raw) ~= 'string' then return false end
  local space = string.find(raw, ' ', 1, true)
  if not space then return false end
  local v, t = tonumber(string.sub(raw, 1, space - 1)), tonumber(string.sub(raw, space + 1))
  if not finite(v) or not finite(t) or v < -NOISE or t < 0 then return false end
  return v, t
end
local function num(x)
  if x == math.floor(x) then return string.format('%d', x) end
  return string.format('%.17g', x)
end
`;

/**
 * Decides a batch of requests, one after the other, in one script call: the store sends the
 * decisions that arrive in one turn of the event loop together (one write, one reply, one
 * script run for all of them), and each is decided exactly as if it had been sent alone.
 *
 * KEYS: per decision, per check: the policy's key, then, only for a check with a
 * suspension penalty, the identity's denial count and its suspension marker (all with the
 * identity's hash tag). ARGV[1]: the time in ms to use, or '' for Redis TIME (tests pass a
 * clock). ARGV[2]: the deadline, the Redis time in ms from which the batch's decisions must
 * not be charged any more (the limiter has stopped waiting for them), '0' for none. Then
 * one string per decision: `<peek>;<checks>`, `peek` 1 to decide without charging anything
 * or counting a denial. The checks are separated by ',', each nine space-separated numbers:
 * algorithm (0 fixed window, 1 token bucket), limit, windowMs, capacity, cost, shadow
 * (0/1), and the penalty: threshold (0: none), its window in ms, the suspension in ms.
 * (One argument per decision, not nine per check: every argument is encoded by the client
 * and parsed by the server.)
 *
 * Returns one flat array of integers for the whole batch: the time the script used (ms),
 * then per decision: allowed (0/1, or 2: executed at or after its deadline, so nothing was
 * read or charged), and per check four fields: flags (1 fits, 2 suspended, 4 suspended by
 * this request), remaining, resetMs, retryMs. Every field is a whole number (limits, costs,
 * windows and the clock are whole milliseconds and units; a bucket's remaining is floored,
 * its times ceiled), and Redis sends a Lua number as an integer reply without formatting
 * it, where a string reply cost the script a number-to-text conversion per field (a third
 * of its work). Numbers the script passes to Redis commands are formatted with '%d' first:
 * Redis 7.0 formats a Lua number argument with '%.17g', several times dearer.
 */
export const CONSUME = `${NOW}${STATE}
local EPSILON = 1e-9
local call, format, find, sub, tonumber = redis.call, string.format, string.find, string.sub, tonumber
local floor, ceil, max, min = math.floor, math.ceil, math.max, math.min
-- The end of the suspension kept at key, clamped to blockMs from now; 0 when there is none.
-- A key that is not a suspension is deleted: no suspension.
local function suspendedUntil(key, blockMs)
  local raw = redis.pcall('GET', key)
  if raw == false then return 0 end
  local untilTime = nil
  if type(raw) == 'string' then untilTime = tonumber(raw) end
  if not finite(untilTime) or untilTime < 0 then
    call('DEL', key)
    return 0
  end
  if untilTime > now + blockMs then
    untilTime = now + blockMs
    call('SET', key, format('%d', untilTime), 'PX', format('%d', max(1, blockMs)))
  end
  return untilTime
end
-- Scratch space reused by every decision of the call (no tables per decision).
local values, times, fits, blocked, at = {}, {}, {}, {}, {}
-- The reply: one flat array of integers for the whole batch: the time, then per decision:
-- allowed, then per check four fields.
local replies, r = { now }, 1
-- Decides the checks of one request, whose keys start at KEYS[first]; appends its reply
-- to replies and returns the index of the next request's first key.
local deadline = tonumber(ARGV[2])
local function decide(checks, first)
  local count = #checks
  local k = first
  if deadline > 0 and now >= deadline then
    -- The limiter has answered this request without Redis by now: charging it would count
    -- it twice (ioredis discards the late reply, so the app could never refund it).
    r = r + 1
    replies[r] = 2
    for i = 1, count do
      replies[r + 1], replies[r + 2], replies[r + 3], replies[r + 4] = 0, 0, 0, 0
      r = r + 4
      if checks[i][7] > 0 then k = k + 3 else k = k + 1 end
    end
    return k
  end
  local peek = checks.peek
  local allowed = 1
  for i = 1, count do
    local c = checks[i]
    local algorithm, limit, window, capacity, cost, shadow, threshold = c[1], c[2], c[3], c[4], c[5], c[6], c[7]
    local key = KEYS[k]
    at[i] = k
    local value, time = state(key)
    if value == false then
      -- Not a state: as if absent, and deleted so it cannot come back.
      call('DEL', key)
      value = nil
    end
    local fit
    if algorithm == 0 then
      if value == nil or now >= time then
        value = 0
        time = now + window
      elseif time > now + window then
        time = now + window
        call('SET', key, format('%d %d', value, time), 'PX', format('%d', window))
      end
      fit = value + cost <= limit
    else
      if value == nil then
        value = capacity
      else
        local repair = false
        if time > now + window then
          time = now
          repair = true
        end
        if value > capacity then
          value = capacity
          repair = true
        end
        value = min(capacity, value + max(0, now - time) * limit / window)
        if repair then
          local resetMs = ceil((capacity - value) * window / limit - EPSILON)
          if resetMs > 0 then
            call('SET', key, num(value) .. ' ' .. format('%d', now), 'PX', format('%d', resetMs))
          else
            call('DEL', key)
          end
        end
      end
      time = now
      fit = value + EPSILON >= cost
    end
    local block = 0
    if threshold > 0 then
      local untilTime = suspendedUntil(KEYS[k + 2], c[9])
      if untilTime > now then
        block = untilTime - now
        fit = false
      end
      k = k + 3
    else
      k = k + 1
    end
    values[i], times[i], fits[i], blocked[i] = value, time, fit, block
    if not fit and shadow == 0 then allowed = 0 end
  end
  r = r + 1
  replies[r] = allowed
  for i = 1, count do
    local c = checks[i]
    local algorithm, limit, window, capacity, cost, shadow, threshold = c[1], c[2], c[3], c[4], c[5], c[6], c[7]
    local fit = fits[i]
    local key = KEYS[at[i]]
    local value, time = values[i], times[i]
    local charged = allowed == 1 and fit and cost > 0 and not peek
    local remaining, resetMs, retryMs
    if algorithm == 0 then
      if charged then value = value + cost end
      remaining = max(0, limit - value)
      resetMs = time - now
      retryMs = 0
      if not fit then retryMs = resetMs end
      if charged then
        call('SET', key, format('%d %d', value, time), 'PX', format('%d', max(1, resetMs)))
      end
    else
      if charged then value = value - cost end
      local msPerUnit = window / limit
      remaining = max(0, floor(value + EPSILON))
      resetMs = max(0, ceil((capacity - value) * msPerUnit - EPSILON))
      retryMs = 0
      if not fit then retryMs = max(1, ceil((cost - value) * msPerUnit - EPSILON)) end
      if charged then
        call('SET', key, num(value) .. ' ' .. format('%d', time), 'PX', format('%d', max(1, resetMs)))
      end
    end
    local isSuspended, suspendedNow = 0, 0
    if blocked[i] > 0 then
      isSuspended = 1
      retryMs = blocked[i]
    elseif allowed == 0 and not fit and shadow == 0 and threshold > 0 and not peek then
      local violations, suspended = KEYS[at[i] + 1], KEYS[at[i] + 2]
      -- Anything but a valid count (absent, another type, malformed) starts afresh; the
      -- write below replaces it either way.
      local denials, windowEnd = state(violations)
      if not denials or now >= windowEnd then
        denials = 0
        windowEnd = now + c[8]
      elseif windowEnd > now + c[8] then
        windowEnd = now + c[8]
      end
      denials = denials + 1
      if denials >= threshold then
        call('SET', suspended, format('%d', now + c[9]), 'PX', format('%d', max(1, c[9])))
        call('DEL', violations)
        isSuspended, suspendedNow = 1, 1
        retryMs = c[9]
      else
        call('SET', violations, format('%d %d', denials, windowEnd), 'PX', format('%d', max(1, windowEnd - now)))
      end
    end
    local flags = 2 * isSuspended + 4 * suspendedNow
    if fit then flags = flags + 1 end
    replies[r + 1], replies[r + 2], replies[r + 3], replies[r + 4] = flags, remaining, resetMs, retryMs
    r = r + 4
  end
  return k
end
-- The decisions of a batch mostly share one argument (the same tier, one unit each, sent at
-- the same moment): parse each distinct one once (string parsing is the dearest part).
local parsed = {}
local function parse(arg)
  local semicolon = find(arg, ';', 1, true)
  local checks = { peek = sub(arg, 1, semicolon - 1) == '1' }
  for spec in string.gmatch(sub(arg, semicolon + 1), '[^,]+') do
    local c = {}
    for field in string.gmatch(spec, '%S+') do c[#c + 1] = tonumber(field) end
    checks[#checks + 1] = c
  end
  parsed[arg] = checks
  return checks
end
local first = 1
for d = 3, #ARGV do
  first = decide(parsed[ARGV[d]] or parse(ARGV[d]), first)
end
return replies
`;

/**
 * Gives back what CONSUME charged (the store's `refund`, and the cross-slot requests of a
 * Redis Cluster, whose earlier slots are refunded when a later one denies). KEYS: one per
 * charge. ARGV[1]: now-or-''. Then one space-separated string per key: algorithm, limit,
 * windowMs, capacity, cost, and the window end the charge was made in (fixed window only:
 * a window is refunded only while it is still that window; a new one owes nothing). A
 * bucket gets its units back, capped at its capacity. Keys that hold no valid state are
 * left for CONSUME to repair. Every write sets a TTL (PX).
 */
export const REFUND = `${NOW}${STATE}
local EPSILON = 1e-9
local max, min, ceil, format = math.max, math.min, math.ceil, string.format
for i = 1, #KEYS do
  local c = {}
  for field in string.gmatch(ARGV[i + 1], '%S+') do c[#c + 1] = tonumber(field) end
  local algorithm, limit, window, capacity, cost, windowEnd = c[1], c[2], c[3], c[4], c[5], c[6]
  local value, time = state(KEYS[i])
  if value then
    if algorithm == 0 then
      if time == windowEnd and now < time then
        redis.call('SET', KEYS[i], format('%d %d', max(0, value - cost), time), 'PX', format('%d', max(1, time - now)))
      end
    elseif time <= now + window then
      value = min(capacity, value + cost)
      -- The stored refill time stays (as in the memory store); the key lives until the
      -- bucket is full again.
      local current = min(capacity, value + max(0, now - time) * limit / window)
      local fullAt = max(time, now) + (capacity - current) * window / limit
      redis.call('SET', KEYS[i], num(value) .. ' ' .. format('%d', time), 'PX', format('%d', max(1, ceil(fullAt - now - EPSILON))))
    end
  end
end
return #KEYS
`;

/**
 * Leases are members of a sorted set scored by their expiry; the key's TTL follows the
 * latest expiry, so a set whose holders all died disappears on its own. A key that holds
 * another type is deleted (no leases) instead of failing every call on it.
 * KEYS[1]: the lease set. ARGV: now-or-'', max, ttlMs, lease id. Returns 1 if taken.
 */
export const LEASE_ACQUIRE = `${NOW}
local cleared = redis.pcall('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if type(cleared) == 'table' then redis.call('DEL', KEYS[1]) end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[4])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(last[2]) - now))
return 1
`;

/** KEYS[1]: the lease set. ARGV: now-or-'', ttlMs, lease id. Returns 1 if the lease was live and is extended. */
export const LEASE_RENEW = `${NOW}
local score = redis.pcall('ZSCORE', KEYS[1], ARGV[3])
if type(score) == 'table' then
  redis.call('DEL', KEYS[1])
  return 0
end
local expires = tonumber(score)
if expires == nil then return 0 end
if expires <= now then
  redis.call('ZREM', KEYS[1], ARGV[3])
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(last[2]) - now))
return 1
`;

/** KEYS[1]: the lease set. ARGV: now-or-''. Returns the number of live leases. */
export const LEASE_COUNT = `${NOW}
local count = redis.pcall('ZCOUNT', KEYS[1], '(' .. now, '+inf')
if type(count) == 'table' then
  redis.call('DEL', KEYS[1])
  return 0
end
return count
`;

/** KEYS[1]: the lease set. ARGV[1]: lease id. Returns 1 if it was held. */
export const LEASE_RELEASE = `
local removed = redis.pcall('ZREM', KEYS[1], ARGV[1])
if type(removed) == 'table' then
  redis.call('DEL', KEYS[1])
  return 0
end
return removed
`;
