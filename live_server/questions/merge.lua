-- A host merges a card into another one of the room (the same question, missed by the
-- matcher). One hash tag ({room:R}); all or nothing. Askers, groups, stores and voters
-- of the card join the target's (set unions: nobody counted twice), and the target's
-- counts are recounted from its sets; the card becomes "merged" with merged_into (its own
-- sets are left as they were, for the record). ingest.lua then answers 'moved' to any
-- merge into it, so later questions that match it land in the target on every worker.
-- A pinned card passes the pin to the target.
-- KEYS: 1 card hash, 2 askers set, 3 groups set, 4 stores set, 5 voters set,
--       6 vote addresses hash, 7 asked hash, 8 target hash, 9 target askers set,
--       10 target groups set, 11 target stores set, 12 target voters set,
--       13 target vote addresses hash, 14 target asked hash, 15 room meta, 16 room stats
-- ARGV: 1 card id, 2 target id, 3 now ms
-- Returns {code, ...}: {'ok', the card's status before, pin passed to the target (1|0)}
--       | {'noop'} (already merged into the target, or where the target went)
--       | {'missing', 'card'|'target'}
--       | {'refused', 'card'|'target', status} (only new or pinned cards merge)
--       | {'moved', id} (the target was merged into that card meanwhile: merge there)
local card = redis.call('HMGET', KEYS[1], 'status', 'merged_into', 'asked_ms')
if not card[1] then return {'missing', 'card'} end
local target = redis.call('HMGET', KEYS[8], 'status', 'merged_into', 'asked_ms')
if card[1] == 'merged' then
  if card[2] == ARGV[2] then return {'noop'} end
  -- a retried merge into a card merged meanwhile: the first one went where that one went
  if target[1] == 'merged' then return {'moved', target[2]} end
  return {'refused', 'card', 'merged'}
end
if not target[1] then return {'missing', 'target'} end
if target[1] == 'merged' then return {'moved', target[2]} end
local open = {new = true, pinned = true}
if not open[card[1]] then return {'refused', 'card', card[1]} end
if not open[target[1]] then return {'refused', 'target', target[1]} end

local now = ARGV[3]
-- The askers' own questions, numbered after the target's askers in their arrival order
-- (a later split of the target takes the last of them first).
local flat = redis.call('HGETALL', KEYS[7])
local records = {}
for i = 1, #flat, 2 do records[#records + 1] = {flat[i], cjson.decode(flat[i + 1])} end
table.sort(records, function(a, b)
  local x, y = tonumber(a[2][1]), tonumber(b[2][1])
  if x ~= y then return x < y end
  return a[1] < b[1]
end)
for _, rec in ipairs(records) do
  if redis.call('SISMEMBER', KEYS[9], rec[1]) == 0 then
    local r = rec[2]
    r[1] = redis.call('HINCRBY', KEYS[8], 'asks', 1)
    redis.call('HSET', KEYS[14], rec[1], cjson.encode(r))
  end
end
redis.call('SUNIONSTORE', KEYS[9], KEYS[9], KEYS[2])
redis.call('SUNIONSTORE', KEYS[10], KEYS[10], KEYS[3])
redis.call('SUNIONSTORE', KEYS[11], KEYS[11], KEYS[4])
redis.call('SUNIONSTORE', KEYS[12], KEYS[12], KEYS[5])
-- the per-address vote caps add up (an upper bound when one viewer voted for both)
local addresses = redis.call('HGETALL', KEYS[6])
for i = 1, #addresses, 2 do redis.call('HINCRBY', KEYS[13], addresses[i], addresses[i + 1]) end

local asked = math.max(tonumber(card[3] or '0') or 0, tonumber(target[3] or '0') or 0)
redis.call('HSET', KEYS[8], 'askers', redis.call('SCARD', KEYS[9]),
  'groups', redis.call('SCARD', KEYS[10]), 'votes', redis.call('SCARD', KEYS[12]),
  'updated_ms', now, 'asked_ms', asked)
recount_sources(KEYS[8], KEYS[9])
redis.call('HSET', KEYS[1], 'status', 'merged', 'merged_into', ARGV[2], 'updated_ms', now)
local pin_passed = 0
if card[1] == 'pinned' then
  if redis.call('HGET', KEYS[15], 'pinned') == ARGV[1] then
    redis.call('HSET', KEYS[15], 'pinned', ARGV[2])
  end
  redis.call('HSET', KEYS[8], 'status', 'pinned')
  pin_passed = 1
end
redis.call('HINCRBY', KEYS[16], 'total:question_cards', -1)
return {'ok', card[1], pin_passed}
