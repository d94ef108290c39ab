-- Puts jobs back at the end of the queue with fresh attempts (retry from dead).
-- KEYS[1] wait, KEYS[2] scheduled, KEYS[3] active, KEYS[4] dead
-- ARGV[1] job key prefix, ARGV[2] now, then per job: id, kind, payload, max_attempts
local prefix = ARGV[1]
for i = 3, #ARGV, 4 do
  local id = ARGV[i]
  local key = prefix .. id
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZREM', KEYS[4], id)
  redis.call('DEL', key)
  redis.call('HSET', key, 'kind', ARGV[i + 1], 'payload', ARGV[i + 2], 'max', ARGV[i + 3],
    'attempts', 0, 'ready_at', ARGV[2])
  redis.call('LPUSH', KEYS[1], id)
end
return (#ARGV - 2) / 4
