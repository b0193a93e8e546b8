import { COUNTING, concurrency, EPSILON } from '@tierlimit/core';

/**
 * The Lua scripts. Each decision is one script call: read every limit, decide, and only if
 * all have room write every one, atomically on the server. Time comes from Redis (`TIME`)
 * so app-server clocks cannot skew windows or refills.
 *
 * The algorithms are not written here: each is defined once, in `@tierlimit/core`'s
 * algorithms/ (its state's named fields, and its steps in TypeScript and, beside them, in
 * Lua); this file assembles their Lua into one script and runs the same steps, in the same
 * order, as the memory store does. The store suite runs every algorithm on both.
 *
 * State per key is a string of the algorithm's fields in its order, space-separated (a
 * fixed window: "<used> <windowEnd>"). A concurrency limit keeps a sorted set of leases
 * scored by their expiry, and a sequence for their ids. Every write sets a TTL with `PX`
 * (when the state equals no state at all), so no key of ours ever lives without one.
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
 * Lua: the algorithms (from core), reading a state safely, and writing one.
 * `read(key, spec, w)` fills `w` with the stored fields (`w.fresh` when the key is absent)
 * and returns false when it holds anything else (another type, the wrong number of fields,
 * not numbers, NaN or infinite, negative): the caller treats that as no state and repairs
 * it. `write(key, spec, w, c, now)` stores the fields with the state's TTL.
 */
const ALGORITHMS = `
local EPSILON = ${EPSILON}
local floor, ceil, max, min = math.floor, math.ceil, math.max, math.min
local format, find, sub, tonumber = string.format, string.find, string.sub, tonumber
local HUGE = math.huge
-- A bucket spent to its last unit may hold about -1e-9 tokens (it fits when
-- tokens + EPSILON >= cost): float noise, not a malformed state.
local NOISE = 1e-6
local function finite(x)
  return x ~= nil and x == x and x ~= HUGE and x ~= -HUGE
end
local function num(x)
  if x == floor(x) then return format('%d', x) end
  return format('%.17g', x)
end
local ALGORITHMS = {}
${COUNTING.map(
  (spec) =>
    `-- ${spec.name}\nALGORITHMS[${spec.code}] = ${spec.lua}\nALGORITHMS[${spec.code}].fields = { ${spec.fields.map((field) => `'${field}'`).join(', ')} }`,
).join('\n')}
-- concurrency (its leases are a sorted set: see decide)
local CONCURRENCY = ${concurrency.lua}
local CONCURRENCY_CODE = ${concurrency.code}
-- A suspension's denial count: "<denials> <windowEnd>", read as a fixed window's state.
local PENALTY = { fields = { 'used', 'windowEnd' } }
local function read(key, spec, w)
  w.dirty = false
  local raw = redis.pcall('GET', key)
  if raw == false then
    w.fresh = true
    return true
  end
  w.fresh = false
  -- An error reply (WRONGTYPE) is a table; it must not fail the whole call.
  if type(raw) ~= 'string' then return false end
  local fields, n = spec.fields, 0
  for part in string.gmatch(raw, '%S+') do
    n = n + 1
    local x = tonumber(part)
    if n > #fields or not finite(x) or x < -NOISE then return false end
    w[fields[n]] = x
  end
  return n == #fields
end
-- With a test clock (ARGV[1]), real time passes while the test's clock stands still: a TTL
-- is then never below a minute, or a key would expire under a test that looks at it 1 ms
-- before its window ends. (With Redis TIME the TTL is exact.)
local minimumTtl = 1
if ARGV[1] ~= '' then minimumTtl = 60000 end
local function write(key, spec, w, c, now)
  local fields = spec.fields
  local text = num(w[fields[1]])
  for i = 2, #fields do text = text .. ' ' .. num(w[fields[i]]) end
  redis.call('SET', key, text, 'PX', format('%d', max(minimumTtl, ceil(spec.expires(w, c, now) - now))))
end
`;

