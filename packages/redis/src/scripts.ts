/**
 * The Lua scripts. Each decision is one script call: read every policy, decide, and only
 * if all have room write every one, atomically on the server. Time comes from Redis
 * (`TIME`) so app-server clocks cannot skew windows or refills. The arithmetic mirrors the
 * memory store's line for line (same rounding, same epsilon), and the shared store suite
 * in test/stores runs the same cases against both.
 *
 * State per key is a string "<v> <t>": `v` (fixed window: units used; bucket: tokens
 * held) and `t` (fixed window: window end; bucket: time of the last refill), both in ms.
 * Every write sets a TTL: the window end, or the time the bucket is full again, after
 * which the key equals no key at all.
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
 * Decides a batch of requests, one after the other, in one script call: the store sends the
 * decisions that arrive in one turn of the event loop together (one write, one reply, one
 * script run for all of them), and each is decided exactly as if it had been sent alone.
 *
 * KEYS: per decision, per check: the policy's key, then, only for a check with a
 * suspension penalty, the identity's denial count and its suspension marker (all with the
 * identity's hash tag). ARGV[1]: the time in ms to use, or '' for Redis TIME (tests pass a
 * clock). Then one string per decision: its checks separated by ',', each nine
 * space-separated numbers: algorithm (0 fixed window, 1 token bucket), limit, windowMs,
 * capacity, cost, shadow (0/1), and the penalty: threshold (0: none), its window in ms, the
 * suspension in ms. (One argument per decision, not nine per check: every argument is
 * encoded by the client and parsed by the server.)
 *
 * A policy's state is a string "<v> <t>" written with SET ... PX, one command for the
 * value and its TTL (KEEPTTL when a fixed window's count grows within the same window,
 * whose key already expires at the window's end).
 *
 * Returns one flat array of integers for the whole batch: the time the script used (ms),
 * then per decision allowed (0/1) and per check four fields: flags (1 fits, 2 suspended,
 * 4 suspended by this request), remaining, resetMs, retryMs. Every field is a whole number (limits, costs, windows and the clock are
 * whole milliseconds and units; a bucket's remaining is floored, its times ceiled), and
 * Redis sends a Lua number as an integer reply without formatting it, where a string
 * reply cost the script a number-to-text conversion per field (a third of its work).
 * Numbers the script passes to Redis commands are formatted with '%d' first: Redis 7.0
 * formats a Lua number argument with '%.17g', several times dearer.
 */
