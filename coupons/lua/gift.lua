-- Issue one gift code to a holder, once ever (a community group's join gift): the whole
-- decision in one call on the campaign's tag.
-- KEYS[1] {camp:C}:meta   KEYS[2] {camp:C}:codes   KEYS[3] {camp:C}:idem (holder -> nonce)
-- ARGV[1] holder ("gift|<viewer id or m:member>")   ARGV[2] fresh nonce   ARGV[3] now (ms)
-- ARGV[4] the code's own expiry (ms; redeem.lua checks it beside the campaign's)
-- Returns {'ok', expires} | {'dup', nonce, expires} | {'missing'} | {'closed'} | {'collision'}
local prior = redis.call('HGET', KEYS[3], ARGV[1])
if prior then
  local rec = cjson.decode(redis.call('HGET', KEYS[2], prior) or '{}')
  return {'dup', prior, tostring(rec.e or '')}
end
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
if status ~= 'open' then return {'closed'} end
local record = cjson.encode({v = ARGV[1], s = 'claimed', c = ARGV[3], e = ARGV[4]})
if redis.call('HSETNX', KEYS[2], ARGV[2], record) == 0 then return {'collision'} end
redis.call('HINCRBY', KEYS[1], 'claimed', 1)
redis.call('HINCRBY', KEYS[1], 'remaining', -1)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return {'ok', ARGV[4]}
