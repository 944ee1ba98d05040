-- Open claiming: draft -> open, once.
-- KEYS[1] {camp:C}:meta ; ARGV[1] room id (must match), ARGV[2] now (unix ms)
-- Returns {'ok'} | {'already'} | {'missing'} | {<other status>}
local m = redis.call('HMGET', KEYS[1], 'status', 'room_id', 'expires_at')
if not m[1] or m[2] ~= ARGV[1] then return {'missing'} end
if m[1] == 'open' then return {'already'} end
if m[1] ~= 'draft' then return {m[1]} end
if tonumber(ARGV[2]) >= tonumber(m[3]) then return {'expired'} end
redis.call('HSET', KEYS[1], 'status', 'open', 'dropped_at', ARGV[2])
return {'ok'}
