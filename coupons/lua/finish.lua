-- End claiming: 'expired' (the validity ended) or 'closed' (room ended / host closed it).
-- The stock left is released (remaining -> 0, kept in 'released'); keys get their retention.
-- KEYS[1] meta  KEYS[2] owners  KEYS[3] codes  KEYS[4] idem  KEYS[5] audit  KEYS[6] unappended
-- ARGV[1] 'expired' | 'closed', ARGV[2] now (ms), ARGV[3] retention (ms after expires_at), ARGV[4] reason
-- Returns {'ok', released, room_id} | {'same'} | {'not_yet'} | {'missing'}
local m = redis.call('HMGET', KEYS[1], 'status', 'expires_at', 'remaining', 'room_id')
if not m[1] then return {'missing'} end
local wanted, now = ARGV[1], tonumber(ARGV[2])
if m[1] == 'expired' or m[1] == wanted then return {'same'} end
if wanted == 'expired' and now < tonumber(m[2]) then return {'not_yet'} end
local released = tonumber(m[3])
redis.call('HSET', KEYS[1], 'status', wanted, 'remaining', 0, 'finished_at', ARGV[2], 'finish_reason', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'released', released)
local keep_until = tonumber(m[2]) + tonumber(ARGV[3])
for i = 1, #KEYS do redis.call('PEXPIREAT', KEYS[i], keep_until) end
redis.call('XADD', KEYS[5], '*', 'action', wanted, 'released', released, 'by', ARGV[5] or 'system', 'reason', ARGV[4], 'ts', ARGV[2])
return {'ok', released, m[4]}
