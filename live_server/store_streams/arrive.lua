-- Check a booking in at its store: mark it arrived and append booking.arrived to the
-- store stream, mark its guide's task arrived (that guide served the customer last),
-- atomically (every key carries the {store:S} tag; guides/task.lua is prepended).
-- Idempotent.
-- KEYS[1] booking hash   KEYS[2] store stream   KEYS[3..8] the task keys (tk_keys)
-- KEYS[9] the store's pending follow-ups (keys.store_follow_ups): a first check-in records
--   "arrived|<booking>" there (and its guide as the booking's arrived_guide field) until
--   the room, leaderboard and customer counters are confirmed
-- ARGV[1] booking id  ARGV[2] store id  ARGV[3] arrived_at (ISO-8601)  ARGV[4] now (ms)
-- ARGV[5] staff subject
-- Returns {code, arrived_at, stream id, room_id, viewer_id, guide id, slot_ts}:
--   code 1 arrived now, 0 had already arrived, -1 no such booking here, -2 cancelled.
local booking = redis.call('HGETALL', KEYS[1])
if #booking == 0 then
  return {-1, '', '', '', '', '', ''}
end
local b = {}
for i = 1, #booking, 2 do
  b[booking[i]] = booking[i + 1]
end
if b['store_id'] and b['store_id'] ~= ARGV[2] then
  return {-1, '', '', '', '', '', ''}
end
local room, viewer = b['room_id'] or '', b['viewer_id'] or ''
local TK = tk_keys(3, KEYS[2])
local guide = redis.call('HGET', TK.task, 'guide_id') or ''
if b['status'] == 'cancelled' then
  return {-2, '', '', room, viewer, guide, b['slot_ts'] or '0'}
end
if b['status'] == 'arrived' then
  return {0, b['arrived_at'] or '', b['arrived_stream_id'] or '', room, viewer, guide,
          b['slot_ts'] or '0'}
end
local data = {
  booking_id = ARGV[1], store_id = ARGV[2], room_id = room, viewer_id = viewer,
  slot = b['slot'] or '', service = b['service'] or '', status = 'arrived',
  arrived_at = ARGV[3], checked_in_by = ARGV[5],
}
local id = redis.call('XADD', KEYS[2], '*', 'v', '1', 'type', 'booking.arrived',
                      'data', cmsgpack.pack(data), 'ts', ARGV[4])
redis.call('HSET', KEYS[1], 'status', 'arrived', 'arrived_at', ARGV[3],
           'arrived_stream_id', id, 'arrived_guide', guide)
redis.call('ZADD', KEYS[9], ARGV[4], 'arrived|' .. ARGV[1])
local t = tk_read(TK)
if t and t.status ~= 'arrived' and t.status ~= 'cancelled' then
  if t.status == 'no_show' then  -- late, but here: no longer a no-show
    tk_load(TK, t.guide_id, 1)
  end
  tk_set(TK, t, 'arrived', 'arrive', ARGV[5], ARGV[3], ARGV[4])
  if guide ~= '' and viewer ~= '' then
    redis.call('HSET', TK.of, viewer, guide)
  end
end
return {1, ARGV[3], id, room, viewer, guide, b['slot_ts'] or '0'}
