-- Forgets dead jobs.
-- KEYS[1] dead; ARGV[1] job key prefix, then ids
for i = 2, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
  redis.call('DEL', ARGV[1] .. ARGV[i])
end
return #ARGV - 1
