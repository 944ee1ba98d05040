-- Claim one coupon: the whole decision in one atomic call on the campaign's hash tag.
-- KEYS[1] {camp:C}:meta   KEYS[2] {camp:C}:owners (viewer -> codes held)
-- KEYS[3] {camp:C}:codes  (nonce -> JSON code record)   KEYS[4] {camp:C}:idem (viewer|key -> nonce)
-- ARGV[1] room id, ARGV[2] viewer id, ARGV[3] idempotency field ('' = none), ARGV[4] fresh nonce,
-- ARGV[5] now (unix ms)
-- KEYS[5] {camp:C}:rate:<viewer>:<window> the viewer's claim counter in this fixed window,
-- ARGV[6] the most claims a viewer may attempt per window, ARGV[7] the window (ms),
-- ARGV[8] '1' the viewer's platform identity is verified, '0' not (a campaign whose
-- identity is 'verified' refuses the latter; absent: treated as verified)
-- ARGV[9] the product on screen in the room at the claim ('' or absent: none), recorded on
-- the code as "p" (attribution to the moment of the broadcast; read by the caller from the
-- room's tag and passed in, so this stays one tag)
-- The room's status lives in another tag and is not read here: ending a room closes its
-- campaigns (finish.lua, reason 'room ended') BEFORE the room itself is marked ended, and
-- a campaign only opens (drop) while its room is live; so an open campaign here means a
-- live room, and a claim costs one round trip.
-- Returns {'ok', remaining, sold_out_now, dropped_at} | {'dup', nonce} | {'limit', held} |
--         {'sold_out'} | {'expired'} | {'closed', reason} | {'draft'} | {'missing'} |
--         {'collision'} | {'rate', retry_ms} | {'identity'}
local viewer, idem_field, nonce = ARGV[2], ARGV[3], ARGV[4]
-- The per-viewer flood guard first (a retried tap counts too): over it, nothing else runs.
local tries = redis.call('INCR', KEYS[5])
if tries == 1 then redis.call('PEXPIRE', KEYS[5], ARGV[7]) end
if tries > tonumber(ARGV[6]) then return {'rate', redis.call('PTTL', KEYS[5])} end
if idem_field ~= '' then
  local prior = redis.call('HGET', KEYS[4], idem_field)
  if prior then return {'dup', prior} end
end
local m = redis.call('HMGET', KEYS[1], 'status', 'room_id', 'remaining', 'per_user', 'expires_at', 'dropped_at', 'finish_reason', 'identity')
if not m[1] or m[2] ~= ARGV[1] then return {'missing'} end
if m[1] == 'draft' then return {'draft'} end
if m[8] == 'verified' and ARGV[8] == '0' then return {'identity'} end
if m[1] == 'closed' then return {'closed', m[7] or ''} end
if m[1] == 'expired' or tonumber(ARGV[5]) >= tonumber(m[5]) then return {'expired'} end
if tonumber(m[3]) <= 0 then return {'sold_out'} end
local held = tonumber(redis.call('HGET', KEYS[2], viewer) or '0')
if held >= tonumber(m[4]) then return {'limit', held} end
local fields = {v = viewer, s = 'claimed', c = ARGV[5]}
if ARGV[9] and ARGV[9] ~= '' then fields.p = ARGV[9] end
local record = cjson.encode(fields)
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
