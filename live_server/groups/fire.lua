-- Take the due group timers, once across every node: each member leaves the due set in
-- the same step as it is leased to this caller (a node that comes second finds nothing).
-- A member leased longer than the lease ago (its node died mid-action) is taken again;
-- the actions are idempotent (notice keys), so a re-fire never sends twice.
-- KEYS[1] due (sorted set by ms)   KEYS[2] firing (member -> ms taken)
-- ARGV[1] now (ms)   ARGV[2] lease (ms)   ARGV[3] at most this many
local now, taken = tonumber(ARGV[1]), {}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  redis.call('HSET', KEYS[2], member, now)
  taken[#taken + 1] = member
end
local firing = redis.call('HGETALL', KEYS[2])
for i = 1, #firing, 2 do
  if tonumber(firing[i + 1]) < now - tonumber(ARGV[2]) then
    redis.call('HSET', KEYS[2], firing[i], now)
    taken[#taken + 1] = firing[i]
  end
end
return taken