export const CONSUME = `${NOW}
local EPSILON = 1e-9
local call, format, find, sub, tonumber = redis.call, string.format, string.find, string.sub, tonumber
local floor, ceil, max, min = math.floor, math.ceil, math.max, math.min
local function num(x)
  if x == floor(x) then return format('%d', x) end
  return format('%.17g', x)
end
local function state(key)
  local raw = call('GET', key)
  if not raw then return nil, nil end
  local space = find(raw, ' ', 1, true)
  if not space then return nil, nil end
  return tonumber(sub(raw, 1, space - 1)), tonumber(sub(raw, space + 1))
end
-- Scratch space reused by every decision of the call (no tables per decision).
local values, times, fits, blocked, at, fresh = {}, {}, {}, {}, {}, {}
-- The reply: one flat array of integers for the whole batch: the time, then per decision:
-- allowed, then per check four fields.
local replies, r = { now }, 1
-- Decides the checks of one request, whose keys start at KEYS[first]; appends its reply
-- to replies and returns the index of the next request's first key.
local function decide(checks, first)
  local count = #checks
  local allowed = 1
  local k = first
  for i = 1, count do
    local c = checks[i]
    local algorithm, limit, window, capacity, cost, shadow, threshold = c[1], c[2], c[3], c[4], c[5], c[6], c[7]
    at[i] = k
    local value, time = state(KEYS[k])
    local fit
    local isFresh = true
    if algorithm == 0 then
      if value == nil or time == nil or now >= time then
        value = 0
        time = now + window
      else
        isFresh = false
      end
      fit = value + cost <= limit
    else
      if value == nil or time == nil then
        value = capacity
      else
        value = min(capacity, value + max(0, now - time) * limit / window)
      end
      time = now
      fit = value + EPSILON >= cost
    end
    local block = 0
    if threshold > 0 then
      local untilTime = tonumber(call('GET', KEYS[k + 2]))
      if untilTime ~= nil and untilTime > now then
        block = untilTime - now
        fit = false
      end
      k = k + 3
    else
      k = k + 1
    end
    values[i], times[i], fits[i], fresh[i], blocked[i] = value, time, fit, isFresh, block
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
    local charged = allowed == 1 and fit and cost > 0
    local remaining, resetMs, retryMs
    if algorithm == 0 then
      if charged then value = value + cost end
      remaining = max(0, limit - value)
      resetMs = time - now
      retryMs = 0
      if not fit then retryMs = resetMs end
      if charged then
        if fresh[i] then
          call('SET', key, format('%d %d', value, time), 'PX', format('%d', max(1, resetMs)))
        else
          -- The same window: its key already expires at the window's end.
          call('SET', key, format('%d %d', value, time), 'KEEPTTL')
        end
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
    elseif allowed == 0 and not fit and shadow == 0 and threshold > 0 then
      local violations, suspended = KEYS[at[i] + 1], KEYS[at[i] + 2]
      local denials, windowEnd = state(violations)
      if denials == nil or windowEnd == nil or now >= windowEnd then
        denials = 0
        windowEnd = now + c[8]
      end
      denials = denials + 1
      if denials >= threshold then
        call('SET', suspended, format('%d', now + c[9]), 'PX', format('%d', c[9]))
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
-- The decisions of a batch mostly share one spec (the same tier, one unit each): parse
-- each distinct spec once (string parsing is the dearest part of a call).
local parsed = {}
local function parse(arg)
  local checks = {}
  for spec in string.gmatch(arg, '[^,]+') do
    local c = {}
    for field in string.gmatch(spec, '%S+') do c[#c + 1] = tonumber(field) end
    checks[#checks + 1] = c
  end
  parsed[arg] = checks
  return checks
end
local first = 1
for d = 2, #ARGV do
  first = decide(parsed[ARGV[d]] or parse(ARGV[d]), first)
end
return replies
`;

/**
 * Gives back what CONSUME charged, for Redis Cluster where one request's keys live in
 * different slots and are charged by separate calls: when a later call is denied, the
 * earlier ones are refunded. KEYS: one per charge. ARGV: one space-separated string per
 * key: algorithm, capacity, cost, and the window end the charge was made in (a fixed
 * window is refunded only if it is still that window). The TTL is kept.
 */
export const REFUND = `
local function num(x)
  if x == math.floor(x) then return string.format('%d', x) end
  return string.format('%.17g', x)
end
for i = 1, #KEYS do
  local c = {}
  for field in string.gmatch(ARGV[i], '%S+') do c[#c + 1] = tonumber(field) end
  local algorithm, capacity, cost, windowEnd = c[1], c[2], c[3], c[4]
  local raw = redis.call('GET', KEYS[i])
  if raw then
    local v, t = string.match(raw, '^(%S+) (%S+)$')
    local value, time = tonumber(v), tonumber(t)
    if algorithm == 0 then
      if time == windowEnd then
        redis.call('SET', KEYS[i], num(math.max(0, value - cost)) .. ' ' .. t, 'KEEPTTL')
      end
    else
      redis.call('SET', KEYS[i], num(math.min(capacity, value + cost)) .. ' ' .. t, 'KEEPTTL')
    end
  end
end
return #KEYS
`;

/**
 * Leases are members of a sorted set scored by their expiry; the key's TTL follows the
 * latest expiry, so a set whose holders all died disappears on its own.
 * KEYS[1]: the lease set. ARGV: now-or-'', max, ttlMs, lease id. Returns 1 if taken.
 */
export const LEASE_ACQUIRE = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[4])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(last[2]) - now))
return 1
`;

/** KEYS[1]: the lease set. ARGV: now-or-'', ttlMs, lease id. Returns 1 if the lease was live and is extended. */
export const LEASE_RENEW = `${NOW}
local expires = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[3]))
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
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
`;
