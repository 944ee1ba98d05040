-- Cancel a booking, atomically: free the seat, drop the holder, append booking.cancelled,
-- cancel its guide's task (guides/task.lua is prepended).
-- KEYS[1] booking hash   KEYS[2] seats hash of the day   KEYS[3] holders hash of the day
-- KEYS[4] store stream   KEYS[5..10] the task keys (tk_keys)
-- KEYS[11] the store's pending follow-ups (keys.store_follow_ups): "cancelled|<booking>"
--   is recorded there until the room and customer counters are confirmed
-- ARGV[1] booking id   ARGV[2] cancelled_at (ISO)   ARGV[3] booking.cancelled data (msgpack)
-- ARGV[4] now (ms)
-- Returns {'ok', stream id, '1' if the booking's own "created" follow-ups are still
--   pending (a crash on a cluster: the caller counts them first) else '0'}
--   | {'missing'} | {'already'} | {'state', status}
local b = redis.call('HMGET', KEYS[1], 'status', 'slot_ts', 'viewer_id')
if not b[1] then
  return {'missing'}
end
if b[1] == 'cancelled' then
  return {'already'}
end
if b[1] ~= 'confirmed' then
  return {'state', b[1]}
end
local id = redis.call('XADD', KEYS[4], '*', 'v', '1', 'type', 'booking.cancelled',
                      'data', ARGV[3], 'ts', ARGV[4])
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'cancelled_at', ARGV[2],
           'cancelled_stream_id', id)
if redis.call('HINCRBY', KEYS[2], b[2], -1) < 0 then
  redis.call('HSET', KEYS[2], b[2], 0)
end
local holder = b[2] .. ':' .. b[3]
if redis.call('HGET', KEYS[3], holder) == ARGV[1] then
  redis.call('HDEL', KEYS[3], holder)
end
local TK = tk_keys(5, KEYS[4])
local t = tk_read(TK)
if t and TK_OPEN[t.status] then
  tk_set(TK, t, 'cancelled', 'cancelled', 'customer', ARGV[2], ARGV[4])
end
redis.call('ZADD', KEYS[11], ARGV[4], 'cancelled|' .. ARGV[1])
local created = redis.call('ZSCORE', KEYS[11], 'created|' .. ARGV[1]) and '1' or '0'
return {'ok', id, created}
