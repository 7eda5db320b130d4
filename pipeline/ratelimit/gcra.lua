-- Multi-window adaptive GCRA, one call per request, shared by every worker process.
-- KEYS[1]      state hash: factor (AIMD multiplier of the rate, <= 1), blocked_until (us)
-- KEYS[2..n+1] theoretical arrival time of each window
-- ARGV[1]      n; ARGV[1+i] interval of window i in microseconds; ARGV[n+2] additive step
-- Returns {wait_us, factor}: wait_us 0 means granted (recorded in every window); otherwise
-- nothing was recorded and the caller may ask again after wait_us.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local st = redis.call('HMGET', KEYS[1], 'factor', 'blocked_until')
local factor = tonumber(st[1]) or 1.0
local blocked = tonumber(st[2]) or 0
if blocked > now then
  return {tostring(blocked - now), tostring(factor)}
end
local n = tonumber(ARGV[1])
local wait = 0
local tats = {}
for i = 1, n do
  local interval = tonumber(ARGV[1 + i]) / factor
  local tat = tonumber(redis.call('GET', KEYS[1 + i]) or now)
  if tat < now then tat = now end
  local allow_at = tat
  if allow_at - now > wait then wait = allow_at - now end
  tats[i] = tat + interval
end
if wait > 0 then
  return {tostring(wait), tostring(factor)}
end
for i = 1, n do
  redis.call('SET', KEYS[1 + i], string.format('%d', tats[i]), 'PX', math.ceil((tats[i] - now) / 1000) + 1000)
end
if factor < 1 then
  factor = math.min(1, factor + tonumber(ARGV[n + 2]))
  redis.call('HSET', KEYS[1], 'factor', tostring(factor))
end
return {'0', tostring(factor)}
