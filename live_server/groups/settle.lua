-- Record one delivery attempt of a group notice: its state, and for a final outcome the
-- ack (and the dead letter), in one step on the group's tag.
-- KEYS[1] outbox stream   KEYS[2] notices   KEYS[3] dead letters
-- ARGV[1] entry id   ARGV[2] notice key   ARGV[3] outcome (delivered|skipped|retrying|dead)
-- ARGV[4] attempts   ARGV[5] error ('' none)   ARGV[6] now (ms)   ARGV[7] type   ARGV[8] body
-- ARGV[9] the outbox's consumer group
local raw = redis.call('HGET', KEYS[2], ARGV[2])
local s = {entry_id = ARGV[1], type = ARGV[7]}
if raw then s = cjson.decode(raw) end
s.state, s.attempts, s.at = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[6])
if ARGV[5] ~= '' then s.error = ARGV[5] else s.error = nil end
redis.call('HSET', KEYS[2], ARGV[2], cjson.encode(s))
if ARGV[3] == 'retrying' then return 0 end
if ARGV[3] == 'dead' then
  redis.call('XADD', KEYS[3], '*', 'key', ARGV[2], 'type', ARGV[7], 'body', ARGV[8],
    'entry_id', ARGV[1], 'attempts', ARGV[4], 'last_error', ARGV[5], 'dead_ms', ARGV[6])
end
return redis.call('XACK', KEYS[1], ARGV[9], ARGV[1])
