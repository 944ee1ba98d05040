-- Redeem one code at a store, once.
-- KEYS[1] {camp:C}:meta  KEYS[2] {camp:C}:codes  KEYS[3] {camp:C}:unappended (redemptions whose
-- store-stream entry is not confirmed yet; the follow-up removes them)
-- ARGV[1] nonce, ARGV[2] store id, ARGV[3] now (unix ms), ARGV[4] order amount ('' = none),
-- ARGV[5] '1' when the caller checked the viewer's booking store, ARGV[6] staff subject
-- Returns {'ok', viewer, claimed_at, redemption_no, title, kind, value, room_id, room_title}
--   | {'already', redeemed_at, store} | {'void', voided_at} | {'expired', expires_at}
--   | {'not_yet', valid_from} | {'wrong_store'} | {'check_booking', viewer}
--   | {'amount_required', min_spend} | {'below_min', min_spend} | {'unknown'}
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {'unknown'} end
local rec = cjson.decode(raw)
if rec.s == 'void' then return {'void', rec.x or ''} end
if rec.s == 'redeemed' then return {'already', rec.r, rec.st} end
local m = redis.call('HMGET', KEYS[1], 'status', 'expires_at', 'valid_from', 'store_mode', 'stores',
  'min_spend', 'title', 'kind', 'value', 'room_id', 'room_title')
if not m[1] then return {'unknown'} end
local now = tonumber(ARGV[3])
if m[1] == 'expired' or now >= tonumber(m[2]) then return {'expired', m[2]} end
-- a gift code (a group's join gift) carries its own expiry, "e"
if rec.e and rec.e ~= '' and now >= tonumber(rec.e) then return {'expired', rec.e} end
if m[3] and m[3] ~= '' and now < tonumber(m[3]) then return {'not_yet', m[3]} end
if m[4] == 'list' then
  if not string.find(m[5], ',' .. ARGV[2] .. ',', 1, true) then return {'wrong_store'} end
elseif m[4] == 'booking_store' and ARGV[5] ~= '1' then
  return {'check_booking', rec.v}
end
if m[6] and m[6] ~= '' then
  if ARGV[4] == '' then return {'amount_required', m[6]} end
  if tonumber(ARGV[4]) < tonumber(m[6]) then return {'below_min', m[6]} end
end
rec.s = 'redeemed'
rec.r = ARGV[3]
rec.st = ARGV[2]
rec.by = ARGV[6]
rec.n = (rec.n or 0) + 1
if ARGV[4] ~= '' then rec.a = ARGV[4] else rec.a = nil end
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(rec))
redis.call('HINCRBY', KEYS[1], 'redeemed', 1)
redis.call('SADD', KEYS[3], ARGV[1] .. ':' .. rec.n)
return {'ok', rec.v, rec.c, rec.n, m[7], m[8], m[9], m[10], m[11] or ''}
