-- Book one seat of a slot, atomically; every key carries the store's tag {store:S}.
-- KEYS[1] seats hash of the day   KEYS[2] holders hash of the day   KEYS[3] booking hash
-- KEYS[4] idempotency hash        KEYS[5] store stream
-- ARGV[1] slot_ts   ARGV[2] capacity   ARGV[3] viewer id   ARGV[4] booking id
-- ARGV[5] request fingerprint ('' = no Idempotency-Key)   ARGV[6] response JSON
-- ARGV[7] booking.created data (msgpack)   ARGV[8] now (ms)   ARGV[9] idempotency TTL (s)
-- ARGV[10] expire-at (unix s) of the booking   ARGV[11] expire-at of the day's hashes (the
-- same for every slot of the day: set when a slot takes its first seat)
-- ARGV[12..] booking hash field, value pairs
-- Returns {'ok', seats taken, stream id} | {'dup', booking id, fingerprint, response}
--       | {'held', booking id} | {'full', seats taken}
if ARGV[5] ~= '' then
  local prior = redis.call('HMGET', KEYS[4], 'booking_id', 'fingerprint', 'response')
  if prior[1] then
    return {'dup', prior[1], prior[2], prior[3]}
  end
end
local holder = ARGV[1] .. ':' .. ARGV[3]
local held = redis.call('HGET', KEYS[2], holder)
if held then
  return {'held', held}
end
local taken = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if taken >= tonumber(ARGV[2]) then
  return {'full', tostring(taken)}
end
-- The append goes first: if it fails, nothing else has been written.
local id = redis.call('XADD', KEYS[5], '*', 'v', '1', 'type', 'booking.created',
                      'data', ARGV[7], 'ts', ARGV[8])
taken = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HSET', KEYS[2], holder, ARGV[4])
redis.call('HSET', KEYS[3], 'created_stream_id', id, unpack(ARGV, 12))
redis.call('EXPIREAT', KEYS[3], ARGV[10])
if taken == 1 then
  redis.call('EXPIREAT', KEYS[1], ARGV[11])
  redis.call('EXPIREAT', KEYS[2], ARGV[11])
end
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[4], 'booking_id', ARGV[4], 'fingerprint', ARGV[5], 'response', ARGV[6])
  redis.call('EXPIRE', KEYS[4], ARGV[9])
end
return {'ok', tostring(taken), id}
