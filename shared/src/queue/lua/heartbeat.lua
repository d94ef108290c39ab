-- Extends the leases of jobs still held by the caller's attempt.
-- KEYS[1] active; ARGV[1] job key prefix, ARGV[2] new deadline, then pairs: id, attempt
local prefix = ARGV[1]
local extended = 0
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('HGET', prefix .. id, 'attempts') == ARGV[i + 1] then
    extended = extended + redis.call('ZADD', KEYS[1], 'XX', 'CH', ARGV[2], id)
  end
end
return extended
