-- Replace a store's guide roster (guides/task.lua is prepended). Active guides join the
-- load set at their open-task count; inactive ones leave it (their open tasks stay theirs
-- until reassigned). Guides not in the new list are removed.
-- KEYS[1..6] task keys of the store (tk_keys; KEYS[1] unused)   KEYS[7] roster hash
-- ARGV: triples guide id, JSON record, active ('1'|'0')
-- Returns the number of guides kept.
local TK = tk_keys(1, '')
local keep = {}
for i = 1, #ARGV, 3 do
  keep[ARGV[i]] = true
end
for _, g in ipairs(redis.call('HKEYS', KEYS[7])) do
  if not keep[g] then
    redis.call('HDEL', KEYS[7], g)
    redis.call('ZREM', TK.load, g)
  end
end
for i = 1, #ARGV, 3 do
  local g = ARGV[i]
  redis.call('HSET', KEYS[7], g, ARGV[i + 1])
  if ARGV[i + 2] == '1' then
    redis.call('ZADD', TK.load, tonumber(redis.call('HGET', TK.meta, 'open:' .. g) or '0'), g)
  else
    redis.call('ZREM', TK.load, g)
  end
end
return #ARGV / 3
