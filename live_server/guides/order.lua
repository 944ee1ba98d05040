-- Record one sale at a store, idempotent by order id (all keys on the store's tag).
-- KEYS[1] order hash   KEYS[2] the booking hash ('' booking: any key of the tag)
-- KEYS[3] the booking's task hash   KEYS[4] store stream
-- ARGV[1] order id   ARGV[2] amount (cents)   ARGV[3] booking id ('' = none)
-- ARGV[4] coupon code   ARGV[5] viewer id   ARGV[6] store share (0..1)   ARGV[7] now (ISO)
-- ARGV[8] now (ms)   ARGV[9] request fingerprint   ARGV[10] room id known otherwise ('')
-- ARGV[11] expire-at (unix s)
-- Returns {'new', guide, room, viewer, store cents, live cents, stream id}
--       | {'dup', fingerprint, response fields...} | {'nobooking'} | {'otherviewer'}
local prior = redis.call('HGETALL', KEYS[1])
if #prior > 0 then
  return {'dup', unpack(prior)}
end
local guide, room, viewer = '', ARGV[10], ARGV[5]
if ARGV[3] ~= '' then
  local b = redis.call('HMGET', KEYS[2], 'room_id', 'viewer_id', 'status')
  if not b[1] then
    return {'nobooking'}
  end
  if viewer ~= '' and b[2] and viewer ~= b[2] then
    return {'otherviewer'}  -- the sale would be credited to someone who did not book
  end
  room, viewer = b[1], b[2] or viewer
  guide = redis.call('HGET', KEYS[3], 'guide_id') or ''
end
local cents = tonumber(ARGV[2])
local store_cents = math.floor(cents * tonumber(ARGV[6]) + 0.5)
local live_cents = room ~= '' and (cents - store_cents) or 0
if room == '' then
  store_cents = cents  -- no live room behind the sale: all of it is the store's
end
local sid = redis.call('XADD', KEYS[4], '*', 'v', '1', 'type', 'order.recorded', 'data',
  cmsgpack.pack({order_id = ARGV[1], amount = cents / 100, booking_id = ARGV[3],
                 coupon_code = ARGV[4], viewer_id = viewer, room_id = room, guide_id = guide,
                 store_credit = store_cents / 100, live_credit = live_cents / 100,
                 recorded_at = ARGV[7]}), 'ts', ARGV[8])
redis.call('HSET', KEYS[1], 'order_id', ARGV[1], 'amount_cents', cents, 'booking_id', ARGV[3],
           'coupon_code', ARGV[4], 'viewer_id', viewer, 'room_id', room, 'guide_id', guide,
           'store_cents', store_cents, 'live_cents', live_cents, 'recorded_at', ARGV[7],
           'fingerprint', ARGV[9], 'stream_id', sid)
redis.call('EXPIREAT', KEYS[1], ARGV[11])
return {'new', guide, room, viewer, store_cents, live_cents, sid}
