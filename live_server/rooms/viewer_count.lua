-- One node's viewer count for a room, the room's total and its peak, in one step.
-- KEYS[1] room viewers hash ({room:R}:viewers), KEYS[2] room stats hash ({room:R}:stats)
-- ARGV[1] node id, ARGV[2] this node's viewers, ARGV[3] now (ms), ARGV[4] stale after (ms),
-- ARGV[5] hash TTL (ms). Fields are "count:seen_ms"; nodes not seen for ARGV[4] don't count.
-- Returns the room's total.
local now, stale = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
local fields = redis.call('HGETALL', KEYS[1])
local total = 0
for i = 1, #fields, 2 do
  local count, seen = string.match(fields[i + 1], '^(%d+):(%d+)$')
  if count and now - tonumber(seen) < stale then total = total + tonumber(count) end
end
local peak = tonumber(redis.call('HGET', KEYS[2], 'total:peak_viewers') or '0')
if total > peak then redis.call('HSET', KEYS[2], 'total:peak_viewers', total) end
return total
