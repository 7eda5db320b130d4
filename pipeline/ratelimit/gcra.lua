-- Multi-window adaptive GCRA, one call per request, shared by every worker process.
-- KEYS[1]         state hash: factor (AIMD multiplier of the rate, <= 1), blocked_until (us)
-- KEYS[2..n+1]    theoretical arrival time of each window
-- KEYS[n+2..2n+1] each window's log: its last slots, newest first (used only with a burst)
-- ARGV[1]         n; per window i, at ARGV[4i-2..4i+1]: interval (us), burst tolerance (us),
--                 log length (0: no log) and log period (us)
-- ARGV[4n+2]      additive step; ARGV[4n+3] longest wait (us) the caller will sleep for a reserved slot
-- Returns {wait_us, factor, reserved}. reserved 1: the next free slot, wait_us from now, is the
-- caller's (recorded in every window): sleep wait_us, then send without asking again. Slots
-- follow each other at exactly the interval, so a sender waking a little late loses no
-- capacity. A window with a burst tolerance lets that many intervals of slots go early, but
-- only while its log says the log-length-th previous slot is a log period old: no period ever
-- holds more than its limit. reserved 0: nothing was recorded (the slot is further than the
-- caller will wait, or the scope is held after a 429); ask again after wait_us.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local st = redis.call('HMGET', KEYS[1], 'factor', 'blocked_until')
local factor = tonumber(st[1]) or 1.0
local blocked = tonumber(st[2]) or 0
if blocked > now then
  return {tostring(blocked - now), tostring(factor), 0}
end
local n = tonumber(ARGV[1])
local step = tonumber(ARGV[4 * n + 2])
local max_wait = tonumber(ARGV[4 * n + 3]) or 0
local at = now
local tats = {}
for i = 1, n do
  local base = 4 * i - 2
  local tat = tonumber(redis.call('GET', KEYS[1 + i]) or now)
  if tat < now then tat = now end
  tats[i] = tat
  local earliest = tat - tonumber(ARGV[base + 1]) / factor
  local log_n = tonumber(ARGV[base + 2])
  if log_n > 0 then
    local newest = tonumber(redis.call('LINDEX', KEYS[1 + n + i], 0) or 0)
    local nth = tonumber(redis.call('LINDEX', KEYS[1 + n + i], log_n - 1) or 0)
    -- never before a slot already given (keeps the log in order), nor within a period of the
    -- log-length-th previous slot
    earliest = math.max(earliest, newest, nth > 0 and nth + tonumber(ARGV[base + 3]) or 0)
  end
  if earliest > at then at = earliest end
end
local wait = at - now
if wait > max_wait then
  return {tostring(wait), tostring(factor), 0}
end
for i = 1, n do
  local base = 4 * i - 2
  local next_tat = math.max(tats[i], at) + tonumber(ARGV[base]) / factor
  redis.call('SET', KEYS[1 + i], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1000)
  local log_n = tonumber(ARGV[base + 2])
  if log_n > 0 then
    local log = KEYS[1 + n + i]
    redis.call('LPUSH', log, string.format('%d', at))
    redis.call('LTRIM', log, 0, log_n - 1)
    redis.call('PEXPIRE', log, math.ceil((at - now + tonumber(ARGV[base + 3])) / 1000) + 1000)
  end
end
if factor < 1 then
  factor = math.min(1, factor + step)
  redis.call('HSET', KEYS[1], 'factor', tostring(factor))
end
return {tostring(wait), tostring(factor), 1}
