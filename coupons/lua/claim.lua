-- Claim one coupon: the whole decision in one atomic call on the campaign's hash tag.
-- KEYS[1] {camp:C}:meta   KEYS[2] {camp:C}:owners (viewer -> codes held)
-- KEYS[3] {camp:C}:codes  (nonce -> JSON code record)   KEYS[4] {camp:C}:idem (viewer|key -> nonce)
-- ARGV[1] room id, ARGV[2] viewer id, ARGV[3] idempotency field ('' = none), ARGV[4] fresh nonce,
-- ARGV[5] now (unix ms)
-- The room's own status lives in another tag: the caller checked it just before; the
-- campaign's status here is closed when the room ends.
-- Returns {'ok', remaining, sold_out_now, dropped_at} | {'dup', nonce} | {'limit', held} |
--         {'sold_out'} | {'expired'} | {'closed'} | {'draft'} | {'missing'} | {'collision'}
local viewer, idem_field, nonce = ARGV[2], ARGV[3], ARGV[4]
if idem_field ~= '' then
  local prior = redis.call('HGET', KEYS[4], idem_field)
  if prior then return {'dup', prior} end
end
local m = redis.call('HMGET', KEYS[1], 'status', 'room_id', 'remaining', 'per_user', 'expires_at', 'dropped_at')
if not m[1] or m[2] ~= ARGV[1] then return {'missing'} end
if m[1] == 'draft' then return {'draft'} end
if m[1] == 'closed' then return {'closed'} end
if m[1] == 'expired' or tonumber(ARGV[5]) >= tonumber(m[5]) then return {'expired'} end
if tonumber(m[3]) <= 0 then return {'sold_out'} end
local held = tonumber(redis.call('HGET', KEYS[2], viewer) or '0')
if held >= tonumber(m[4]) then return {'limit', held} end
local record = cjson.encode({v = viewer, s = 'claimed', c = ARGV[5]})
if redis.call('HSETNX', KEYS[3], nonce, record) == 0 then return {'collision'} end
local remaining = redis.call('HINCRBY', KEYS[1], 'remaining', -1)
redis.call('HINCRBY', KEYS[1], 'claimed', 1)
redis.call('HINCRBY', KEYS[2], viewer, 1)
if idem_field ~= '' then redis.call('HSET', KEYS[4], idem_field, nonce) end
local sold_out_now = 0
if remaining == 0 then
  redis.call('HSET', KEYS[1], 'sold_out_at', ARGV[5])
  sold_out_now = 1
end
return {'ok', remaining, sold_out_now, m[6] or ''}
