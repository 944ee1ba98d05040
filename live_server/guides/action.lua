-- A person moves a task (guides/task.lua is prepended): accept, contact, no_show, reassign.
-- KEYS[1..6] task keys (tk_keys)   KEYS[7] store stream   KEYS[8] the booking hash
-- ARGV[1] action (accept|contact|no_show|reassign)   ARGV[2] actor role (guide|manager)
-- ARGV[3] actor (guide id, or the manager's subject)   ARGV[4] now (ISO)   ARGV[5] now (ms)
-- ARGV[6] accept window (ms)   ARGV[7] reassign: the guide to give it to ('' = the pick)
-- Returns {'ok', stream id, guide, status, previous guide}
--       | {'same', '', guide, status} (already done: idempotent)
--       | {'missing'} | {'inactive'} (the acting guide is not active here)
--       | {'forbidden', guide} (another guide's task) | {'state', status, guide}
--       | {'early', slot_ts} (no-show before the slot) | {'none'} (no other active guide)
local TK = tk_keys(1, KEYS[7])
local t = tk_read(TK)
if not t then
  return {'missing'}
end
local action, role, actor, at, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
if role == 'guide' and not redis.call('ZSCORE', TK.load, actor) then
  return {'inactive'}
end
local previous = t.guide_id or ''
local by = role == 'guide' and actor or role
if action == 'accept' then
  if t.status == 'accepted' and t.guide_id == actor then
    return {'same', '', t.guide_id, t.status}
  end
  if t.status ~= 'assigned' then
    return {'state', t.status, t.guide_id or ''}
  end
  if role == 'guide' and t.guide_id ~= actor then
    -- Not yet accepted: any active guide of the store may take it (the first accept wins).
    tk_load(TK, t.guide_id, -1)
    tk_load(TK, actor, 1)
    t.guide_id = actor
    redis.call('HSET', TK.task, 'guide_id', actor)
  end
  local sid = tk_set(TK, t, 'accepted', 'accept', by, at, now, {previous_guide_id = previous})
  return {'ok', sid, t.guide_id, t.status, previous}
end
if role == 'guide' and t.guide_id ~= actor then
  return {'forbidden', t.guide_id or ''}
end
if action == 'contact' then
  if t.status == 'contacted' then
    return {'same', '', t.guide_id, t.status}
  end
  if t.status ~= 'assigned' and t.status ~= 'accepted' then
    return {'state', t.status, t.guide_id or ''}
  end
  local sid = tk_set(TK, t, 'contacted', 'contact', by, at, now)
  return {'ok', sid, t.guide_id, t.status, previous}
end
if action == 'no_show' then
  if t.status == 'no_show' then
    return {'same', '', t.guide_id, t.status}
  end
  if not TK_OPEN[t.status] then
    return {'state', t.status, t.guide_id or ''}
  end
  if now < tonumber(t.slot_ts) * 1000 then
    return {'early', t.slot_ts}
  end
  if redis.call('HGET', KEYS[8], 'status') == 'confirmed' then
    redis.call('HSET', KEYS[8], 'status', 'no_show', 'no_show_at', at)
  end
  local sid = tk_set(TK, t, 'no_show', 'no_show', by, at, now)
  return {'ok', sid, t.guide_id, t.status, previous}
end
-- reassign (the caller checked the role)
if not TK_OPEN[t.status] then
  return {'state', t.status, t.guide_id or ''}
end
if ARGV[7] ~= '' and not redis.call('ZSCORE', TK.load, ARGV[7]) then
  return {'inactive'}
end
t.info = redis.call('HGET', TK.task, 'info')
local moved = tk_reassign(TK, t, ARGV[7], 'manager', by, at, now, tonumber(ARGV[6]))
if not moved then
  return {'none'}
end
return {'ok', moved[2], moved[1], 'assigned', previous}
