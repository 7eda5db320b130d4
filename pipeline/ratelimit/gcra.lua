-- GCRA (generic cell rate algorithm), one scope per key, shared by every worker process.
-- KEYS[1]  limiter key
-- ARGV[1]  emission interval in microseconds (1e6 / rate_per_s)
-- ARGV[2]  burst: how many requests may go back to back
-- ARGV[3]  cost of this request (usually 1)
-- Returns the wait in microseconds: 0 means granted (and recorded), >0 means denied (nothing recorded).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval * cost
local allow_at = new_tat - burst * interval
if allow_at > now then
  return allow_at - now
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return 0
