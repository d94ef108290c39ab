-- Leases up to `count` jobs. Before that, moves at most `step` due scheduled
-- jobs to the wait list and returns at most `step` jobs whose lease expired
-- (their worker died) to the queue, or buries them when out of attempts.
-- Every step is bounded, so a backlog of any size is drained a slice per call.
-- KEYS[1] wait, KEYS[2] scheduled, KEYS[3] active, KEYS[4] dead
-- ARGV[1] job key prefix, ARGV[2] now, ARGV[3] count, ARGV[4] lease deadline, ARGV[5] step
local prefix = ARGV[1]
local now = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
local deadline = tonumber(ARGV[4])
local step = tonumber(ARGV[5])

local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES', 'LIMIT', 0, step)
for i = 1, #due, 2 do
  local id = due[i]
  redis.call('ZREM', KEYS[2], id)
  redis.call('HSET', prefix .. id, 'ready_at', due[i + 1])
  redis.call('LPUSH', KEYS[1], id)
end

local requeued = {}
local buried = {}
local lost = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, step)
for _, id in ipairs(lost) do
  redis.call('ZREM', KEYS[3], id)
  local key = prefix .. id
  local fields = redis.call('HMGET', key, 'attempts', 'max')
  if fields[1] then
    local attempts = tonumber(fields[1])
    local reason = 'worker lost: no heartbeat before the lease expired (attempt ' .. attempts .. ')'
    redis.call('HSET', key, 'last_error', reason, 'ready_at', now)
    if attempts >= tonumber(fields[2]) then
      redis.call('ZADD', KEYS[4], now, id)
      buried[#buried + 1] = id
      buried[#buried + 1] = tostring(attempts)
    else
      redis.call('RPUSH', KEYS[1], id)
      requeued[#requeued + 1] = id
      requeued[#requeued + 1] = tostring(attempts)
    end
  end
end

local leased = {}
local ids = redis.call('RPOP', KEYS[1], count)
if ids then
  for _, id in ipairs(ids) do
    local key = prefix .. id
    local fields = redis.call('HMGET', key, 'kind', 'payload', 'max')
    if fields[1] then
      local attempt = redis.call('HINCRBY', key, 'attempts', 1)
      redis.call('ZADD', KEYS[3], deadline, id)
      leased[#leased + 1] = id
      leased[#leased + 1] = fields[1]
      leased[#leased + 1] = fields[2]
      leased[#leased + 1] = tostring(attempt)
      leased[#leased + 1] = fields[3]
    end
  end
end
return {leased, requeued, buried}
