-- Apply one member event of a group, once (by event id): membership, counters and the
-- join-gift decision in one step on the group's tag.
-- KEYS[1] seen   KEYS[2] members   KEYS[3] stats   KEYS[4] gifted   KEYS[5] gifts-pending
-- ARGV[1] event id   ARGV[2] type (member_joined|member_left)   ARGV[3] member id
-- ARGV[4] viewer id ('' = no platform identity)   ARGV[5] name   ARGV[6] at (ms)
-- ARGV[7] '1' the group has a join gift   ARGV[8] gift holder (viewer id or m:<member>)
-- Returns {applied 0|1, membership changed 0|1, gift 0|1, viewer id as recorded}
if redis.call('HSETNX', KEYS[1], ARGV[1], '1') == 0 then
  local raw = redis.call('HGET', KEYS[2], ARGV[3])
  local viewer = ''
  if raw then viewer = cjson.decode(raw).viewer_id or '' end
  return {0, 0, 0, viewer}
end
local raw = redis.call('HGET', KEYS[2], ARGV[3])
local m = {member_id = ARGV[3], viewer_id = '', name = '', status = 'out'}
if raw then m = cjson.decode(raw) end
if ARGV[4] ~= '' then m.viewer_id = ARGV[4] end
if ARGV[5] ~= '' then m.name = ARGV[5] end
local changed, gift = 0, 0
if ARGV[2] == 'member_joined' then
  if m.status ~= 'in' then
    changed = 1
    m.status = 'in'
    m.joined_at = tonumber(ARGV[6])
    redis.call('HINCRBY', KEYS[3], 'members', 1)
    redis.call('HINCRBY', KEYS[3], 'members_joined', 1)
  end
  local holder = ARGV[8]
  if m.viewer_id ~= '' then holder = m.viewer_id end
  if ARGV[7] == '1' and redis.call('HSETNX', KEYS[4], holder, 'pending') == 1 then
    gift = 1
    redis.call('HSET', KEYS[5], holder, ARGV[3])
    redis.call('HINCRBY', KEYS[3], 'gifts_issued', 1)
  end
else
  if m.status == 'in' then
    changed = 1
    m.status = 'out'
    m.left_at = tonumber(ARGV[6])
    redis.call('HINCRBY', KEYS[3], 'members', -1)
    redis.call('HINCRBY', KEYS[3], 'members_left', 1)
  end
end
redis.call('HSET', KEYS[2], ARGV[3], cjson.encode(m))
if m.viewer_id ~= '' then redis.call('HSET', KEYS[2], 'v:' .. m.viewer_id, ARGV[3]) end
return {1, changed, gift, m.viewer_id}
