-- A room stops being live for its brand: drop its own routing entries only.
-- KEYS[1] {rooms}:live-store:<brand> (store -> room), KEYS[2] {rooms}:live-main:<brand> (zset)
-- ARGV[1] the room's store ('' none), ARGV[2] room id. Idempotent.
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
