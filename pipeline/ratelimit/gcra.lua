-- Multi-window adaptive GCRA, one call per request, shared by every worker process.
-- KEYS[1]      state hash: factor (AIMD multiplier of the rate, <= 1), blocked_until (us)
-- KEYS[2..n+1] theoretical arrival time of each window
-- ARGV[1]      n; ARGV[1+i] interval of window i in microseconds; ARGV[n+2] additive step;
-- ARGV[n+3]    longest wait (us) the caller will sleep for a reserved slot
-- Returns {wait_us, factor, reserved}. reserved 1: the next free slot, wait_us from now, is the
-- caller's (recorded in every window): sleep wait_us, then send without asking again. Slots
-- follow each other at exactly the interval, so a sender waking a little late loses no
-- capacity. reserved 0: nothing was recorded (the slot is further than the caller will wait,
-- or the scope is held after a 429); ask again after wait_us.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local st = redis.call('HMGET', KEYS[1], 'factor', 'blocked_until')
local factor = tonumber(st[1]) or 1.0
local blocked = tonumber(st[2]) or 0
if blocked > now then
  return {tostring(blocked - now), tostring(factor), 0}
end
local n = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[n + 3]) or 0
local at = now
local tats = {}
for i = 1, n do
  local tat = tonumber(redis.call('GET', KEYS[1 + i]) or now)
  if tat < now then tat = now end
  tats[i] = tat
  if tat > at then at = tat end
end
local wait = at - now
if wait > max_wait then
  return {tostring(wait), tostring(factor), 0}
end
for i = 1, n do
  local next_tat = math.max(tats[i], at) + tonumber(ARGV[1 + i]) / factor
  redis.call('SET', KEYS[1 + i], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1000)
end
if factor < 1 then
  factor = math.min(1, factor + tonumber(ARGV[n + 2]))
  redis.call('HSET', KEYS[1], 'factor', tostring(factor))
end
return {tostring(wait), tostring(factor), 1}
