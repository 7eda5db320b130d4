-- A 429: cut the rate multiplicatively and hold every request of the scope for a while.
-- KEYS[1] state hash; ARGV[1] hold in microseconds; ARGV[2] decrease (e.g. 0.5); ARGV[3] floor
-- One congestion event cuts the rate once: 429s answered while the scope is already held
-- (requests that were in flight, or had their slot, when the first 429 came) only extend the
-- hold, as TCP halves its window once per loss event, not once per lost packet.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local factor = tonumber(redis.call('HGET', KEYS[1], 'factor') or '1')
local current = tonumber(redis.call('HGET', KEYS[1], 'blocked_until') or '0')
if current <= now then
  factor = math.max(tonumber(ARGV[3]), factor * tonumber(ARGV[2]))
end
local until_us = now + tonumber(ARGV[1])
if current > until_us then until_us = current end
redis.call('HSET', KEYS[1], 'factor', tostring(factor), 'blocked_until', string.format('%d', until_us))
redis.call('PEXPIRE', KEYS[1], 3600000)
return tostring(factor)