/**
 * Decides a batch of requests, one after the other, in one script call: the store sends the
 * decisions that arrive in one turn of the event loop together (one write, one reply, one
 * script run for all of them), and each is decided exactly as if it had been sent alone.
 *
 * KEYS: per decision, per check: the limit's key (a concurrency limit: its lease set, then
 * its lease sequence), then, only for a check with a suspension penalty, the identity's
 * denial count and its suspension marker (all with the identity's hash tag). ARGV[1]: the
 * time in ms to use, or '' for Redis TIME (tests pass a clock). ARGV[2]: the deadline, the
 * Redis time in ms from which the batch's decisions must not be charged any more (the
 * limiter has stopped waiting for them), '0' for none. Then one string per decision:
 * `<peek>;<checks>`, `peek` 1 to decide without charging anything or counting a denial.
 * The checks are separated by ',', each eleven space-separated numbers, read into named
 * fields (see `parse`): the algorithm's number, limit, windowMs, capacity, cost, shadow
 * (0/1), the penalty's threshold (0: none), its window and its suspension in ms, the
 * calendar period's end and the concurrency lease's time to live. (One argument per
 * decision, not eleven per check: every argument is encoded by the client and parsed by
 * the server.)
 *
 * Returns one flat array of integers for the whole batch: the time the script used (ms),
 * then per decision: allowed (0/1, or 2: executed at or after its deadline, so nothing was
 * read or charged), and per check five fields: flags (1 fits, 2 suspended, 4 suspended by
 * this request), remaining, resetMs, retryMs, and the lease taken (0: none). Every field is
 * a whole number, and Redis sends a Lua number as an integer reply without formatting it,
 * where a string reply cost the script a number-to-text conversion per field. Numbers the
 * script passes to Redis commands are formatted with '%d' first: Redis 7.0 formats a Lua
 * number argument with '%.17g', several times dearer.
 */
