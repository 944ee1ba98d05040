-- Record in the code that its redemption reached the store stream (the follow-up is done).
-- KEYS[1] {camp:C}:codes  KEYS[2] {camp:C}:unappended
-- ARGV[1] nonce, ARGV[2] redemption number, ARGV[3] stream id
redis.call('SREM', KEYS[2], ARGV[1] .. ':' .. ARGV[2])
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local rec = cjson.decode(raw)
if tostring(rec.n) == ARGV[2] and rec.s == 'redeemed' then
  rec.sa = ARGV[3]
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(rec))
end
return 1
