-- Adds jobs to a queue unless they are already there.
-- KEYS[1] wait list, KEYS[2] scheduled set
-- ARGV[1] job key prefix, ARGV[2] now (ms), then per job: id, kind, payload, max_attempts, run_at
local prefix = ARGV[1]
local now = tonumber(ARGV[2])
local added = 0
for i = 3, #ARGV, 5 do
  local id = ARGV[i]
  local key = prefix .. id
  if redis.call('EXISTS', key) == 0 then
    local run_at = tonumber(ARGV[i + 4])
    local ready_at = run_at
    if ready_at < now then ready_at = now end
    redis.call('HSET', key, 'kind', ARGV[i + 1], 'payload', ARGV[i + 2], 'max', ARGV[i + 3],
      'attempts', 0, 'ready_at', ready_at)
    if run_at > now then
      redis.call('ZADD', KEYS[2], run_at, id)
    else
      redis.call('LPUSH', KEYS[1], id)
    end
    added = added + 1
  end
end
return added
