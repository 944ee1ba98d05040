-- Queue one notice to a group, once (by notice key): the outbox entry and its delivery
-- state in one step on the group's tag.
-- KEYS[1] notices (key -> JSON state)   KEYS[2] outbox stream
-- ARGV[1] notice key   ARGV[2] type   ARGV[3] body (JSON)   ARGV[4] now (ms)
-- Returns {entry id, 1 queued now | 0 queued before}
local prior = redis.call('HGET', KEYS[1], ARGV[1])
if prior then return {cjson.decode(prior).entry_id or '', 0} end
local id = redis.call('XADD', KEYS[2], '*', 'key', ARGV[1], 'type', ARGV[2], 'body', ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(
  {entry_id = id, type = ARGV[2], state = 'queued', attempts = 0, at = tonumber(ARGV[4])}))
return {id, 1}