export const CONSUME = `${NOW}${ALGORITHMS}
local call = redis.call
local deadline = tonumber(ARGV[2])
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
-- A concurrency limit's live leases (the lapsed ones dropped) and when the soonest lapses
-- (0: none). A key of another type is deleted: no leases.
local function leases(key)
  local cleared = redis.pcall('ZREMRANGEBYSCORE', key, '-inf', now)
  if type(cleared) == 'table' then
    call('DEL', key)
    return 0, 0
  end
  local live = call('ZCARD', key)
  if live == 0 then return 0, 0 end
  return live, tonumber(call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
end
-- Scratch space reused by every decision of the call (no tables per decision).
local works, fits, blocked, at = {}, {}, {}, {}
-- The reply: one flat array of integers for the whole batch: the time, then per decision:
-- allowed, then per check five fields.
local replies, r = { now }, 1
-- Decides the checks of one request, whose keys start at KEYS[first]; appends its reply
-- to replies and returns the index of the next request's first key.
local function decide(checks, first)
  local count = #checks
  local k = first
  if deadline > 0 and now >= deadline then
    -- The limiter has answered this request without Redis by now: charging it would count
    -- it twice (ioredis discards the late reply, so the app could never refund it).
    r = r + 1
    replies[r] = 2
    for i = 1, count do
      replies[r + 1], replies[r + 2], replies[r + 3], replies[r + 4], replies[r + 5] = 0, 0, 0, 0, 0
      r = r + 5
      k = k + checks[i].keyCount
    end
    return k
  end
  local peek = checks.peek
  local allowed = 1
  for i = 1, count do
    local c = checks[i]
    local key = KEYS[k]
    at[i] = k
    local w = works[i]
    if not w then
      w = {}
      works[i] = w
    end
    local fit
    if c.code == CONCURRENCY_CODE then
      w.used, w.windowEnd = leases(key)
      fit = CONCURRENCY.fits(w.used, c, c.cost)
    else
      local spec = c.spec
      if not read(key, spec, w) then
        -- Not a state: as if absent, and deleted so it cannot come back.
        call('DEL', key)
        w.fresh = true
      end
      spec.current(w, c, now)
      if w.dirty then write(key, spec, w, c, now) end
      fit = spec.fits(w, c, c.cost, now)
    end
    local block = 0
    if c.threshold > 0 then
      local untilTime = suspendedUntil(KEYS[at[i] + c.keyCount - 1], c.blockMs)
      if untilTime > now then
        block = untilTime - now
        fit = false
      end
    end
    k = k + c.keyCount
    fits[i], blocked[i] = fit, block
    if not fit and c.shadow == 0 then allowed = 0 end
  end
  r = r + 1
  replies[r] = allowed
  for i = 1, count do
    local c = checks[i]
    local w = works[i]
    local fit = fits[i]
    local key = KEYS[at[i]]
    local cost = c.cost
    local charged = allowed == 1 and fit and cost > 0 and not peek
    local remaining, resetMs, retryMs
    local lease = 0
    if c.code == CONCURRENCY_CODE then
      local live, soonest = w.used, w.windowEnd
      if charged then
        lease = call('INCR', KEYS[at[i] + 1])
        call('PEXPIRE', KEYS[at[i] + 1], format('%d', max(1, 2 * c.leaseMs)))
        call('ZADD', key, format('%d', now + c.leaseMs), lease)
        -- The set lives as long as its latest lease.
        call('PEXPIRE', key, format('%d', max(1, c.leaseMs)))
        live = live + cost
        if soonest == 0 then soonest = now + c.leaseMs end
      end
      remaining, resetMs, retryMs = CONCURRENCY.report(live, soonest, c, fit, now)
    else
      local spec = c.spec
      if charged then
        spec.charge(w, c, cost)
        write(key, spec, w, c, now)
      end
      remaining, resetMs, retryMs = spec.report(w, c, cost, fit, now)
    end
    local isSuspended, suspendedNow = 0, 0
    if blocked[i] > 0 then
      isSuspended = 1
      retryMs = blocked[i]
    elseif allowed == 0 and not fit and c.shadow == 0 and c.threshold > 0 and not peek then
      local violations = KEYS[at[i] + c.keyCount - 2]
      local suspended = KEYS[at[i] + c.keyCount - 1]
      -- Anything but a valid count (absent, another type, malformed) starts afresh; the
      -- write below replaces it either way.
      local v = { fresh = false }
      local valid = read(violations, PENALTY, v)
      local denials, windowEnd = v.used, v.windowEnd
      if not valid or v.fresh or now >= windowEnd then
        denials = 0
        windowEnd = now + c.penaltyWindowMs
      elseif windowEnd > now + c.penaltyWindowMs then
        windowEnd = now + c.penaltyWindowMs
      end
      denials = denials + 1
      if denials >= c.threshold then
        call('SET', suspended, format('%d', now + c.blockMs), 'PX', format('%d', max(1, c.blockMs)))
        call('DEL', violations)
        isSuspended, suspendedNow = 1, 1
        retryMs = c.blockMs
      else
        call('SET', violations, format('%d %d', denials, windowEnd), 'PX', format('%d', max(1, windowEnd - now)))
      end
    end
    local flags = 2 * isSuspended + 4 * suspendedNow
    if fit then flags = flags + 1 end
    replies[r + 1], replies[r + 2], replies[r + 3], replies[r + 4], replies[r + 5] = flags, remaining, resetMs, retryMs, lease
    r = r + 5
  end
  return k
end
-- The decisions of a batch mostly share one argument (the same tier, one unit each):
-- parse each distinct one once (string parsing is the dearest part).
local parsed = {}
local function parse(arg)
  local semicolon = find(arg, ';', 1, true)
  local checks = { peek = sub(arg, 1, semicolon - 1) == '1' }
  for text in string.gmatch(sub(arg, semicolon + 1), '[^,]+') do
    local n = {}
    for field in string.gmatch(text, '%S+') do n[#n + 1] = tonumber(field) end
    local c = {
      code = n[1], limit = n[2], windowMs = n[3], capacity = n[4], cost = n[5], shadow = n[6],
      threshold = n[7], penaltyWindowMs = n[8], blockMs = n[9], periodEnd = n[10], leaseMs = n[11],
    }
    c.spec = ALGORITHMS[c.code]
    c.keyCount = 1
    if c.code == CONCURRENCY_CODE then c.keyCount = 2 end
    if c.threshold > 0 then c.keyCount = c.keyCount + 2 end
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
 * charge (a concurrency limit: its lease set). ARGV[1]: now-or-''. Then one string per key:
 * the check's eleven numbers as in CONSUME, then the time the charge was made at, the
 * `resetMs` it reported, and the lease it took (0: none). Each algorithm's own `refund`
 * decides whether the charge still counts (a window refunds only the window it was made
 * in); a concurrency limit releases the lease. Keys that hold no valid state are left for
 * CONSUME to repair. Every write sets a TTL (PX).
 */
export const REFUND = `${NOW}${ALGORITHMS}
for i = 1, #KEYS do
  local n = {}
  for field in string.gmatch(ARGV[i + 1], '%S+') do n[#n + 1] = tonumber(field) end
  local c = {
    code = n[1], limit = n[2], windowMs = n[3], capacity = n[4], cost = n[5], shadow = n[6],
    threshold = n[7], penaltyWindowMs = n[8], blockMs = n[9], periodEnd = n[10], leaseMs = n[11],
  }
  local chargedAt, resetMs, lease = n[12], n[13], n[14]
  if c.code == CONCURRENCY_CODE then
    if lease > 0 then redis.pcall('ZREM', KEYS[i], format('%d', lease)) end
  else
    local spec = ALGORITHMS[c.code]
    local w = {}
    if read(KEYS[i], spec, w) and not w.fresh and spec.refund(w, c, c.cost, chargedAt, resetMs) then
      write(KEYS[i], spec, w, c, now)
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
