-- Applies the outcomes of attempts still held by their worker.
-- KEYS[1] wait, KEYS[2] scheduled, KEYS[3] active, KEYS[4] dead, KEYS[5] processed, KEYS[6] failed
-- ARGV[1] job key prefix, ARGV[2] now, then per outcome: id, attempt, status, run_at, error
local prefix = ARGV[1]
local now = tonumber(ARGV[2])
local applied = 0
for i = 3, #ARGV, 5 do
  local id = ARGV[i]
  local key = prefix .. id
  if redis.call('HGET', key, 'attempts') == ARGV[i + 1] and redis.call('ZREM', KEYS[3], id) == 1 then
    local status = ARGV[i + 2]
    if status == 'succeeded' then
      redis.call('DEL', key)
      redis.call('INCR', KEYS[5])
    elseif status == 'failed' then
      redis.call('HSET', key, 'last_error', ARGV[i + 4], 'ready_at', ARGV[i + 3])
      redis.call('ZADD', KEYS[2], ARGV[i + 3], id)
      redis.call('INCR', KEYS[6])
    elseif status == 'dead' then
      redis.call('HSET', key, 'last_error', ARGV[i + 4])
      redis.call('ZADD', KEYS[4], now, id)
      redis.call('INCR', KEYS[6])
    else
      -- returned unstarted: the attempt does not count
      redis.call('HINCRBY', key, 'attempts', -1)
      redis.call('RPUSH', KEYS[1], id)
    end
    applied = applied + 1
  end
end
return applied
