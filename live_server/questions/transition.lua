-- Apply a host action to a question card (pin, answer, dismiss, restore, approve).
-- One hash tag ({room:R}). Only one card is pinned per room: the room meta hash field
-- "pinned" names it; pinning another card returns the previous one to "new".
-- KEYS: 1 card hash, 2 room meta, 3 previously pinned card (KEYS[1] if none),
--       4 outbox stream, 5 card groups set
-- ARGV: 1 action, 2 allowed-from statuses (comma list), 3 target status, 4 now ms,
--       5 expected pinned id ('' none), 6 question id, 7 room id
-- Returns {code, previous status, unpinned id}: code 'ok' | 'noop' | 'refused' | 'missing'
--       | 'stale' (the room's pinned card changed since it was read: retry)
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {'missing', '', ''} end
local target = ARGV[3]
if current == target then return {'noop', current, ''} end
local allowed = false
for s in string.gmatch(ARGV[2], '[^,]+') do
  if s == current then allowed = true end
end
if not allowed then return {'refused', current, ''} end
local pinned = redis.call('HGET', KEYS[2], 'pinned') or ''
if pinned ~= ARGV[5] then return {'stale', current, ''} end

local now, qid = ARGV[4], ARGV[6]
local unpinned = ''
if target == 'pinned' then
  if pinned ~= '' and pinned ~= qid and redis.call('HGET', KEYS[3], 'status') == 'pinned' then
    redis.call('HSET', KEYS[3], 'status', 'new', 'updated_ms', now)
    unpinned = pinned
  end
  redis.call('HSET', KEYS[2], 'pinned', qid)
elseif pinned == qid then
  redis.call('HDEL', KEYS[2], 'pinned')
end
redis.call('HSET', KEYS[1], 'status', target, 'updated_ms', now)
if target == 'new' and current == 'held' then redis.call('HSET', KEYS[1], 'held_reason', '') end

if ARGV[1] == 'answer' then
  redis.call('HSET', KEYS[1], 'answered_ms', now)
  -- One outbox entry per originating group: the answer notice (webhook) to send.
  local text = redis.call('HGET', KEYS[1], 'text')
  local askers = redis.call('HGET', KEYS[1], 'askers')
  local groups = redis.call('SMEMBERS', KEYS[5])
  for _, group in ipairs(groups) do
    redis.call('XADD', KEYS[4], '*', 'v', 1, 'type', 'question.answered', 'question_id', qid,
      'room_id', ARGV[7], 'group_id', group, 'text', text, 'askers', askers,
      'groups', #groups, 'answered_ms', now)
  end
end
return {'ok', current, unpinned}
