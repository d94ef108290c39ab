-- Applies the outcomes of attempts still held by their worker, and counts
-- them for the queue's per-minute rates and duration percentiles.
-- KEYS[1] wait, KEYS[2] scheduled, KEYS[3] active, KEYS[4] dead, KEYS[5] processed, KEYS[6] failed,
-- KEYS[7] recent durations list, KEYS[8] this rate bucket's hash
-- ARGV[1] job key prefix, ARGV[2] now, ARGV[3] durations kept, ARGV[4] bucket lifetime (s),
-- then per outcome: id, attempt, status, run_at, error, duration ms (-1: did not run)
local prefix = ARGV[1]
local now = tonumber(ARGV[2])
local applied = 0
local sampled = 0
for i = 5, #ARGV, 6 do
  local id = ARGV[i]
  local key = prefix .. id
  if redis.call('HGET', key, 'attempts') == ARGV[i + 1] and redis.call('ZREM', KEYS[3], id) == 1 then
    local status = ARGV[i + 2]
    if status == 'succeeded' then
      redis.call('DEL', key)
      redis.call('INCR', KEYS[5])
      redis.call('HINCRBY', KEYS[8], 'p', 1)
    elseif status == 'failed' then
      redis.call('HSET', key, 'last_error', ARGV[i + 4], 'ready_at', ARGV[i + 3])
      redis.call('ZADD', KEYS[2], ARGV[i + 3], id)
      redis.call('INCR', KEYS[6])
      redis.call('HINCRBY', KEYS[8], 'f', 1)
    elseif status == 'dead' then
      redis.call('HSET', key, 'last_error', ARGV[i + 4])
      redis.call('ZADD', KEYS[4], now, id)
      redis.call('INCR', KEYS[6])
      redis.call('HINCRBY', KEYS[8], 'f', 1)
    else
      -- returned unstarted: the attempt does not count
      redis.call('HINCRBY', key, 'attempts', -1)
      redis.call('RPUSH', KEYS[1], id)
    end
    if status ~= 'queued' and tonumber(ARGV[i + 5]) >= 0 then
      redis.call('LPUSH', KEYS[7], now .. ':' .. ARGV[i + 5])
      sampled = sampled + 1
    end
    applied = applied + 1
  end
end
if sampled > 0 then
  redis.call('LTRIM', KEYS[7], 0, tonumber(ARGV[3]) - 1)
end
if applied > 0 then
  redis.call('EXPIRE', KEYS[8], tonumber(ARGV[4]))
end
return applied
