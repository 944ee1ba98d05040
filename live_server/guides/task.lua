-- Tasks of store guides: the library every script that moves a task starts with (book.lua,
-- cancel.lua, arrive.lua, action.lua, fire.lua are composed as this file + their own).
-- Every key here carries the store's tag {store:S} (live_server/core/keys.py, "guides").
--
-- TK is the task keys table the caller builds from its KEYS:
--   TK.task   task hash              TK.tasks  store's tasks by slot (sorted set)
--   TK.load   active guides by load  TK.meta   open counts ('open:<g>') and 'rr'
--   TK.of     viewer -> guide        TK.timers task timers (sorted set, ms)
--   TK.stream the store stream
-- Open statuses: assigned, accepted, contacted. Final: arrived, no_show, cancelled.

local TK_OPEN = {assigned = true, accepted = true, contacted = true}

local function tk_keys(first, stream)
  return {
    task = KEYS[first], tasks = KEYS[first + 1], load = KEYS[first + 2],
    meta = KEYS[first + 3], of = KEYS[first + 4], timers = KEYS[first + 5], stream = stream,
  }
end

-- Add delta to a guide's open tasks; the load set follows for active guides.
local function tk_load(TK, guide, delta)
  if not guide or guide == '' then
    return
  end
  local n = redis.call('HINCRBY', TK.meta, 'open:' .. guide, delta)
  if n < 0 then
    redis.call('HSET', TK.meta, 'open:' .. guide, 0)
    n = 0
  end
  if redis.call('ZSCORE', TK.load, guide) then
    redis.call('ZADD', TK.load, n, guide)
  end
end

