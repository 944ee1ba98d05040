-- One upvote per viewer per question, bounded per viewer (rate) and per client address.
-- KEYS: 1 card hash, 2 voters set, 3 viewer vote-rate key, 4 per-address counts hash
-- ARGV: 1 viewer id, 2 address, 3 rate limit, 4 rate window ms, 5 per-address cap
-- Returns {code, votes, pttl}: 'ok' | 'again' (already voted) | 'missing'
--       | 'hidden' (held, dismissed, or merged into another card)
--       | 'rl' (viewer rate) | 'ip' (this address has voted enough for this card)
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing', 0, 0} end
local votes = tonumber(redis.call('HGET', KEYS[1], 'votes') or '0')
if status == 'held' or status == 'dismissed' or status == 'merged' then
  return {'hidden', votes, 0}
end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return {'again', votes, 0} end
local n = tonumber(redis.call('GET', KEYS[3]) or '0')
if n >= tonumber(ARGV[3]) then return {'rl', votes, redis.call('PTTL', KEYS[3])} end
if tonumber(redis.call('HGET', KEYS[4], ARGV[2]) or '0') >= tonumber(ARGV[5]) then
  return {'ip', votes, 0}
end
if redis.call('INCR', KEYS[3]) == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[4]) end
redis.call('HINCRBY', KEYS[4], ARGV[2], 1)
redis.call('SADD', KEYS[2], ARGV[1])
votes = redis.call('HINCRBY', KEYS[1], 'votes', 1)
return {'ok', votes, 0}
