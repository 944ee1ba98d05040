-- Append coupon.redeemed to the store's stream at most once per redemption (idempotent
-- follow-up of redeem.lua, which ran in the campaign's tag).
-- KEYS[1] {store:S}:events  KEYS[2] {store:S}:coupon-appends (redemption key -> stream id)
-- ARGV[1] redemption key (<campaign>:<nonce>:<n>), ARGV[2] msgpack data, ARGV[3] ts (ms)
-- Returns the stream id (the earlier one on a retry).
local prior = redis.call('HGET', KEYS[2], ARGV[1])
if prior then return prior end
local id = redis.call('XADD', KEYS[1], '*', 'v', '1', 'type', 'coupon.redeemed', 'data', ARGV[2], 'ts', ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], id)
return id
