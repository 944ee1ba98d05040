-- May this worker send a counter's value now? At most one send per gate period per room and
-- counter across workers, never a value below one already sent (counts only grow).
-- KEYS[1] the gate (string, PX), KEYS[2] the last value sent (string)
-- ARGV[1] gate ms, ARGV[2] the value
-- Returns 1: send it; 0: a value as high was already sent (drop it); -1: not now (retry).
local last = tonumber(redis.call('GET', KEYS[2]) or '-1')
if tonumber(ARGV[2]) <= last then return 0 end
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return -1 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', 86400000)
return 1
