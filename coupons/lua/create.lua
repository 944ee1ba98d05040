-- Create a campaign's meta hash unless the id is taken (ids are random; a clash is retried).
-- KEYS[1] {camp:C}:meta
-- ARGV[1] expire-at (unix ms, when every key of the campaign may go), ARGV[2..] field, value...
-- Returns 1 created, 0 the id exists.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local fields = {}
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
