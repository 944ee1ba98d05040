-- Atomically move a room to a new status if the transition is allowed.
-- KEYS[1] room meta hash; ARGV[1] wanted status; ARGV[2] allowed-from statuses (comma list);
-- ARGV[3] timestamp field to set; ARGV[4] ISO timestamp.
-- Returns {ok, current_status}: ok=1 moved, 0 refused, -1 no such room.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {-1, ''} end
if status == ARGV[1] then return {2, status} end
for allowed in string.gmatch(ARGV[2], '[^,]+') do
  if allowed == status then
    redis.call('HSET', KEYS[1], 'status', ARGV[1], ARGV[3], ARGV[4])
    return {1, status}
  end
end
return {0, status}
