-- The room's engagement counters, for the one worker that may send room.engagement now.
-- KEYS[1] the room's gate (string, PX), KEYS[2] room stats. ARGV[1] gate ms, ARGV[2..] fields.
-- Returns the fields' values, or false when another send took this second.
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return false end
local fields = {}
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
return redis.call('HMGET', KEYS[2], unpack(fields))
