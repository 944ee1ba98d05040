-- Retention of one store stream: trim entries older than the age cutoff, but never one a
-- consumer group still needs (pending in it, or not yet delivered to it).
-- KEYS[1] store stream   KEYS[2] dead-letter stream (same tag)
-- ARGV[1] age cutoff id (<ms>-0)   ARGV[2] "~" for approximate trimming, "=" for exact
-- Returns {entries trimmed, the MINID used}.
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
local function successor(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return ms .. '-' .. tostring(tonumber(seq) + 1)
end

local floor = ARGV[1]
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('XTRIM', KEYS[2], 'MINID', ARGV[2], floor)
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {0, floor}
end
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #group, 2 do
    info[group[i]] = group[i + 1]
  end
  -- not yet delivered to this group: everything after last-delivered-id
  local keep = successor(info['last-delivered-id'])
  if tonumber(info['pending']) > 0 then
    local summary = redis.call('XPENDING', KEYS[1], info['name'])
    if summary[2] and less(summary[2], keep) then
      keep = summary[2]
    end
  end
  if less(keep, floor) then
    floor = keep
  end
end
local trimmed = redis.call('XTRIM', KEYS[1], 'MINID', ARGV[2], floor)
return {trimmed, floor}