-- The guide for a task: the first of `preferred` who is active (served the customer last,
-- owns their group), else the active guide with fewest open tasks, ties in turn
-- (round-robin over guide ids). Never `exclude`. '' when no guide is active.
local function tk_pick(TK, preferred, exclude)
  for _, g in ipairs(preferred) do
    if g and g ~= '' and g ~= exclude and redis.call('ZSCORE', TK.load, g) then
      return g
    end
  end
  local all = redis.call('ZRANGE', TK.load, 0, -1, 'WITHSCORES')
  local lowest, ties = nil, {}
  for i = 1, #all, 2 do
    local g, n = all[i], tonumber(all[i + 1])
    if g ~= exclude then
      if lowest == nil or n < lowest then
        lowest, ties = n, {g}
      elseif n == lowest then
        ties[#ties + 1] = g
      end
    end
  end
  if #ties == 0 then
    return ''
  end
  local last = redis.call('HGET', TK.meta, 'rr') or ''
  local chosen = ties[1]
  for _, g in ipairs(ties) do  -- ZRANGE orders ties by id: the next one after the last
    if g > last then
      chosen = g
      break
    end
  end
  redis.call('HSET', TK.meta, 'rr', chosen)
  return chosen
end

local function tk_event(TK, kind, data, now_ms)
  return redis.call('XADD', TK.stream, '*', 'v', '1', 'type', kind,
                    'data', cmsgpack.pack(data), 'ts', now_ms)
end

-- The task's public fields, as the stream carries them (customer only when asked).
local function tk_view(t, with_customer)
  local v = {
    task_id = t.id, booking_id = t.booking_id, store_id = t.store_id, room_id = t.room_id,
    viewer_id = t.viewer_id, guide_id = t.guide_id, status = t.status,
    priority = tonumber(t.priority), due_at = t.due_at, slot_ts = tonumber(t.slot_ts),
    created_at = t.created_at, updated_at = t.updated_at,
    accept_by = tonumber(t.accept_by or '0'), reassigned = tonumber(t.reassigned or '0'),
    service_name = t.service_name,
  }
  if with_customer and t.customer then
    v.customer = cmsgpack.unpack(t.customer)
  end
  return v
end

local function tk_read(TK)
  local raw = redis.call('HGETALL', TK.task)
  if #raw == 0 then
    return nil
  end
  local t = {}
  for i = 1, #raw, 2 do
    t[raw[i]] = raw[i + 1]
  end
  return t
end

-- Create the task of a booking. `p` is the caller's msgpack map (guides/models.py,
-- task_plan): id, viewer_id, owner (the guide owning the customer's group, or ''),
-- priority (the slot's part), now_ms, accept_ms, remind_ms, noshow_ms, slot_ts, expire_at,
-- fields (the task hash's fixed fields, name/value pairs), info (msgpack: room, product,
-- talking points), event and event_n (the task.assigned map's fixed entries, msgpack,
-- and how many). `customer` is the context
-- (msgpack bytes), `value` its part of the priority. Returns guide id, priority and the
-- task.assigned stream id.
local function tk_create(TK, p, customer, value)
  local guide = tk_pick(TK, {redis.call('HGET', TK.of, p.viewer_id), p.owner}, '')
  local priority = math.min(100, p.priority + value)
  local accept_by = p.now_ms + p.accept_ms
  redis.call('HSET', TK.task, 'guide_id', guide, 'status', 'assigned', 'priority', priority,
             'accept_by', accept_by, 'reassigned', 0, 'customer', customer, 'info', p.info,
             unpack(p.fields))
  redis.call('EXPIREAT', TK.task, p.expire_at)
  redis.call('ZADD', TK.tasks, p.slot_ts, p.id)
  if guide ~= '' then  -- picked from the load set: it is active, its score its open count
    redis.call('HINCRBY', TK.meta, 'open:' .. guide, 1)
    redis.call('ZINCRBY', TK.load, 1, guide)
  end
  if p.remind_ms > p.now_ms then
    redis.call('ZADD', TK.timers, accept_by, 'accept|' .. p.id, p.remind_ms, 'remind|' .. p.id,
               p.noshow_ms, 'noshow|' .. p.id)
  else
    redis.call('ZADD', TK.timers, accept_by, 'accept|' .. p.id, p.noshow_ms, 'noshow|' .. p.id)
  end
  local pack = cmsgpack.pack
  local n = p.event_n + 5
  local head = n < 16 and string.char(128 + n) or ('\222' .. string.char(math.floor(n / 256), n % 256))
  local data = head .. p.event .. pack('guide_id') .. pack(guide) .. pack('priority')
    .. pack(priority) .. pack('accept_by') .. pack(accept_by) .. pack('customer') .. customer
    .. pack('info') .. p.info
  local sid = redis.call('XADD', TK.stream, '*', 'v', '1', 'type', 'task.assigned',
                         'data', data, 'ts', p.now_ms)
  return {guide, priority, sid}
end

local function tk_clear_timers(TK, id)
  redis.call('ZREM', TK.timers, 'accept|' .. id, 'remind|' .. id, 'noshow|' .. id)
end

-- Move a task to `status` (a final status also frees the guide's slot); appends
-- task.updated. Returns the stream id.
local function tk_set(TK, t, status, action, by, at, now_ms, extra)
  local was_open = TK_OPEN[t.status]
  t.status, t.updated_at = status, at
  redis.call('HSET', TK.task, 'status', status, 'updated_at', at)
  if was_open and not TK_OPEN[status] then
    tk_load(TK, t.guide_id, -1)
    tk_clear_timers(TK, t.id)
  end
  if status ~= 'assigned' then
    redis.call('ZREM', TK.timers, 'accept|' .. t.id)
  end
  local view = tk_view(t, false)
  view.action, view.by = action, by
  if extra then
    for k, v in pairs(extra) do
      view[k] = v
    end
  end
  return tk_event(TK, 'task.updated', view, now_ms)
end

-- Give the task to another guide (`to`, or the pick without the current one); a new accept
-- window starts. Returns {new guide, stream id} or nil when no other guide is active.
local function tk_reassign(TK, t, to, reason, by, at, now_ms, accept_ms)
  local previous = t.guide_id or ''
  local guide = to
  if guide == '' then
    guide = tk_pick(TK, {}, previous)
  end
  if guide == '' or guide == previous then
    return nil
  end
  if TK_OPEN[t.status] then
    tk_load(TK, previous, -1)
  end
  tk_load(TK, guide, 1)
  local accept_by = now_ms + accept_ms
  t.guide_id, t.status, t.updated_at, t.accept_by = guide, 'assigned', at, accept_by
  t.reassigned = tonumber(t.reassigned or '0') + 1
  redis.call('HSET', TK.task, 'guide_id', guide, 'status', 'assigned', 'updated_at', at,
             'accept_by', accept_by, 'reassigned', t.reassigned)
  redis.call('ZADD', TK.timers, accept_by, 'accept|' .. t.id)
  local view = tk_view(t, true)
  view.previous_guide_id, view.reason, view.by, view.action = previous, reason, by, 'reassigned'
  view.info = t.info and cmsgpack.unpack(t.info) or nil
  return {guide, tk_event(TK, 'task.assigned', view, now_ms)}
end
