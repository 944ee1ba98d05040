-- Fire one due task timer, once across every node (guides/task.lua is prepended): the
-- member is removed in the same step as the timer acts; a node that comes second finds
-- nothing to remove and does nothing.
-- KEYS[1..6] task keys (tk_keys)   KEYS[7] store stream   KEYS[8] the booking hash
-- ARGV[1] timer member ("<kind>|<task id>")   ARGV[2] now (ISO)   ARGV[3] now (ms)
-- ARGV[4] accept window (ms)
-- Returns {'gone'} (fired elsewhere) | {'skip', status} (nothing to do any more)
--       | {'reassigned', stream id, new guide, previous guide}
--       | {'overdue', stream id, guide} (not accepted, no other active guide)
--       | {'reminded', stream id, guide} | {'no_show', stream id, guide}
if redis.call('ZREM', KEYS[6], ARGV[1]) == 0 then
  return {'gone'}
end
local TK = tk_keys(1, KEYS[7])
local t = tk_read(TK)
if not t then
  return {'skip', ''}
end
local kind = string.match(ARGV[1], '^(%a+)|')
local at, now = ARGV[2], tonumber(ARGV[3])
if kind == 'accept' then
  if t.status ~= 'assigned' then
    return {'skip', t.status}
  end
  local previous = t.guide_id or ''
  local moved = tk_reassign(TK, t, '', 'not_accepted', 'timer', at, now, tonumber(ARGV[4]))
  if moved then
    return {'reassigned', moved[2], moved[1], previous}
  end
  -- Nobody else to give it to: the manager is told, the guide keeps it (next window).
  redis.call('ZADD', TK.timers, now + tonumber(ARGV[4]), 'accept|' .. t.id)
  local view = tk_view(t, false)
  view.action, view.reason, view.by = 'overdue', 'not_accepted', 'timer'
  return {'overdue', tk_event(TK, 'task.updated', view, now), previous}
end
if not TK_OPEN[t.status] then
  return {'skip', t.status}
end
if kind == 'remind' then
  local view = tk_view(t, true)
  view.action, view.by = 'reminder', 'timer'
  return {'reminded', tk_event(TK, 'task.reminder', view, now), t.guide_id or ''}
end
-- noshow
if redis.call('HGET', KEYS[8], 'status') == 'confirmed' then
  redis.call('HSET', KEYS[8], 'status', 'no_show', 'no_show_at', at)
end
local sid = tk_set(TK, t, 'no_show', 'no_show', 'timer', at, now)
return {'no_show', sid, t.guide_id or ''}
